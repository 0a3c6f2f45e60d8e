import { validate as isUuid, version as uuidVersion } from "uuid";
import { AttachmentList, MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { Attachment } from "../gen/grpc/parley/v1/media.js";
import type { Message } from "../gen/grpc/parley/v1/messages.js";
import { newTimeOrderedId } from "../kit/ids.js";
import { parseConversationId } from "./conversations.js";

/** A new message id: UUIDv7, so ids sort by send time (and within one process, by send order). */
export function newMessageId(): string {
  return newTimeOrderedId();
}

export function isMessageId(value: string): boolean {
  return isUuid(value) && uuidVersion(value) === 7;
}

/** The send time a UUIDv7 carries (its first 48 bits, epoch milliseconds). */
export function timeOfMessageId(id: string): Date {
  return new Date(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16));
}

/** A log or history record in a shape this service wrote, or a reason it is not. */
export function decodeRecord(value: Uint8Array): MessageRecord | string {
  let record: MessageRecord;
  try {
    record = MessageRecord.decode(value);
  } catch (err) {
    return `not a MessageRecord: ${(err as Error).message}`;
  }
  if (!isMessageId(record.messageId)) return "message_id is not a UUIDv7";
  const conversation = parseConversationId(record.conversationId);
  if (!conversation) return "conversation_id is malformed";
  if (!record.senderId) return "sender_id is missing";
  if (conversation.kind === "group" ? !record.groupId : !record.recipientId) return "no recipient or group";
  if (!record.sentAt || Number.isNaN(record.sentAt.getTime())) return "sent_at is missing";
  if (record.nonce.length === 0 || record.ciphertext.length === 0 || record.wrappedKey.length === 0) {
    return "content is not sealed";
  }
  return { ...record, messageId: record.messageId.toLowerCase() };
}

/** The public message of a record, given its plaintext and the usernames of its people. */
export function toMessage(record: MessageRecord, content: string, usernames: Map<string, string>): Message {
  return {
    messageId: record.messageId,
    conversationId: record.conversationId,
    senderId: record.senderId,
    senderUsername: usernames.get(record.senderId) ?? "",
    recipientId: record.recipientId,
    recipientUsername: record.recipientId ? (usernames.get(record.recipientId) ?? "") : "",
    groupId: record.groupId,
    content,
    sentAt: record.sentAt,
    clientMessageId: record.clientMessageId,
    attachments: record.attachments,
  };
}

/** A message's attachment references as history stores them: one column, null when there are none. */
export function encodeAttachments(attachments: Attachment[]): Buffer | null {
  return attachments.length === 0 ? null : Buffer.from(AttachmentList.encode({ attachments }).finish());
}

export function decodeAttachments(bytes: Uint8Array | null | undefined): Attachment[] {
  return bytes && bytes.length > 0 ? AttachmentList.decode(bytes).attachments : [];
}
