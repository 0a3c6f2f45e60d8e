import { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { GroupCommit } from "../kit/group-commit.js";
import type { SqlDatabase } from "../kit/sql/database.js";

/** Keeps one statement's parameters far below PostgreSQL's 65,535. */
const MAX_ROWS_PER_STATEMENT = 500;
/** Statements of each kind at the database at once: enough to overlap round trips, few enough to batch. */
const MAX_STATEMENTS_IN_FLIGHT = 2;

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
  private readonly claims: GroupCommit<MessageRecord, boolean>;
  private readonly marks: GroupCommit<[string, string], undefined>;

  constructor(private readonly db: SqlDatabase) {
    const options = { maxItems: MAX_ROWS_PER_STATEMENT, maxInFlight: MAX_STATEMENTS_IN_FLIGHT };
    this.claims = new GroupCommit((records) => this.insert(records), options);
    this.marks = new GroupCommit((keys) => this.mark(keys), options);
  }

  /**
   * Claims made together (sends arriving in the same event-loop turn, or while earlier claims
   * are at the database) share one INSERT, so under load an idempotent send costs a fraction of
   * a statement.
   */
  async claim(record: MessageRecord): Promise<Claim> {
    if (await this.claims.add(record)) return { claimed: true };
    const rows = await this.db.query<{ record: Uint8Array; appended: boolean }>(
      "SELECT record, appended FROM client_messages WHERE sender_id = $1 AND client_message_id = $2",
      [record.senderId, record.clientMessageId],
    );
    const row = rows[0];
    if (!row) throw new Error("client message id vanished between claim and read");
    return { claimed: false, record: MessageRecord.decode(row.record), appended: row.appended };
  }

  /**
   * Records that the log confirmed the send. Marks made together (a Kafka produce confirms a
   * whole batch of sends at once) share one UPDATE. A mark lost to a crash only leaves `appended`
   * false: a retry then appends the same record again, which history and readers keep once.
   */
  async markAppended(senderId: string, clientMessageId: string): Promise<void> {
    await this.marks.add([senderId, clientMessageId]);
  }

  /** Which records' ids were free; of one id claimed twice in a batch, only the first wins. */
  private async insert(records: MessageRecord[]): Promise<boolean[]> {
    const key = (senderId: string, clientMessageId: string) => `${senderId}\u0000${clientMessageId}`;
    const first = new Map<string, MessageRecord>();
    for (const r of records) {
      const k = key(r.senderId, r.clientMessageId);
      if (!first.has(k)) first.set(k, r);
    }
    const unique = [...first.values()];
    const rows = unique.map((_, i) => `($${4 * i + 1}, $${4 * i + 2}, $${4 * i + 3}, $${4 * i + 4})`);
    const inserted = await this.db.query<{ sender_id: string; client_message_id: string }>(
      `INSERT INTO client_messages (sender_id, client_message_id, message_id, record)
       VALUES ${rows.join(", ")} ON CONFLICT (sender_id, client_message_id) DO NOTHING
       RETURNING sender_id, client_message_id`,
      unique.flatMap((r) => [r.senderId, r.clientMessageId, r.messageId, MessageRecord.encode(r).finish()]),
    );
    const won = new Set(inserted.map((row) => key(row.sender_id, row.client_message_id)));
    return records.map((r) => {
      const k = key(r.senderId, r.clientMessageId);
      return won.has(k) && first.get(k) === r;
    });
  }

  private async mark(keys: [string, string][]): Promise<undefined[]> {
    const rows = keys.map((_, i) => `($${2 * i + 1}::text, $${2 * i + 2}::text)`).join(", ");
    await this.db.query(
      `UPDATE client_messages AS c SET appended = true
       FROM (VALUES ${rows}) AS m(sender_id, client_message_id)
       WHERE c.sender_id = m.sender_id AND c.client_message_id = m.client_message_id`,
      keys.flat(),
    );
    return keys.map(() => undefined);
  }
}

/**
 * Sends in flight in this process by idempotency key, so a concurrent retry waits for the first
 * instead of racing it. When the first fails the waiter runs again itself. With `keepUntil`, a
 * first that succeeded stays the answer for retries until the promise it names settles (the
 * appended mark being written after the first was answered).
 */
export class InFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  async run(
    key: string,
    fn: () => Promise<T>,
    keepUntil?: (value: T) => Promise<unknown> | undefined,
  ): Promise<T> {
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
    const release = () => {
      if (this.running.get(key) === attempt) this.running.delete(key);
    };
    let value: T;
    try {
      value = await attempt;
    } catch (err) {
      release();
      throw err;
    }
    const kept = keepUntil?.(value);
    if (kept) kept.then(release, release);
    else release();
    return value;
  }

  get size(): number {
    return this.running.size;
  }
}
