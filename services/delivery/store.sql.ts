import { fileURLToPath } from "node:url";
import type { SqlDatabase } from "../kit/sql/database.js";
import { migrate } from "../kit/sql/migrations.js";
import {
  DEFAULT_SETTINGS,
  type DeliveryStore,
  type DurableEvent,
  type EventKind,
  type EventSettings,
  type InboxEntry,
  type InboxPage,
  type MarkerKind,
} from "./store.js";

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));
/** Users whose old events one sweep transaction deletes. */
const SWEEP_USERS = 1000;
/** Contact pairs this process remembers having written (each is two strings of ~36 characters). */
const KNOWN_CONTACTS = 100_000;

interface EntryRow {
  seq: number;
  event_key: string;
  kind: EventKind;
  payload: Uint8Array;
  appended_at: Date;
}

/** Delivery's SQL store (PGlite all-in-one, PostgreSQL in a mesh); plain SQL, $n params. */
export class SqlDeliveryStore implements DeliveryStore {
  /**
   * Pairs written by this process: contacts are never removed, so a pair written once needs no
   * statement again (every 1:1 message names one). Forgotten wholesale when full.
   */
  private readonly knownContacts = new Set<string>();

  private readonly now: () => Date;

  /**
   * `clock` (tests): the time of everything stored. Without it, inboxes take the database's
   * clock (read under the append's locks) and the rest this process's.
   */
  private constructor(
    private readonly db: SqlDatabase,
    private readonly clock: (() => Date) | undefined,
  ) {
    this.now = clock ?? (() => new Date());
  }

  static async open(db: SqlDatabase, clock?: () => Date): Promise<SqlDeliveryStore> {
    await migrate(db, MIGRATIONS);
    return new SqlDeliveryStore(db, clock);
  }

  /** One call of inbox_append (migrations/002_inbox_append.sql): the whole batch in one round trip. */
  async append(events: DurableEvent[]): Promise<InboxEntry[]> {
    const unique = new Map<string, DurableEvent>();
    for (const event of events) {
      if (!unique.has(event.eventKey) && event.recipients.length > 0) unique.set(event.eventKey, event);
    }
    if (unique.size === 0) return [];
    const users: string[] = [];
    const keys: string[] = [];
    for (const event of unique.values()) {
      for (const userId of new Set(event.recipients)) {
        users.push(userId);
        keys.push(event.eventKey);
      }
    }
    const stored = [...unique.values()];
    const rows = await this.db.query<{ user_id: string; seq: string | number; event_key: string }>(
      "SELECT user_id, seq, event_key FROM inbox_append($1, $2, $3, $4, $5, $6, $7)",
      [
        stored.map((e) => e.eventKey),
        stored.map((e) => e.kind),
        stored.map((e) => Buffer.from(e.payload)),
        stored.map((e) => e.appendedAt),
        users,
        keys,
        this.clock ? this.clock() : null,
      ],
    );
    return rows.map((row) => {
      const event = unique.get(row.event_key) as DurableEvent;
      return {
        userId: row.user_id,
        seq: Number(row.seq),
        eventKey: row.event_key,
        kind: event.kind,
        payload: event.payload,
        appendedAt: event.appendedAt,
      };
    });
  }

  async replay(userId: string, afterSeq: number, limit: number): Promise<InboxPage> {
    const rows = await this.db.query<EntryRow>(
      `SELECT i.seq, i.event_key, e.kind, e.payload, e.appended_at
       FROM inbox i JOIN delivery_events e ON e.event_key = i.event_key
       WHERE i.user_id = $1 AND i.seq > $2 ORDER BY i.seq LIMIT $3`,
      [userId, afterSeq, limit],
    );
    // Read after the rows, so the head is never behind the events answered.
    const [heads] = await this.db.query<{ head_seq: number; oldest_seq: number }>(
      "SELECT head_seq, oldest_seq FROM inbox_heads WHERE user_id = $1",
      [userId],
    );
    const headSeq = Number(heads?.head_seq ?? 0);
    const oldestSeq = Number(heads?.oldest_seq ?? 1);
    const expired = afterSeq > 0 && (afterSeq + 1 < oldestSeq || afterSeq > headSeq);
    return {
      entries: expired
        ? []
        : rows.map((row) => ({
            userId,
            seq: Number(row.seq),
            eventKey: row.event_key,
            kind: row.kind,
            payload: row.payload,
            appendedAt: row.appended_at,
          })),
      headSeq,
      oldestSeq,
      expired,
    };
  }

  async payloads(eventKeys: string[]): Promise<Map<string, Uint8Array>> {
    const keys = [...new Set(eventKeys)];
    if (keys.length === 0) return new Map();
    const rows = await this.db.query<{ event_key: string; payload: Uint8Array }>(
      "SELECT event_key, payload FROM delivery_events WHERE event_key = ANY($1::text[])",
      [keys],
    );
    return new Map(rows.map((row) => [row.event_key, row.payload]));
  }

