import { type Admin, type Kafka, Partitioners, type PartitionMetadata } from "kafkajs";
import type { Logger } from "../logger.js";
import { logAppendDuration } from "../metrics.js";
import {
  type AppendResult,
  type LogRecord,
  type MessageLog,
  type NewRecord,
  type SubscribeOptions,
  type Subscription,
  TOPICS,
} from "./log.js";
import { createKafka, KafkaStartError, withDeadline } from "./log.kafka.client.js";
import type { KafkaLogConfig } from "./log.kafka.config.js";
import { startConsumer } from "./log.kafka.consumer.js";
import { GroupMembers } from "./log.kafka.member.js";
import { ProduceQueue } from "./log.kafka.producer.js";
import { TailReader } from "./log.kafka.tail.js";

/** How long a topic may take to exist with a leader for every partition (a new broker is slow). */
const TOPIC_READY_MS = 30_000;
/** Keys whose partition is remembered (conversations recur); past it the memory starts over. */
const REMEMBERED_PARTITIONS_MAX = 100_000;
/** Topics created at start-up; any other topic is created when first used. */
const KNOWN_TOPICS = [TOPICS.messages, TOPICS.groups, TOPICS.receipts, `${TOPICS.messages}.dlq`];

export interface KafkaLogOptions extends KafkaLogConfig {
  brokers: string[];
  logger: Logger;
}

/**
 * The message log on Apache Kafka. Appends go through one idempotent producer with acks=all and
 * resolve only once every record is acknowledged (or fail within appendTimeoutMs); the key picks
 * the partition (murmur2, as Kafka's Java client does), so each conversation keeps its order.
 * Each subscription is a member of a consumer group that commits only after its handler;
 * readUncommitted is served by a per-process tail reader (see log.kafka.tail.ts, docs/kafka.md).
 */
export class KafkaLog implements MessageLog {
  private readonly partitionCounts = new Map<string, Promise<number>>();
  private readonly tails = new Map<string, Promise<TailReader>>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly members = new GroupMembers();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  /** A key's partition by topic and partition count: murmur2 of the key, worked out once. */
  private readonly rememberedPartitions = new Map<string, number>();
  private closed = false;

