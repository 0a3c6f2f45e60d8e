import { describe, expect, it } from "vitest";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { mergePage, pageQuery, tailPage } from "./reading.js";
import { newMessageId } from "./records.js";

const ids = Array.from({ length: 10 }, () => newMessageId());

function record(id: string): MessageRecord {
  return {
    messageId: id,
    conversationId: "d:a:b",
    senderId: "a",
    recipientId: "b",
    groupId: "",
    sentAt: new Date(),
    clientMessageId: "",
    ciphertext: Buffer.from("x"),
    nonce: Buffer.alloc(12),
    wrappedKey: Buffer.from("k"),
    attachments: [],
  };
}
const newestFirst = (from: number, to: number) => ids.slice(from, to).reverse().map(record);
const idsOf = (records: MessageRecord[]) => records.map((r) => ids.indexOf(r.messageId));

describe("paging history merged with the log tail", () => {
  it("issues message ids in send order", () => {
    expect([...ids].sort()).toEqual(ids);
  });

  it("keeps a message that is both in history and in the tail once, oldest first", () => {
    // History has 0..6 (page of limit + 1 newest: 2..6); the tail has 5..9 (5 and 6 written meanwhile).
    const page = mergePage(newestFirst(2, 7), ids.slice(5).map(record), { limit: 4 });
    expect(idsOf(page.records)).toEqual([6, 7, 8, 9]);
    expect(page.nextCursor).toBe(ids[6]);
  });

  it("continues from the cursor with no gap and no repeat", () => {
    const before = ids[6] as string;
    const page = mergePage(newestFirst(1, 6), ids.slice(5).map(record), { limit: 4, before });
    expect(idsOf(page.records)).toEqual([2, 3, 4, 5]);
    expect(page.nextCursor).toBe(ids[2]);
    const last = mergePage(newestFirst(0, 2), ids.slice(5).map(record), {
      limit: 4,
      before: ids[2] as string,
    });
    expect(idsOf(last.records)).toEqual([0, 1]);
    expect(last.nextCursor).toBe("");
  });

  it("has no cursor when the page holds everything", () => {
    const page = mergePage(newestFirst(0, 3), [], { limit: 3 });
    expect(idsOf(page.records)).toEqual([0, 1, 2]);
    expect(page.nextCursor).toBe("");
  });

  it("serves a read made before the persister wrote anything from the tail alone", () => {
    const page = mergePage([], ids.slice(0, 3).map(record), { limit: 50 });
    expect(idsOf(page.records)).toEqual([0, 1, 2]);
  });

  it("falls back to the newest tail records with a cursor, since history may hold older ones", () => {
    const tail = ids.slice(5).map(record);
    const page = tailPage(tail, { limit: 3 });
    expect(idsOf(page?.records ?? [])).toEqual([7, 8, 9]);
    expect(page?.nextCursor).toBe(ids[7]);
    const short = tailPage(tail, { limit: 3, before: ids[7] as string });
    expect(idsOf(short?.records ?? [])).toEqual([5, 6]);
    expect(short?.nextCursor).toBe(ids[5]);
  });

  it("has no fallback page when the tail holds nothing older than the cursor", () => {
    expect(tailPage(ids.slice(5).map(record), { limit: 3, before: ids[5] as string })).toBeUndefined();
    expect(tailPage([], { limit: 3 })).toBeUndefined();
  });

  it("takes the default page size, refuses too large a page and a malformed cursor", () => {
    expect(pageQuery(0, "")).toEqual({ limit: 50 });
    expect(pageQuery(200, ids[0]?.toUpperCase() as string)).toEqual({ limit: 200, before: ids[0] });
    expect(() => pageQuery(201, "")).toThrow(/at most 200/);
    expect(() => pageQuery(-1, "")).toThrow(/limit/);
    expect(() => pageQuery(10, "not-a-cursor")).toThrow(/cursor/);
    // A valid UUID, but not a message id (v4).
    expect(() => pageQuery(10, "3b241101-e2bb-4255-8caf-4136c566a962")).toThrow(/cursor/);
  });
});