  async sweep(before: Date): Promise<number> {
    let removed = 0;
    for (;;) {
      const deleted = await this.db.transaction(async (tx) => {
        const due = await tx.query<{ user_id: string; upto: number }>(
          `SELECT user_id, max(seq) AS upto FROM inbox WHERE stored_at < $1
           GROUP BY user_id ORDER BY user_id LIMIT $2`,
          [before, SWEEP_USERS],
        );
        if (due.length === 0) return 0;
        const users = due.map((row) => row.user_id);
        const upto = due.map((row) => Number(row.upto));
        // The same lock order as append: the two never deadlock.
        await tx.query(
          "SELECT 1 FROM inbox_heads WHERE user_id = ANY($1::text[]) ORDER BY user_id FOR UPDATE",
          [users],
        );
        const gone = await tx.query<{ n: number }>(
          `WITH gone AS (
             DELETE FROM inbox i USING unnest($1::text[], $2::int8[]) AS v(u, upto)
             WHERE i.user_id = v.u AND i.seq <= v.upto RETURNING 1)
           SELECT count(*)::int AS n FROM gone`,
          [users, upto],
        );
        await tx.query(
          `UPDATE inbox_heads h SET oldest_seq = GREATEST(h.oldest_seq, v.upto + 1)
           FROM unnest($1::text[], $2::int8[]) AS v(u, upto) WHERE h.user_id = v.u`,
          [users, upto],
        );
        return gone[0]?.n ?? 0;
      });
      removed += deleted;
      if (deleted === 0) break;
    }
    await this.db.query(
      `DELETE FROM delivery_events e WHERE e.stored_at < $1
         AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.event_key = e.event_key)`,
      [before],
    );
    return removed;
  }

  async addContacts(pairs: [string, string][]): Promise<void> {
    const both = pairs
      .filter(([a, b]) => a !== b)
      .flatMap(([a, b]) => [`${a}\n${b}`, `${b}\n${a}`])
      .filter((pair) => !this.knownContacts.has(pair));
    const fresh = [...new Set(both)].sort();
    const unique = fresh.map((pair) => pair.split("\n") as [string, string]);
    if (unique.length === 0) return;
    await this.db.query(
      `INSERT INTO contacts (user_id, contact_id) SELECT u, c FROM unnest($1::text[], $2::text[]) AS v(u, c)
       ON CONFLICT DO NOTHING`,
      [unique.map(([a]) => a), unique.map(([, b]) => b)],
    );
    if (this.knownContacts.size + fresh.length > KNOWN_CONTACTS) this.knownContacts.clear();
    for (const pair of fresh) this.knownContacts.add(pair);
  }

  async contactsOf(userId: string): Promise<string[]> {
    const rows = await this.db.query<{ contact_id: string }>(
      "SELECT contact_id FROM contacts WHERE user_id = $1",
      [userId],
    );
    return rows.map((row) => row.contact_id);
  }

  async settings(userIds: string[]): Promise<Map<string, EventSettings>> {
    const found = new Map<string, EventSettings>(userIds.map((id) => [id, { ...DEFAULT_SETTINGS }]));
    if (userIds.length === 0) return found;
    const rows = await this.db.query<{
      user_id: string;
      send_read_receipts: boolean;
      share_presence: boolean;
    }>(
      "SELECT user_id, send_read_receipts, share_presence FROM event_settings WHERE user_id = ANY($1::text[])",
      [userIds],
    );
    for (const row of rows) {
      found.set(row.user_id, { sendReadReceipts: row.send_read_receipts, sharePresence: row.share_presence });
    }
    return found;
  }

  async updateSettings(userId: string, settings: EventSettings): Promise<EventSettings> {
    await this.db.query(
      `INSERT INTO event_settings (user_id, send_read_receipts, share_presence, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id) DO UPDATE SET send_read_receipts = EXCLUDED.send_read_receipts,
         share_presence = EXCLUDED.share_presence, updated_at = EXCLUDED.updated_at`,
      [userId, settings.sendReadReceipts, settings.sharePresence, this.now()],
    );
    return { ...settings };
  }

  async advanceMarker(
    userId: string,
    conversationId: string,
    kind: MarkerKind,
    messageId: string,
    then?: () => Promise<void>,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // UUIDv7 ids sort by time as plain bytes: compare them in the C collation, not the locale's.
      const rows = await tx.query(
        `INSERT INTO receipt_markers (user_id, conversation_id, kind, message_id, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, conversation_id, kind) DO UPDATE
           SET message_id = EXCLUDED.message_id, updated_at = EXCLUDED.updated_at
           WHERE receipt_markers.message_id COLLATE "C" < EXCLUDED.message_id COLLATE "C"
         RETURNING 1`,
        [userId, conversationId, kind, messageId, this.now()],
      );
      if (rows.length === 0) return false;
      await then?.();
      return true;
    });
  }
}
