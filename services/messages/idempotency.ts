import { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { SqlDatabase } from "../kit/sql/database.js";

/** Keeps one UPDATE's parameters far below PostgreSQL's 65,535. */
const MAX_MARKS_PER_STATEMENT = 500;

export type Claim =
  | { claimed: true }
  /** An earlier send holds the id; `appended` is false when its append may not have happened. */
  | { claimed: false; record: MessageRecord; appended: boolean };

/**
 * Client message ids, durably: the first send of a (sender, client message id) claims it with
 * its whole record before appending, so a retry — in any process, after any crash — gets the
 * same record back (same id, same timestamp) and never makes a second message.
 */
export class ClientMessageIds {
  constructor(private readonly db: SqlDatabase) {}

  async claim(record: MessageRecord): Promise<Claim> {
    const inserted = await this.db.query(
      `INSERT INTO client_messages (sender_id, client_message_id, message_id, record)
       VALUES ($1, $2, $3, $4) ON CONFLICT (sender_id, client_message_id) DO NOTHING RETURNING 1`,
      [record.senderId, record.clientMessageId, record.messageId, MessageRecord.encode(record).finish()],
    );
    if (inserted.length > 0) return { claimed: true };
    const rows = await this.db.query<{ record: Uint8Array; appended: boolean }>(
      "SELECT record, appended FROM client_messages WHERE sender_id = $1 AND client_message_id = $2",
      [record.senderId, record.clientMessageId],
    );
    const row = rows[0];
    if (!row) throw new Error("client message id vanished between claim and read");
    return { claimed: false, record: MessageRecord.decode(row.record), appended: row.appended };
  }

  /**
   * Records that the log confirmed the send. Marks made in the same event-loop turn (a Kafka
   * produce confirms a whole batch of sends at once) share one UPDATE, so an idempotent send costs
   * about one statement instead of two. A mark lost to a crash only leaves `appended` false: a
   * retry then appends the same record again, which history and readers keep once.
   */
  markAppended(senderId: string, clientMessageId: string): Promise<void> {
    if (!this.pending || this.pending.keys.length >= MAX_MARKS_PER_STATEMENT) {
      const batch: PendingMarks = { keys: [], done: Promise.resolve() };
      batch.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        if (this.pending === batch) this.pending = undefined;
        return this.mark(batch.keys);
      });
      this.pending = batch;
    }
    this.pending.keys.push([senderId, clientMessageId]);
    return this.pending.done;
  }

  private pending: PendingMarks | undefined;

  private async mark(keys: [string, string][]): Promise<void> {
    const rows = keys.map((_, i) => `($${2 * i + 1}::text, $${2 * i + 2}::text)`).join(", ");
    await this.db.query(
      `UPDATE client_messages AS c SET appended = true
       FROM (VALUES ${rows}) AS m(sender_id, client_message_id)
       WHERE c.sender_id = m.sender_id AND c.client_message_id = m.client_message_id`,
      keys.flat(),
    );
  }
}

interface PendingMarks {
  keys: [string, string][];
  done: Promise<void>;
}

/**
 * Sends in flight in this process by idempotency key, so a concurrent retry waits for the first
 * instead of racing it. When the first fails the waiter runs again itself.
 */
export class InFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  async run(key: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const first = this.running.get(key);
      if (!first) break;
      try {
        return await first;
      } catch {
        // The first attempt failed; try again (as the first, unless another waiter got there).
      }
    }
    const attempt = fn();
    this.running.set(key, attempt);
    try {
      return await attempt;
    } finally {
      if (this.running.get(key) === attempt) this.running.delete(key);
    }
  }

  get size(): number {
    return this.running.size;
  }
}
