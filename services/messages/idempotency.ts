import { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { SqlDatabase } from "../kit/sql/database.js";

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

  async markAppended(senderId: string, clientMessageId: string): Promise<void> {
    await this.db.query(
      "UPDATE client_messages SET appended = true WHERE sender_id = $1 AND client_message_id = $2",
      [senderId, clientMessageId],
    );
  }
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
