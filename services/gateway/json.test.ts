import { describe, expect, it } from "vitest";
import { GroupRole } from "../gen/grpc/parley/v1/groups.js";
import type { Message } from "../gen/grpc/parley/v1/messages.js";
import { groupJson, messageJson, messagePageJson } from "./json.js";

const sentAt = new Date("2030-01-02T03:04:05.678Z");
const base: Message = {
  messageId: "m1",
  conversationId: "c1",
  senderId: "u1",
  senderUsername: "alice",
  recipientId: "",
  recipientUsername: "",
  groupId: "",
  content: "hi",
  sentAt,
  clientMessageId: "",
  attachments: [],
};

describe("REST JSON", () => {
  it("gives a one-on-one message the seed's fields, timestamp in RFC 3339, and no groupId", () => {
    const json = messageJson({ ...base, recipientId: "u2", recipientUsername: "bob" });
    expect(json).toEqual({
      messageId: "m1",
      senderId: "u1",
      recipientId: "u2",
      content: "hi",
      timestamp: "2030-01-02T03:04:05.678Z",
      senderUsername: "alice",
      recipientUsername: "bob",
    });
    expect(Object.keys(json ?? {}).slice(0, 5)).toEqual([
      "messageId",
      "senderId",
      "recipientId",
      "content",
      "timestamp",
    ]);
  });

  it("gives a group message groupId and no recipient, and keeps a client message id", () => {
    const json = messageJson({ ...base, groupId: "g1", clientMessageId: "c-1" });
    expect(json).toEqual({
      messageId: "m1",
      groupId: "g1",
      senderId: "u1",
      content: "hi",
      timestamp: "2030-01-02T03:04:05.678Z",
      senderUsername: "alice",
      clientMessageId: "c-1",
    });
  });

  it("turns an empty next cursor into null", () => {
    expect(messagePageJson({ messages: [], nextCursor: "" })).toEqual({ messages: [], nextCursor: null });
    expect(messagePageJson({ messages: [], nextCursor: "abc" }).nextCursor).toBe("abc");
  });

  it("names group roles owner, admin and member", () => {
    const member = (role: GroupRole) => ({ userId: `u${role}`, username: "x", role, joinedAt: sentAt });
    const json = groupJson({
      groupId: "g1",
      name: "g",
      ownerId: "u3",
      members: [
        member(GroupRole.GROUP_ROLE_OWNER),
        member(GroupRole.GROUP_ROLE_ADMIN),
        member(GroupRole.GROUP_ROLE_MEMBER),
      ],
      createdAt: sentAt,
    });
    expect(json?.members.map((m) => m.role)).toEqual(["owner", "admin", "member"]);
  });
});
