import { describe, expect, it } from "vitest";
import { directConversationId, groupConversationId, parseConversationId } from "./conversations.js";

describe("conversation ids", () => {
  it("names a direct conversation the same whichever participant writes", () => {
    expect(directConversationId("u-b", "u-a")).toBe("d:u-a:u-b");
    expect(directConversationId("u-a", "u-b")).toBe("d:u-a:u-b");
  });

  it("names a conversation with yourself once", () => {
    expect(directConversationId("u-a", "u-a")).toBe("d:u-a:u-a");
  });

  it("names a group conversation by its group", () => {
    expect(groupConversationId("g1")).toBe("g:g1");
  });

  it("parses what it makes", () => {
    expect(parseConversationId("d:u-a:u-b")).toEqual({
      kind: "direct",
      id: "d:u-a:u-b",
      userIds: ["u-a", "u-b"],
    });
    expect(parseConversationId("g:g1")).toEqual({ kind: "group", id: "g:g1", groupId: "g1" });
  });

  it("refuses ids that would not parse back unambiguously", () => {
    expect(() => directConversationId("a:b", "c")).toThrow();
    expect(() => groupConversationId("")).toThrow();
    expect(() => groupConversationId("g:1")).toThrow();
    for (const bad of ["", "d:a", "d:b:a", "d:a:b:c", "g:", "g:a:b", "x:a", "d: a:b"]) {
      expect(parseConversationId(bad), bad).toBeUndefined();
    }
  });
});
