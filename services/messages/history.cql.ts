import { type Client, concurrent, type types } from "cassandra-driver";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { storeDuration } from "../kit/metrics.js";
import { type CqlHistoryConfig, createCqlClient } from "./history.cql.client.js";
import { migrateKeyspace, settleBucketDays } from "./history.cql.schema.js";
import { Timeline } from "./history.cql.timeline.js";
import type { HistoryStore, PageQuery } from "./history.js";
import { decodeAttachments, encodeAttachments, timeOfMessageId } from "./records.js";

const DAY_MS = 86_400_000;
/** In-flight statements of one write; the driver pipelines them over its connections. */
const WRITE_CONCURRENCY = 64;
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
      const buckets = new Map<string, { query: string; params: unknown[] }>();
      const rows: { query: string; params: unknown[] }[] = [];
      for (const r of records) {
        const bucket = this.bucketOf(r.messageId);
        buckets.set(
          `c|${r.conversationId}|${bucket}`,
          this.conversations.bucketInsert(r.conversationId, bucket),
        );
        rows.push({
          query: `INSERT INTO messages_by_conversation (conversation_id, bucket, ${CONVERSATION_COLUMNS})
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          params: [r.conversationId, bucket, ...shared(r), r.groupId],
        });
        if (r.groupId) continue;
        for (const user of new Set([r.senderId, r.recipientId])) {
          buckets.set(`u|${user}|${bucket}`, this.direct.bucketInsert(user, bucket));
          rows.push({
            query: `INSERT INTO direct_messages_by_user (user_id, bucket, ${DIRECT_COLUMNS})
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            params: [user, bucket, ...shared(r), r.conversationId],
          });
        }
      }
      // A bucket is listed before its rows exist, so a reader walking the index never skips rows.
      const unknown = [...buckets].filter(([key]) => !this.knownBuckets.has(key));
      await this.executeAll(unknown.map(([, statement]) => statement));
      await this.executeAll(rows);
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

  private async executeAll(statements: { query: string; params: unknown[] }[]): Promise<void> {
    if (statements.length === 0) return;
    if (statements.length === 1) {
      const [only] = statements as [{ query: string; params: unknown[] }];
      await this.client.execute(only.query, only.params);
      return;
    }
    await concurrent.executeConcurrent(this.client, statements, { concurrencyLevel: WRITE_CONCURRENCY });
  }
}

function shared(r: MessageRecord): unknown[] {
  return [
    r.messageId,
    r.senderId,
    r.recipientId,
    r.sentAt,
    r.clientMessageId,
    r.ciphertext,
    r.nonce,
    r.wrappedKey,
    encodeAttachments(r.attachments),
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
