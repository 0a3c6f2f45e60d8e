import type { Tokens, User } from "../gen/grpc/parley/v1/auth.js";
import { type Group, type GroupMember, GroupRole } from "../gen/grpc/parley/v1/groups.js";
import type { Attachment } from "../gen/grpc/parley/v1/media.js";
import type { Message } from "../gen/grpc/parley/v1/messages.js";

/** The REST JSON of DESIGN.md §2.1: the seed's field names, timestamps in RFC 3339. */

const rfc3339 = (date: Date | undefined) => (date ? date.toISOString() : null);

export function userJson(user: User | undefined) {
  return user && { userId: user.userId, username: user.username, createdAt: rfc3339(user.createdAt) };
}

export function tokensJson(tokens: Tokens | undefined, user: User | undefined) {
  return {
    token: tokens?.accessToken,
    accessToken: tokens?.accessToken,
    tokenType: tokens?.tokenType,
    expiresIn: tokens?.expiresIn,
    refreshToken: tokens?.refreshToken,
    refreshExpiresIn: tokens?.refreshExpiresIn,
    user: userJson(user),
  };
}

/** A one-on-one message has recipientId; a group message has groupId (never both). Seed fields first. */
export function messageJson(message: Message | undefined) {
  if (!message) return undefined;
  const conversation = message.groupId
    ? { groupId: message.groupId, senderId: message.senderId }
    : { senderId: message.senderId, recipientId: message.recipientId };
  return {
    messageId: message.messageId,
    ...conversation,
    content: message.content,
    timestamp: rfc3339(message.sentAt),
    senderUsername: message.senderUsername,
    ...(message.groupId ? {} : { recipientUsername: message.recipientUsername }),
    ...(message.clientMessageId ? { clientMessageId: message.clientMessageId } : {}),
    ...(message.attachments.length > 0 ? { attachments: message.attachments.map(attachmentJson) } : {}),
  };
}

/** An attachment reference (never its bytes): fetch it with GET /attachments/{attachmentId}. */
export function attachmentJson(attachment: Attachment) {
  return {
    attachmentId: attachment.attachmentId,
    fileName: attachment.fileName,
    contentType: attachment.contentType,
    size: Number(attachment.sizeBytes),
    sha256: attachment.sha256,
    hasThumbnail: attachment.hasThumbnail,
    ...(attachment.width > 0 ? { width: attachment.width, height: attachment.height } : {}),
  };
}

export function messagePageJson(page: { messages: Message[]; nextCursor: string }) {
  return { messages: page.messages.map(messageJson), nextCursor: page.nextCursor || null };
}

const roleNames: Partial<Record<GroupRole, string>> = {
  [GroupRole.GROUP_ROLE_OWNER]: "owner",
  [GroupRole.GROUP_ROLE_ADMIN]: "admin",
  [GroupRole.GROUP_ROLE_MEMBER]: "member",
};

export const ROLE_BY_NAME = {
  member: GroupRole.GROUP_ROLE_MEMBER,
  admin: GroupRole.GROUP_ROLE_ADMIN,
} as const;

function memberJson(member: GroupMember) {
  return {
    userId: member.userId,
    username: member.username,
    role: roleNames[member.role] ?? "member",
    joinedAt: rfc3339(member.joinedAt),
  };
}

export function groupJson(group: Group | undefined) {
  return (
    group && {
      groupId: group.groupId,
      name: group.name,
      ownerId: group.ownerId,
      members: group.members.map(memberJson),
      createdAt: rfc3339(group.createdAt),
    }
  );
}
