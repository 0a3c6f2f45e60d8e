import type { EachBatchPayload, Kafka } from "kafkajs";
import type { Logger } from "../logger.js";
import { consumerLag, observeConsumerDelay } from "../metrics.js";
import type { LogRecord, SubscribeOptions, Subscription } from "./log.js";
import { toLogRecord } from "./log.kafka.client.js";
import { OffsetCommits } from "./log.kafka.commits.js";
import { GroupMember, type GroupMembers } from "./log.kafka.member.js";

export interface ConsumerSettings {
  /** Kafka's names (with the deployment's prefix); the options carry the role's names. */
  groupId: string;
  topicName: string;
  sessionTimeoutMs: number;
  partitionsConsumedConcurrently: number;
  /** Bound on joining the group at start (see GroupMember). */
  startTimeoutMs: number;
}

const MAX_BACKOFF_MS = 5000;

/**
 * One consumer-group member. Offsets are committed by hand, only for records the handler resolved
 * for, and at most every COMMIT_INTERVAL_MS (see OffsetCommits); a failing handler is called again
 * with the same records (bounded backoff) until it succeeds, the member is stopped, or a rebalance
 * gives the partition away — in the last two cases nothing is committed, so whoever consumes the
 * partition next gets them again.
 * It resolves once the member has joined its group, or fails naming the group (see GroupMember).
 */
export async function startConsumer(
  kafka: Kafka,
  settings: ConsumerSettings,
  options: SubscribeOptions,
  members: GroupMembers,
  logger: Logger,
): Promise<Subscription> {
  const { group, topic, handler } = options;
  const maxBatch = options.maxBatch ?? 500;
  const member = new GroupMember(
    kafka,
    {
      groupId: settings.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(settings.sessionTimeoutMs / 10)),
      ...fetchWait(options.batchWaitMs ?? 0),
    },
    `consumer group ${settings.groupId}`,
    members,
    logger,
  );
  const { consumer } = member;
  const commits = new OffsetCommits(consumer, settings.topicName, (err) =>
    logger.warn({ err, group, topic }, "committing consumer offsets failed; the next commit carries them"),
  );
  let stopping = false;
  const inProgress = new Set<Promise<void>>();
  const lagByPartition = new Map<number, number>();

  const deliver = async (records: LogRecord[], payload: EachBatchPayload): Promise<boolean> => {
    const active = () => !stopping && payload.isRunning() && !payload.isStale();
    for (let failures = 0; ; failures++) {
      if (!active()) return false;
      try {
        await handler(records);
        return true;
      } catch (err) {
        logger.error(
          { err, group, topic, partition: payload.batch.partition, offset: String(records[0]?.offset) },
          "log consumer failed; retrying batch",
        );
      }
      const until = Date.now() + Math.min(MAX_BACKOFF_MS, 50 * 2 ** (failures + 1));
      while (active() && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await payload.heartbeat();
      }
    }
  };

  const processBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    const records = batch.messages.map((m) => toLogRecord(topic, batch.partition, m));
    for (let i = 0; i < records.length; i += maxBatch) {
      const chunk = records.slice(i, i + maxBatch);
      if (!(await deliver(chunk, payload))) return;
      const last = (chunk[chunk.length - 1] as LogRecord).offset;
      commits.mark(batch.partition, last + 1n);
      payload.resolveOffset(String(last));
      observeConsumerDelay(
        group,
        topic,
        chunk.map((r) => r.timestamp),
      );
      lagByPartition.set(batch.partition, Number(BigInt(batch.highWatermark) - last - 1n));
      consumerLag.set(
        { group, topic },
        [...lagByPartition.values()].reduce((a, b) => a + b, 0),
      );
      await payload.heartbeat();
    }
  };

  await member.start(
    settings.topicName,
    {
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: settings.partitionsConsumedConcurrently,
      eachBatch: async (payload) => {
        if (stopping) return;
        const work = processBatch(payload);
        inProgress.add(work);
        try {
          await work;
        } finally {
          inProgress.delete(work);
        }
      },
    },
    settings.startTimeoutMs,
  );

  return {
    async stop() {
      stopping = true;
      // kafkajs skips commits once its consumer is stopping: let the batch in progress finish and
      // commit what is processed first.
      await Promise.allSettled([...inProgress]);
      await commits.close();
      await member.stop();
    },
  };
}

/**
 * How a fetch waits. Without a batch wait, a long poll that ends as soon as any record arrives (500 ms
 * bounds how long a stop waits for one). With one, Kafka holds the fetch until the wait has passed
 * or a mebibyte has gathered.
 */
function fetchWait(batchWaitMs: number): { maxWaitTimeInMs: number; minBytes: number } {
  if (batchWaitMs <= 0) return { maxWaitTimeInMs: 500, minBytes: 1 };
  return { maxWaitTimeInMs: batchWaitMs, minBytes: 1024 * 1024 };
}
