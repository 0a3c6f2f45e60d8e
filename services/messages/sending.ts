import { context, propagation } from "@opentelemetry/api";
import { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { Attachment } from "../gen/grpc/parley/v1/media.js";
import type { Message } from "../gen/grpc/parley/v1/messages.js";
import { DomainError, invalidArgument } from "../kit/errors.js";
import type { RateLimiter } from "../kit/limiter/limiter.js";
import { type MessageLog, TOPICS } from "../kit/log/log.js";
import type { Logger } from "../kit/logger.js";
import { messagesSent, rateLimited } from "../kit/metrics.js";
import { MAX_CLIENT_MESSAGE_ID_LENGTH } from "./config.js";
import { directConversationId, groupConversationId } from "./conversations.js";
import type { Envelope } from "./envelope.js";
import { type ClientMessageIds, InFlight } from "./idempotency.js";
import {
  type CachedDirectory,
  type MembershipCheck,
  requireMember,
  requireRecipient,
} from "./participants.js";
import { newMessageId, timeOfMessageId, toMessage } from "./records.js";

export interface Author {
  userId: string;
  username: string;
}

/** What messages asks of media: the references of ready attachments the sender uploaded here. */
export interface AttachmentResolver {
  resolve(attachmentIds: string[], senderId: string, conversationId: string): Promise<Attachment[]>;
}

/** Most attachments one message may carry. */
export const MAX_ATTACHMENTS = 10;

interface SendRequest {
  content: string;
  clientMessageId: string;
  attachmentIds?: string[];
}

export interface SenderDeps {
  attachments?: AttachmentResolver;
  directory: CachedDirectory;
  membership: MembershipCheck;
  envelope: Envelope;
  messageLog: () => Promise<MessageLog>;
  clientMessageIds: ClientMessageIds;
  limiter: RateLimiter;
  maxContentBytes: number;
  logger: Logger;
}

interface Target {
  kind: "direct" | "group";
  conversationId: string;
  recipientId: string;
  groupId: string;
  usernames: Map<string, string>;
}

interface Sent {
  record: MessageRecord;
  content: string;
  /** The appended mark being written, when this send made one (see sendOnce). */
  marked?: Promise<void>;
}

/**
 * Sends: check the author may write, seal the content, append to the message log and answer
 * only once the log has it. With a client message id, a retry answers with the first message.
 */
export class MessageSender {
  private readonly inFlight = new InFlight<Sent>();

  constructor(private readonly deps: SenderDeps) {}

  async sendDirect(author: Author, request: SendRequest & { recipientUsername: string }): Promise<Message> {
    this.validate(request);
    await this.limit(author);
    const recipient = await requireRecipient(this.deps.directory, request.recipientUsername);
    // Writing to yourself is allowed (a notes-to-self conversation, d:<me>:<me>).
    return this.send(author, request, {
      kind: "direct",
      conversationId: directConversationId(author.userId, recipient.userId),
      recipientId: recipient.userId,
      groupId: "",
      usernames: new Map([
        [author.userId, author.username],
        [recipient.userId, recipient.username],
      ]),
    });
  }

  async sendGroup(author: Author, request: SendRequest & { groupId: string }): Promise<Message> {
    this.validate(request);
    await this.limit(author);
    await requireMember(this.deps.membership, request.groupId, author.userId);
    return this.send(author, request, {
      kind: "group",
      conversationId: groupConversationId(request.groupId),
      recipientId: "",
      groupId: request.groupId,
      usernames: new Map([[author.userId, author.username]]),
    });
  }

  private validate(request: SendRequest): void {
    const attachmentIds = request.attachmentIds ?? [];
    if (attachmentIds.length > MAX_ATTACHMENTS) {
      throw invalidArgument(`a message may carry at most ${MAX_ATTACHMENTS} attachments`);
    }
    if (new Set(attachmentIds).size !== attachmentIds.length) {
      throw invalidArgument("attachment_ids must not repeat an id");
    }
    // A message that carries attachments may have no text (a photo without a caption).
    if (request.content.trim().length === 0 && attachmentIds.length === 0) {
      throw invalidArgument("content must not be empty");
    }
    if (!request.content.isWellFormed()) throw invalidArgument("content must be valid UTF-8");
    if (Buffer.byteLength(request.content, "utf8") > this.deps.maxContentBytes) {
      throw invalidArgument(`content must be at most ${this.deps.maxContentBytes} bytes`);
    }
    const id = request.clientMessageId;
    if (id.length > MAX_CLIENT_MESSAGE_ID_LENGTH) {
      throw invalidArgument(`client_message_id must be at most ${MAX_CLIENT_MESSAGE_ID_LENGTH} characters`);
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
    if (/[\u0000-\u001f\u007f]/.test(id) || !id.isWellFormed()) {
      throw invalidArgument("client_message_id must be printable text");
    }
  }

  private async limit(author: Author): Promise<void> {
    const { allowed, retryAfterSeconds } = await this.deps.limiter.hit(author.userId);
    if (allowed) return;
    rateLimited.inc({ limiter: "messages_send" });
    throw new DomainError("resource_exhausted", "too many messages; slow down", { retryAfterSeconds });
  }

  private async send(author: Author, request: SendRequest, target: Target): Promise<Message> {
    const { content, clientMessageId } = request;
    const attachmentIds = request.attachmentIds ?? [];
    const build = () => this.build(author, target, content, clientMessageId, attachmentIds);
    let sent: Sent;
    if (!clientMessageId) {
      const record = await build();
      await this.append(record);
      messagesSent.inc({ kind: target.kind });
      sent = { record, content };
    } else {
      sent = await this.inFlight.run(
        `${author.userId}\u0000${clientMessageId}`,
        () => this.sendOnce(build, target, content),
        (first) => first.marked,
      );
      assertSameMessage(sent, target, content);
    }
    return toMessage(sent.record, sent.content, target.usernames);
  }

  /**
   * The idempotent path: claim the client message id with the record, then append it. The answer
   * does not wait for the appended mark: until it is written, a retry in this process gets this
   * send's answer from the in-flight map, and one elsewhere finds the id unmarked and appends the
   * same record again, which history and readers keep once.
   */
  private async sendOnce(
    build: () => Promise<MessageRecord>,
    target: Target,
    content: string,
  ): Promise<Sent> {
    const record = await build();
    const claim = await this.deps.clientMessageIds.claim(record);
    if (claim.claimed) {
      await this.append(record);
      messagesSent.inc({ kind: target.kind });
      return { record, content, marked: this.markAppended(record) };
    }
    const first: Sent = { record: claim.record, content: await this.deps.envelope.open(claim.record) };
    assertSameMessage(first, target, content);
    if (!claim.appended) {
      // The first attempt failed or died before the log confirmed it. Appending the same record
      // (same id) again is safe: history and readers keep one message per id.
      await this.append(first.record);
      messagesSent.inc({ kind: target.kind });
      first.marked = this.markAppended(first.record);
    }
    return first;
  }

  private async build(
    author: Author,
    target: Target,
    content: string,
    clientMessageId: string,
    attachmentIds: string[],
  ): Promise<MessageRecord> {
    const attachments = await this.resolveAttachments(attachmentIds, author, target);
    const messageId = newMessageId();
    const sealed = await this.deps.envelope.seal(messageId, target.conversationId, content);
    return {
      messageId,
      conversationId: target.conversationId,
      senderId: author.userId,
      recipientId: target.recipientId,
      groupId: target.groupId,
      sentAt: timeOfMessageId(messageId),
      clientMessageId,
      ...sealed,
      attachments,
    };
  }

  /** Each id must name a ready attachment the author uploaded for this conversation (media decides). */
  private async resolveAttachments(ids: string[], author: Author, target: Target): Promise<Attachment[]> {
    if (ids.length === 0) return [];
    if (!this.deps.attachments) throw new DomainError("unavailable", "attachments are not available");
    return this.deps.attachments.resolve(ids, author.userId, target.conversationId);
  }

  private async append(record: MessageRecord): Promise<void> {
    const headers: Record<string, string> = { "message-id": record.messageId };
    propagation.inject(context.active(), headers);
    try {
      const log = await this.deps.messageLog();
      await log.append(TOPICS.messages, [
        { key: record.conversationId, value: MessageRecord.encode(record).finish(), headers },
      ]);
    } catch (err) {
      throw new DomainError("unavailable", "the message could not be stored; try again", { cause: err });
    }
  }

  private async markAppended(record: MessageRecord): Promise<void> {
    try {
      await this.deps.clientMessageIds.markAppended(record.senderId, record.clientMessageId);
    } catch (err) {
      // The message is durable; a later retry merely appends the same record again.
      this.deps.logger.warn({ err, messageId: record.messageId }, "could not mark a client message id sent");
    }
  }
}

/** A client message id names one message: reusing it for another is a client bug, reported. */
function assertSameMessage(sent: Sent, target: Target, content: string): void {
  if (sent.record.conversationId !== target.conversationId || sent.content !== content) {
    throw invalidArgument("client_message_id was already used for a different message");
  }
}
