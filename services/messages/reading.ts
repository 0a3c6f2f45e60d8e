import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { Message } from "../gen/grpc/parley/v1/messages.js";
import { DomainError, invalidArgument } from "../kit/errors.js";
import { type LogRecord, type MessageLog, TOPICS } from "../kit/log/log.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./config.js";
import { directConversationId, groupConversationId } from "./conversations.js";
import type { Envelope } from "./envelope.js";
import type { HistoryStore, PageQuery } from "./history.js";
import {
  type CachedDirectory,
  type MembershipCheck,
  requireMember,
  requireRecipient,
} from "./participants.js";
import { PERSISTER_GROUP } from "./persister.js";
import { decodeRecord, isMessageId, toMessage } from "./records.js";
import type { Author } from "./sending.js";

export interface Page {
  /** Oldest first. */
  messages: Message[];
  /** The id to pass as `before` for the next older page; empty when there is none. */
  nextCursor: string;
}

/** Validates paging input: limit 0 means the default; above the maximum is refused, not clamped. */
export function pageQuery(limit: number, before: string): PageQuery {
  if (!Number.isInteger(limit) || limit < 0) throw invalidArgument("limit must be a positive number");
  if (limit > MAX_PAGE_SIZE) throw invalidArgument(`limit must be at most ${MAX_PAGE_SIZE}`);
  if (before && !isMessageId(before)) throw invalidArgument("before is not a valid cursor");
  return { limit: limit || DEFAULT_PAGE_SIZE, ...(before ? { before: before.toLowerCase() } : {}) };
}

/**
 * One page from the history store's page (newest first, up to limit + 1, already older than the
 * cursor) and the log tail the persister has not written yet. A record can be in both while the
 * persister commits; it is kept once. Canonical UUIDv7 strings compare like their bytes, so
 * comparing ids compares send times.
 */
export function mergePage(
  history: MessageRecord[],
  tail: MessageRecord[],
  query: PageQuery,
): { records: MessageRecord[]; nextCursor: string } {
  const byId = new Map<string, MessageRecord>();
  for (const record of [...history, ...tail]) {
    if (query.before !== undefined && record.messageId >= query.before) continue;
    if (!byId.has(record.messageId)) byId.set(record.messageId, record);
  }
  const newestFirst = [...byId.values()].sort((a, b) =>
    a.messageId < b.messageId ? 1 : a.messageId > b.messageId ? -1 : 0,
  );
  const page = newestFirst.slice(0, query.limit);
  const nextCursor = newestFirst.length > query.limit ? (page[page.length - 1]?.messageId ?? "") : "";
  return { records: page.reverse(), nextCursor };
}

/**
 * The page a conversation read serves when the history store fails: the log tail alone. The tail
 * of one conversation is a suffix of its log partition, so it holds the newest records and
 * nothing newer is missing; what is older may be in history, so the page always has a cursor
 * (a short page with a cursor, never a false end). Undefined when the tail has nothing older
 * than the cursor: then only history could answer.
 */
export function tailPage(
  tail: MessageRecord[],
  query: PageQuery,
): { records: MessageRecord[]; nextCursor: string } | undefined {
  const page = mergePage([], tail, query).records;
  const oldest = page[0]?.messageId;
  return oldest === undefined ? undefined : { records: page, nextCursor: oldest };
}

export interface ReaderDeps {
  history: HistoryStore;
  messageLog: () => Promise<MessageLog>;
  envelope: Envelope;
  directory: CachedDirectory;
  membership: MembershipCheck;
}

/** History reads: only participants (current members for groups) may read; content decrypted. */
export class MessageReader {
  constructor(private readonly deps: ReaderDeps) {}

