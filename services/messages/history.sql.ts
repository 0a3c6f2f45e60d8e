import { fileURLToPath } from "node:url";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import type { HistoryStore, PageQuery } from "./history.js";
import { decodeAttachments, encodeAttachments } from "./records.js";

/** The messages service's migrations (history and idempotency keys). */
export const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations", import.meta.url));

const COLUMNS = `message_id::text AS message_id, conversation_id, sender_id, recipient_id, group_id, sent_at,
  client_message_id, ciphertext, nonce, wrapped_key, attachments`;

interface Row {
  message_id: string;
  conversation_id: string;
  sender_id: string;
  recipient_id: string;
  group_id: string;
  sent_at: Date;
  client_message_id: string;
  ciphertext: Uint8Array;
  nonce: Uint8Array;
  wrapped_key: Uint8Array;
  attachments: Uint8Array | null;
}

/**
 * History on the messages service's SQL database: the embedded history store. Message ids are
 * UUIDv7 in a uuid column, whose byte order is time order, so "newest first" is "id descending".
 */
export class SqlHistoryStore implements HistoryStore {
  constructor(private readonly db: SqlDatabase) {}

  async write(records: MessageRecord[]): Promise<void> {
    if (records.length === 0) return;
    const params: unknown[] = [];
    const rows = records.map((r) => {
      const n = params.length;
      params.push(
        r.messageId,
        r.conversationId,
        r.senderId,
        r.recipientId,
        r.groupId,
        r.sentAt,
        r.clientMessageId,
        r.ciphertext,
        r.nonce,
        r.wrappedKey,
        encodeAttachments(r.attachments),
      );
      return `(${Array.from({ length: 11 }, (_, i) => `$${n + i + 1}`).join(", ")})`;
    });
    await this.db.query(
      `INSERT INTO messages (message_id, conversation_id, sender_id, recipient_id, group_id, sent_at,
         client_message_id, ciphertext, nonce, wrapped_key, attachments)
       VALUES ${rows.join(", ")} ON CONFLICT (message_id) DO NOTHING`,
      params,
    );
  }

  async conversationPage(conversationId: string, query: PageQuery): Promise<MessageRecord[]> {
    const rows = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM messages
       WHERE conversation_id = $1 AND ($2::uuid IS NULL OR message_id < $2::uuid)
       ORDER BY message_id DESC LIMIT $3`,
      [conversationId, query.before ?? null, query.limit],
    );
    return rows.map(toRecord);
  }

  async directPage(userId: string, query: PageQuery): Promise<MessageRecord[]> {
    // Two index scans (sent, received) merged, rather than one OR the planner may not split.
    const rows = await this.db.query<Row>(
      `SELECT * FROM (
         (SELECT ${COLUMNS} FROM messages
          WHERE group_id = '' AND sender_id = $1 AND ($2::uuid IS NULL OR message_id < $2::uuid)
          ORDER BY message_id DESC LIMIT $3)
         UNION
         (SELECT ${COLUMNS} FROM messages
          WHERE group_id = '' AND recipient_id = $1 AND ($2::uuid IS NULL OR message_id < $2::uuid)
          ORDER BY message_id DESC LIMIT $3)
       ) AS direct ORDER BY message_id::uuid DESC LIMIT $3`,
      [userId, query.before ?? null, query.limit],
    );
    return rows.map(toRecord);
  }
}

function toRecord(row: Row): MessageRecord {
  return {
    messageId: row.message_id,
    conversationId: row.conversation_id,
    senderId: row.sender_id,
    recipientId: row.recipient_id,
    groupId: row.group_id,
    sentAt: row.sent_at,
    clientMessageId: row.client_message_id,
    ciphertext: asBuffer(row.ciphertext),
    nonce: asBuffer(row.nonce),
    wrappedKey: asBuffer(row.wrapped_key),
    attachments: decodeAttachments(row.attachments),
  };
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
