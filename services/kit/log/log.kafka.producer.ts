import type { Message, Producer } from "kafkajs";
import type { AppendResult } from "./log.js";

interface Pending {
  topicName: string;
  /** Each with its partition set, so the offsets Kafka acknowledges can be told apart. */
  messages: (Message & { partition: number })[];
  bytes: number;
  deadline: number;
  resolve: (results: AppendResult[]) => void;
  reject: (err: unknown) => void;
}

/** A produce request stays well under Kafka's default 1 MiB limit per partition batch. */
const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * Group commit for the idempotent producer: it allows one request in flight (so a retry can never
 * reorder records), and appends that arrive while one is in flight go together in the next
 * request instead of queueing one by one — under load one round trip acknowledges many sends.
 * An append whose deadline passed while it waited is dropped, never sent after its caller was
 * told it failed.
 *
 * A request that failed ends the producer's idempotent session: the next request goes through a
 * new producer (a new producer id). kafkajs rolls a failed request's sequence numbers back, but
 * the broker may have appended it (the response was lost, or the broker died after the append);
 * the next request would then reuse those numbers, and a broker that sees the same sequence range
 * again takes it for a retry of the appended request — it acknowledges the new records and drops
 * them. A new producer id cannot collide with the old one's sequences.
 */
export class ProduceQueue {
  private queue: Pending[] = [];
  private sending = false;
  private producer: Promise<Producer> | undefined;

  constructor(private readonly newProducer: () => Producer) {}

  /** Connects the first producer, so a broker that cannot be reached fails the log's opening. */
  async start(): Promise<void> {
    await this.connected();
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.then((p) => p.disconnect());
  }

  send(topicName: string, messages: Pending["messages"], deadline: number): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      const bytes = messages.reduce((sum, m) => sum + (m.value?.length ?? 0), 0);
      this.queue.push({ topicName, messages, bytes, deadline, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    if (this.sending) return;
    const now = Date.now();
    this.queue = this.queue.filter((p) => p.deadline > now);
    if (this.queue.length === 0) return;
    let bytes = 0;
    let count = 0;
    while (
      count < this.queue.length &&
      (count === 0 || bytes + (this.queue[count]?.bytes ?? 0) <= MAX_REQUEST_BYTES)
    ) {
      bytes += this.queue[count]?.bytes ?? 0;
      count++;
    }
    const batch = this.queue.splice(0, count);
    this.sending = true;
    this.sendBatch(batch).finally(() => {
      this.sending = false;
      this.flush();
    });
  }

  private async sendBatch(batch: Pending[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const pending of batch) {
      const messages = byTopic.get(pending.topicName) ?? [];
      messages.push(...pending.messages);
      byTopic.set(pending.topicName, messages);
    }
    try {
      const producer = await this.connected();
      const acks = await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      const next = new Map(
        acks.map((a) => [`${a.topicName}\u0000${a.partition}`, BigInt(a.baseOffset ?? a.offset ?? "-1")]),
      );
      for (const pending of batch) {
        try {
          pending.resolve(
            pending.messages.map(({ partition }) => {
              const at = `${pending.topicName}\u0000${partition}`;
              const offset = next.get(at);
              if (offset === undefined || offset < 0n) {
                throw new Error(`Kafka acknowledged no offset for ${pending.topicName}/${partition}`);
              }
              next.set(at, offset + 1n);
              return { partition, offset };
            }),
          );
        } catch (err) {
          pending.reject(err);
        }
      }
    } catch (err) {
      this.endSession();
      for (const pending of batch) pending.reject(err);
    }
  }

  private connected(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.newProducer();
      this.producer = producer.connect().then(
        () => producer,
        async (err: unknown) => {
          await producer.disconnect().catch(() => {});
          throw err;
        },
      );
    }
    return this.producer;
  }

  /** Drops the current producer (see the class comment); the next request connects a new one. */
  private endSession(): void {
    const producer = this.producer;
    this.producer = undefined;
    producer?.then((p) => p.disconnect()).catch(() => {});
  }
}