  async listDirect(
    caller: Author,
    request: { recipientUsername: string; limit: number; before: string },
  ): Promise<Page> {
    const query = pageQuery(request.limit, request.before);
    if (request.recipientUsername) {
      const recipient = await requireRecipient(this.deps.directory, request.recipientUsername);
      const conversationId = directConversationId(caller.userId, recipient.userId);
      const page = await this.page(
        conversationId,
        () => this.deps.history.conversationPage(conversationId, { ...query, limit: query.limit + 1 }),
        query,
        tailPage,
      );
      const usernames = new Map([
        [caller.userId, caller.username],
        [recipient.userId, recipient.username],
      ]);
      return this.present(page, usernames);
    }
    const mine = (r: MessageRecord) =>
      !r.groupId && (r.senderId === caller.userId || r.recipientId === caller.userId);
    const page = await this.page(
      undefined,
      () => this.deps.history.directPage(caller.userId, { ...query, limit: query.limit + 1 }),
      query,
      undefined,
      mine,
    );
    return this.present(page, new Map([[caller.userId, caller.username]]));
  }

  async listGroup(
    caller: Author,
    request: { groupId: string; limit: number; before: string },
  ): Promise<Page> {
    const query = pageQuery(request.limit, request.before);
    await requireMember(this.deps.membership, request.groupId, caller.userId);
    const conversationId = groupConversationId(request.groupId);
    const page = await this.page(
      conversationId,
      () => this.deps.history.conversationPage(conversationId, { ...query, limit: query.limit + 1 }),
      query,
      tailPage,
    );
    return this.present(page, new Map([[caller.userId, caller.username]]));
  }

  /**
   * A page of history merged with the tail (of one conversation, or of every conversation and
   * then filtered by `keep`), both read at once: the log fixes the tail's window before the
   * history read starts, so a record the persister commits meanwhile is in one or the other
   * (MessageLog.readUncommittedAlongside). When the history store fails, a conversation read
   * falls back to the tail alone (`fallback`); a read across conversations cannot (their tails
   * are in different log partitions, so the tail alone could skip newer persisted messages) and
   * is unavailable, as is any read the tail cannot answer.
   */
  private async page(
    conversationId: string | undefined,
    readHistory: () => Promise<MessageRecord[]>,
    query: PageQuery,
    fallback?: typeof tailPage,
    keep: (record: MessageRecord) => boolean = () => true,
  ) {
    let raw: LogRecord[];
    let history: { records: MessageRecord[] } | { failure: unknown };
    try {
      [raw, history] = await (await this.deps.messageLog()).readUncommittedAlongside(
        TOPICS.messages,
        PERSISTER_GROUP,
        conversationId,
        () =>
          readHistory().then(
            (records) => ({ records }),
            (failure: unknown) => ({ failure }),
          ),
      );
    } catch (err) {
      throw new DomainError("unavailable", "message history is unavailable", { cause: err });
    }
    // Decodable records only: the rest go to the persister's dead-letter topic.
    const tail: MessageRecord[] = [];
    for (const entry of raw) {
      const record = decodeRecord(entry.value);
      if (typeof record !== "string" && keep(record)) tail.push(record);
    }
    if ("failure" in history) {
      const page = fallback?.(tail, query);
      if (page) return page;
      throw new DomainError("unavailable", "message history is unavailable", { cause: history.failure });
    }
    return mergePage(history.records, tail, query);
  }

  private async present(
    page: { records: MessageRecord[]; nextCursor: string },
    known: Map<string, string>,
  ): Promise<Page> {
    const unknown = new Set<string>();
    for (const r of page.records) {
      for (const id of [r.senderId, r.recipientId]) if (id && !known.has(id)) unknown.add(id);
    }
    const usernames =
      unknown.size > 0 ? new Map([...known, ...(await this.deps.directory.usernames(unknown))]) : known;
    const contents = await this.deps.envelope.openAll(page.records);
    return {
      messages: page.records.map((r, i) => toMessage(r, contents[i] ?? "", usernames)),
      nextCursor: page.nextCursor,
    };
  }
}
