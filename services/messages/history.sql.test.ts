import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { openTestStores, type TestStores } from "./fixtures.js";
import { SqlHistoryStore } from "./history.sql.js";
import { newMessageId, timeOfMessageId } from "./records.js";

function record(conversationId: string, senderId: string, recipientId: string, groupId = ""): MessageRecord {
  const messageId = newMessageId();
  return {
    messageId,
    conversationId,
    senderId,
    recipientId,
    groupId,
    sentAt: timeOfMessageId(messageId),
    clientMessageId: `c-${messageId}`,
    ciphertext: Buffer.from(`sealed ${messageId}`),
    nonce: Buffer.alloc(12, 7),
    wrappedKey: Buffer.from("wrapped"),
  };
}

describe("the SQL history store", () => {
  let stores: TestStores;
  let history: SqlHistoryStore;
  // Alice and Bob talk; Alice and Carol talk; a group talks. Sent in this order.
  const written: MessageRecord[] = [];

  beforeAll(async () => {
    stores = await openTestStores();
    history = new SqlHistoryStore(stores.db);
    for (let i = 0; i < 6; i++) {
      written.push(record("d:alice:bob", i % 2 ? "bob" : "alice", i % 2 ? "alice" : "bob"));
      written.push(record("d:alice:carol", "carol", "alice"));
      written.push(record("g:g1", "bob", "", "g1"));
    }
    await history.write(written.slice(0, 10));
    await history.write(written.slice(10));
  });
  afterAll(() => stores.close());

  const ofConversation = (id: string) => written.filter((r) => r.conversationId === id);
  const newestFirstIds = (records: MessageRecord[]) => records.map((r) => r.messageId).reverse();

  it("gives back exactly what was written", async () => {
    const [newest] = await history.conversationPage("d:alice:carol", { limit: 1 });
    expect(newest).toEqual(ofConversation("d:alice:carol").at(-1));
  });

  it("pages a conversation newest first and continues from a cursor", async () => {
    const all = newestFirstIds(ofConversation("d:alice:bob"));
    const first = await history.conversationPage("d:alice:bob", { limit: 4 });
    expect(first.map((r) => r.messageId)).toEqual(all.slice(0, 4));
    const second = await history.conversationPage("d:alice:bob", { limit: 4, before: all[3] });
    expect(second.map((r) => r.messageId)).toEqual(all.slice(4));
  });

  it("pages a user's direct messages across conversations, sent and received, never group ones", async () => {
    const direct = written.filter((r) => !r.groupId);
    const page = await history.directPage("alice", { limit: 100 });
    expect(page.map((r) => r.messageId)).toEqual(newestFirstIds(direct));
    const older = await history.directPage("alice", { limit: 3, before: page[2]?.messageId });
    expect(older.map((r) => r.messageId)).toEqual(newestFirstIds(direct).slice(3, 6));
    const bob = await history.directPage("bob", { limit: 100 });
    expect(bob.map((r) => r.messageId)).toEqual(newestFirstIds(ofConversation("d:alice:bob")));
  });

  it("keeps one row per message id when a batch is written again", async () => {
    const again = { ...(written[0] as MessageRecord), ciphertext: Buffer.from("changed") };
    await history.write([again, ...written.slice(0, 5)]);
    const page = await history.conversationPage("d:alice:bob", { limit: 100 });
    expect(page).toHaveLength(6);
    expect(page.at(-1)?.ciphertext.toString()).toBe(`sealed ${written[0]?.messageId}`);
  });

  it("has an empty page for a conversation with no messages", async () => {
    expect(await history.conversationPage("d:x:y", { limit: 10 })).toEqual([]);
  });
});
