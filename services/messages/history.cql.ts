import type { Client, types } from "cassandra-driver";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { storeDuration } from "../kit/metrics.js";
import { type CqlHistoryConfig, createCqlClient } from "./history.cql.client.js";
import { migrateKeyspace, settleBucketDays } from "./history.cql.schema.js";
import { Timeline } from "./history.cql.timeline.js";
import type { HistoryStore, PageQuery } from "./history.js";
import { decodeAttachments, encodeAttachments, timeOfMessageId } from "./records.js";

const DAY_MS = 86_400_000;
/**
 * A direct message's rows (its conversation's and each party's) go as one unlogged batch while
 * they are this small: one request instead of three, a third less of the driver's CPU per message
 * (docs/history.md, "Writes"). Cassandra warns of a multi-partition batch above 5 KiB and refuses
 * one above 50 KiB (its defaults), so larger messages go as separate statements.
 */
const BATCH_MAX_BYTES = 4 * 1024;
/** What a row costs in a batch besides its content: ids, times, key and cell overhead, roughly. */
const ROW_OVERHEAD_BYTES = 200;
/** Bucket-index rows this process knows are written; they never change, so repeating them is waste. */
const KNOWN_BUCKETS_MAX = 100_000;

const SHARED =
  "message_id, sender_id, recipient_id, sent_at, client_message_id, ciphertext, nonce, wrapped_key, attachments";
const CONVERSATION_COLUMNS = `${SHARED}, group_id`;
const DIRECT_COLUMNS = `${SHARED}, conversation_id`;

/**
 * History on Cassandra/ScyllaDB. A message is one row in its conversation's bucket and, when
 * direct, one row in each party's bucket; rows are upserts keyed by the message id, so writing a
 * record again (a persister replay) leaves the same single row.
 */
export class CqlHistoryStore implements HistoryStore {
  private readonly conversations: Timeline;
  private readonly direct: Timeline;
  private readonly knownBuckets = new Set<string>();

  private constructor(
    private readonly client: Client,
    private readonly bucketMs: number,
  ) {
    const bucketOf = (messageId: string) => this.bucketOf(messageId);
    this.conversations = new Timeline(
      client,
      { rows: "messages_by_conversation", buckets: "conversation_buckets", key: "conversation_id" },
      CONVERSATION_COLUMNS,
      bucketOf,
    );
    this.direct = new Timeline(
      client,
      { rows: "direct_messages_by_user", buckets: "direct_buckets", key: "user_id" },
      DIRECT_COLUMNS,
      bucketOf,
    );
  }

  /** Connects, creates or migrates the keyspace, and checks the bucket span it was written with. */
  static async open(config: CqlHistoryConfig): Promise<CqlHistoryStore> {
    const client = createCqlClient(config);
    try {
      await client.connect();
      await migrateKeyspace(client, config.keyspace, config.replication);
      await settleBucketDays(client, config.bucketDays);
    } catch (err) {
      await client.shutdown();
      throw err;
    }
    return new CqlHistoryStore(client, config.bucketDays * DAY_MS);
  }

  bucketOf(messageId: string): number {
    return Math.floor(timeOfMessageId(messageId).getTime() / this.bucketMs);
  }

  async write(records: MessageRecord[]): Promise<void> {
    if (records.length === 0) return;
    await timed("write", async () => {
      const buckets = new Map<string, Statement>();
      const requests: Statement[][] = [];
      for (const r of records) {
        const bucket = this.bucketOf(r.messageId);
        const attachments = encodeAttachments(r.attachments);
        const values = shared(r, attachments);
        buckets.set(
          `c|${r.conversationId}|${bucket}`,
          this.conversations.bucketInsert(r.conversationId, bucket),
        );
        const rows: Statement[] = [
          {
            query: `INSERT INTO messages_by_conversation (conversation_id, bucket, ${CONVERSATION_COLUMNS})
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            params: [r.conversationId, bucket, ...values, r.groupId],
          },
        ];
        if (!r.groupId) {
          for (const user of new Set([r.senderId, r.recipientId])) {
            buckets.set(`u|${user}|${bucket}`, this.direct.bucketInsert(user, bucket));
            rows.push({
              query: `INSERT INTO direct_messages_by_user (user_id, bucket, ${DIRECT_COLUMNS})
                      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
              params: [user, bucket, ...values, r.conversationId],
            });
          }
        }
        if (rows.length * rowBytes(r, attachments) <= BATCH_MAX_BYTES) requests.push(rows);
        else requests.push(...rows.map((row) => [row]));
      }
      // A bucket is listed before its rows exist, so a reader walking the index never skips rows.
      const unknown = [...buckets].filter(([key]) => !this.knownBuckets.has(key));
      await this.executeAll(unknown.map(([, statement]) => [statement]));
      await this.executeAll(requests);
      if (this.knownBuckets.size + unknown.length > KNOWN_BUCKETS_MAX) this.knownBuckets.clear();
      for (const [key] of unknown) this.knownBuckets.add(key);
    });
  }

  conversationPage(conversationId: string, query: PageQuery): Promise<MessageRecord[]> {
    return timed("conversation_page", async () =>
      (await this.conversations.page(conversationId, query)).map((row) =>
        toRecord(row, { conversationId, groupId: row.group_id }),
      ),
    );
  }

  directPage(userId: string, query: PageQuery): Promise<MessageRecord[]> {
    return timed("direct_page", async () =>
      (await this.direct.page(userId, query)).map((row) =>
        toRecord(row, { conversationId: row.conversation_id, groupId: "" }),
      ),
    );
  }

  close(): Promise<void> {
    return this.client.shutdown();
  }

  /**
   * Sends every request at once (a persister batch is at most a few hundred messages; the driver
   * pipelines them over its connections): one statement alone, several as an unlogged batch,
   * routed to a replica of the first one's partition.
   */
  private async executeAll(requests: Statement[][]): Promise<void> {
    await Promise.all(
      requests.map(([first, ...rest]) => {
        if (!first) return undefined;
        if (rest.length === 0) return this.client.execute(first.query, first.params);
        return this.client.batch([first, ...rest], { logged: false });
      }),
    );
  }
}

type Statement = { query: string; params: unknown[] };

/** A row of this record in a batch, roughly: its content and a fixed share for the rest. */
function rowBytes(r: MessageRecord, attachments: Buffer | null): number {
  const content = r.ciphertext.length + r.wrappedKey.length + r.nonce.length + (attachments?.length ?? 0);
  return content + ROW_OVERHEAD_BYTES;
}

function shared(r: MessageRecord, attachments: Buffer | null): unknown[] {
  return [
    r.messageId,
    r.senderId,
    r.recipientId,
    r.sentAt,
    r.clientMessageId,
    r.ciphertext,
    r.nonce,
    r.wrappedKey,
    attachments,
  ];
}

function toRecord(row: types.Row, where: { conversationId: string; groupId: string }): MessageRecord {
  return {
    messageId: row.message_id.toString(),
    conversationId: where.conversationId,
    senderId: row.sender_id,
    recipientId: row.recipient_id,
    groupId: where.groupId,
    sentAt: row.sent_at,
    clientMessageId: row.client_message_id,
    ciphertext: row.ciphertext,
    nonce: row.nonce,
    wrappedKey: row.wrapped_key,
    attachments: decodeAttachments(row.attachments),
  };
}

function timed<T>(operation: string, run: () => Promise<T>): Promise<T> {
  const end = storeDuration.startTimer({ store: "cql", operation });
  return run().finally(() => end());
}
