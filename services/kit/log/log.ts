/**
 * The message-log role: an ordered, durable, partitioned log with consumer groups —
 * Kafka in production, an embedded log on PGlite for single-process mode.
 */
export interface LogRecord {
  topic: string;
  partition: number;
  /** Position within the partition; increases by one per record. */
  offset: bigint;
  key: string;
  value: Uint8Array;
  headers: Record<string, string>;
  /** Append time, epoch milliseconds. */
  timestamp: number;
}

export interface NewRecord {
  key: string;
  value: Uint8Array;
  headers?: Record<string, string>;
}

export interface AppendResult {
  partition: number;
  offset: bigint;
}

/**
 * Consumers commit their offsets at most this often (and when stopped), not after every batch: at
 * low rates every batch is one record, and a commit each doubled the work per record (a statement
 * on the embedded log; an OffsetCommit request, and a write to __consumer_offsets, on Kafka). A
 * crash redelivers at most this long's records; handlers are idempotent (at-least-once).
 */
export const COMMIT_INTERVAL_MS = 200;

export interface Subscription {
  /** Stops consuming; a batch in progress finishes (and commits) first. */
  stop(): Promise<void>;
}

export interface SubscribeOptions {
  group: string;
  topic: string;
  /**
   * Receives records in order per partition. Offsets are committed only after it resolves;
   * when it throws, the same batch is offered again (at-least-once).
   */
  handler: (records: LogRecord[]) => Promise<void>;
  maxBatch?: number;
  /**
   * How long records may wait to be handed over together, in ms (default 0: as soon as any
   * arrive). For consumers whose latency matters less than their cost (the persister): fewer,
   * larger batches, and on Kafka fewer fetches, each of which costs the broker and the client.
   */
  batchWaitMs?: number;
}

export interface MessageLog {
  /** Resolves once every record is durable; records of one key keep their order. */
  append(topic: string, records: NewRecord[]): Promise<AppendResult[]>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /**
   * Records (of `key`, or of every key) that `group` has not committed yet, oldest first: the
   * tail a consumer has not processed, for readers that must see every acknowledged record.
   */
  readUncommitted(topic: string, group: string, key?: string): Promise<LogRecord[]>;
  /**
   * The tail, as readUncommitted, read together with `store`: a read of what `group`'s consumer
   * writes before it commits (a reader's other half). `store` begins only once the tail's window
   * is fixed, and may run while the tail is read, so the two together hold every record
   * acknowledged before the call; a record may be in both. The tail here may also hold records
   * committed shortly before the call. Rejects only when the tail cannot be read: `store` handles
   * its own failures.
   */
  readUncommittedAlongside<T>(
    topic: string,
    group: string,
    key: string | undefined,
    store: () => Promise<T>,
  ): Promise<[LogRecord[], T]>;
  /** Why some of its consumers are not consuming (for /readyz); empty when all are. */
  problems?(): string[];
  close(): Promise<void>;
}

export const TOPICS = {
  messages: "parley.messages",
  groups: "parley.groups",
  receipts: "parley.receipts",
} as const;
