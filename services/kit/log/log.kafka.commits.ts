import type { Consumer } from "kafkajs";
import { COMMIT_INTERVAL_MS } from "./log.js";

/**
 * One consumer's processed offsets on one topic, committed to Kafka at most every
 * COMMIT_INTERVAL_MS and on `flush()` (at stop) instead of after every batch. Commits run one at a
 * time, so a later offset is never overwritten by an earlier one. A failed commit (a rebalance
 * under way, the broker away) is reported and its offsets wait for the next one; after a rebalance
 * only the partitions still assigned are committed, so a member never moves back the offset of a
 * partition another member now consumes.
 */
export class OffsetCommits {
  /** Per partition, the offset of the next record to process. */
  private readonly pending = new Map<number, bigint>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly stopWatching: () => void;

  constructor(
    private readonly consumer: Consumer,
    private readonly topicName: string,
    private readonly onFailure: (err: unknown) => void,
    private readonly intervalMs = COMMIT_INTERVAL_MS,
  ) {
    this.stopWatching = consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[topicName] ?? []);
      for (const partition of this.pending.keys()) {
        if (!assigned.has(partition)) this.pending.delete(partition);
      }
    });
  }

  /** Everything before `next` in `partition` has been processed. */
  mark(partition: number, next: bigint): void {
    this.pending.set(partition, next);
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  /** Commits what is marked now; resolves once it is committed or has failed (and been reported). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.chain = this.chain.then(async () => {
      if (this.pending.size === 0) return;
      const batch = new Map(this.pending);
      this.pending.clear();
      try {
        await this.consumer.commitOffsets(
          [...batch].map(([partition, next]) => ({
            topic: this.topicName,
            partition,
            offset: String(next),
          })),
        );
      } catch (err) {
        for (const [partition, next] of batch) {
          if (!this.pending.has(partition)) this.pending.set(partition, next);
        }
        this.onFailure(err);
      }
    });
    return this.chain;
  }

  /** Flushes, then stops. */
  async close(): Promise<void> {
    await this.flush();
    this.stop();
  }

  /** Stops the timer and listener; what is marked and not committed is dropped. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopWatching();
  }
}