  private constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly produceQueue: ProduceQueue,
    private readonly options: KafkaLogOptions,
  ) {}

  static async open(options: KafkaLogOptions): Promise<KafkaLog> {
    const kafka = createKafka({ ...options, purpose: "admin" });
    const admin = kafka.admin();
    const producers = createKafka({ ...options, purpose: "produce" });
    const produceQueue = new ProduceQueue(() =>
      producers.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        // Few retries (kafkajs warns that this weakens idempotence): a retry the producer gives up
        // on becomes a failed send the client retries with its message id, and readers keep one
        // message per id. Unlimited retries would make a send hang while Kafka is down.
        retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
      }),
    );
    try {
      await admin.connect();
      await produceQueue.start();
      const log = new KafkaLog(kafka, admin, produceQueue, options);
      await Promise.all(KNOWN_TOPICS.map((topic) => log.partitions(topic)));
      return log;
    } catch (err) {
      await Promise.allSettled([produceQueue.close(), admin.disconnect()]);
      throw err;
    }
  }

  async append(topic: string, records: NewRecord[]): Promise<AppendResult[]> {
    if (this.closed) throw new Error("log is closed");
    if (records.length === 0) return [];
    const end = logAppendDuration.startTimer({ topic });
    const deadline = Date.now() + this.options.appendTimeoutMs;
    try {
      return await withDeadline(
        this.produce(topic, records, deadline),
        this.options.appendTimeoutMs,
        `append to ${topic}`,
      );
    } finally {
      end();
    }
  }

  private async produce(topic: string, records: NewRecord[], deadline: number): Promise<AppendResult[]> {
    const count = await this.partitions(topic);
    // The partition is chosen here, with kafkajs's own partitioner, so each record's offset can be
    // told from the per-partition base offsets Kafka acknowledges.
    const messages = records.map((r) => ({
      key: r.key,
      value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
      headers: r.headers ?? {},
      partition: this.partitionOf(topic, r.key, count),
    }));
    return this.produceQueue.send(this.name(topic), messages, deadline);
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.closed) throw new Error("log is closed");
    await this.partitions(options.topic);
    const subscription = await startConsumer(
      this.kafka,
      {
        groupId: this.name(options.group),
        topicName: this.name(options.topic),
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently,
        startTimeoutMs: this.options.consumerStartTimeoutMs,
      },
      options,
      this.members,
      this.options.logger.child({ component: "log-consumer", group: options.group }),
    );
    this.subscriptions.add(subscription);
    return {
      stop: async () => {
        this.subscriptions.delete(subscription);
        await subscription.stop();
      },
    };
  }

  async readUncommitted(topic: string, group: string, key?: string): Promise<LogRecord[]> {
    if (this.closed) throw new Error("log is closed");
    const deadline = Date.now() + this.options.readTimeoutMs;
    const read = async () => {
      const count = await this.partitions(topic);
      const tail = await this.tail(topic, group);
      return tail.read(key, key === undefined ? undefined : this.partitionOf(topic, key, count), deadline);
    };
    return withDeadline(read(), this.options.readTimeoutMs, `reading the tail of ${topic}`);
  }

  /**
   * The window starts at the committed offsets this process last saw (at most ~1 s old: the tail
   * reader refreshes them every second), held for the read: every older record was committed, so
   * written to the store, before `store` began. Only the log's ends are asked of Kafka, while
   * `store` runs, instead of offsets, ends and then the store one after the other.
   */
  async readUncommittedAlongside<T>(
    topic: string,
    group: string,
    key: string | undefined,
    store: () => Promise<T>,
  ): Promise<[LogRecord[], T]> {
    if (this.closed) throw new Error("log is closed");
    const deadline = Date.now() + this.options.readTimeoutMs;
    const [count, tail] = await withDeadline(
      (async () => [await this.partitions(topic), await this.tail(topic, group)] as const)(),
      this.options.readTimeoutMs,
      `reading the tail of ${topic}`,
    );
    const window = tail.hold();
    try {
      const partition = key === undefined ? undefined : this.partitionOf(topic, key, count);
      return await Promise.all([
        withDeadline(
          tail.readWindow(window, key, partition, deadline),
          Math.max(0, deadline - Date.now()),
          `reading the tail of ${topic}`,
        ),
        store(),
      ]);
    } finally {
      tail.release(window);
    }
  }

  /** Consumers (subscriptions, tail readers) that have not been consuming for a while, and why. */
  problems(): string[] {
    return this.members.problems();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((s) => s.stop()));
    await Promise.allSettled([...this.tails.values()].map(async (t) => (await t).stop()));
    await Promise.allSettled([this.produceQueue.close()]);
    await this.admin.disconnect();
  }

  /** The tail reader of a topic and group, started on first use and kept while the process runs. */
  private tail(topic: string, group: string): Promise<TailReader> {
    const id = `${topic}\u0000${group}`;
    let tail = this.tails.get(id);
    if (!tail) {
      tail = TailReader.start(
        this.kafka,
        this.admin,
        {
          topic,
          topicName: this.name(topic),
          groupId: this.name(group),
          tailGroupPrefix: this.name(`parley.tail.${this.options.clientId}.`),
          sessionTimeoutMs: this.options.sessionTimeoutMs,
          startTimeoutMs: this.options.consumerStartTimeoutMs,
        },
        this.members,
        this.options.logger.child({ component: "log-tail", topic, group }),
      );
      this.tails.set(id, tail);
      tail.catch(() => this.tails.delete(id));
    }
    return tail;
  }

  /** The topic's partition count, creating the topic first when it does not exist. */
  private partitions(topic: string): Promise<number> {
    let count = this.partitionCounts.get(topic);
    if (!count) {
      count = this.createTopic(topic);
      this.partitionCounts.set(topic, count);
      count.catch(() => this.partitionCounts.delete(topic));
    }
    return count;
  }

  /**
   * Creates the topic when Kafka does not have it, then waits until every partition has a leader.
   * Several processes start at once and create the same topics: one creates, the others find the
   * topic there (or get "already exists", which kafkajs answers as `false`). Failures a new broker
   * gives while it settles are tried again, with backoff, until TOPIC_READY_MS.
   */
  private async createTopic(topic: string): Promise<number> {
    const name = this.name(topic);
    const deadline = Date.now() + TOPIC_READY_MS;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        const partitions = await this.topicPartitions(name);
        if (partitions === undefined) {
          // kafkajs's waitForLeaders gives up on the "unknown topic" answers Kafka 4 sends while a
          // new topic's partitions are being placed, so readiness is polled here instead.
          await this.admin.createTopics({
            waitForLeaders: false,
            topics: [
              {
                topic: name,
                numPartitions: this.options.partitions,
                replicationFactor: this.options.replicationFactor,
              },
            ],
          });
        } else if (partitions.length > 0 && partitions.every((p) => p.leader >= 0)) {
          return partitions.length;
        }
      } catch (err) {
        lastError = err;
      }
      if (Date.now() > deadline) {
        throw new KafkaStartError(
          `Kafka: topic ${name} has no leader for every partition after ${TOPIC_READY_MS} ms`,
          lastError === undefined ? undefined : { cause: lastError },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    }
  }

  /** The topic's partitions as Kafka describes them, or undefined when Kafka has no such topic. */
  private async topicPartitions(name: string): Promise<PartitionMetadata[] | undefined> {
    try {
      const { topics } = await this.admin.fetchTopicMetadata({ topics: [name] });
      return topics[0]?.partitions ?? [];
    } catch (err) {
      if ((err as { type?: string }).type === "UNKNOWN_TOPIC_OR_PARTITION") return undefined;
      throw err;
    }
  }

  private partitionOf(topic: string, key: string, count: number): number {
    const remembered = `${topic}\u0000${count}\u0000${key}`;
    let partition = this.rememberedPartitions.get(remembered);
    if (partition === undefined) {
      partition = this.partitionOfKey(topic, key, count);
      if (this.rememberedPartitions.size >= REMEMBERED_PARTITIONS_MAX) this.rememberedPartitions.clear();
      this.rememberedPartitions.set(remembered, partition);
    }
    return partition;
  }

  private partitionOfKey(topic: string, key: string, count: number): number {
    const partitionMetadata = Array.from(
      { length: count },
      (_, partitionId): PartitionMetadata => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [],
        isr: [],
      }),
    );
    return this.partitioner({ topic: this.name(topic), partitionMetadata, message: { key, value: null } });
  }

  private name(topicOrGroup: string): string {
    return `${this.options.topicPrefix}${topicOrGroup}`;
  }
}
