import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";

export interface PageQuery {
  /** Only messages with an id older than this one (a message id). */
  before?: string;
  limit: number;
}

/**
 * The history role: where the persister writes messages and reads page them back. Embedded on
 * SQL now; Cassandra/ScyllaDB next (a table partitioned by conversation and time bucket, and
 * one by user for the direct messages across conversations), so every query is by one key,
 * ordered by message id (time-ordered), newest first.
 */
export interface HistoryStore {
  /** Writes records; a record already stored (same message id) is left as it is. */
  write(records: MessageRecord[]): Promise<void>;
  /** Up to `limit` messages of a conversation, newest first. */
  conversationPage(conversationId: string, query: PageQuery): Promise<MessageRecord[]>;
  /** Up to `limit` direct messages the user sent or received, across conversations, newest first. */
  directPage(userId: string, query: PageQuery): Promise<MessageRecord[]>;
}
