import { randomBytes } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReceiptRecord, type UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";
import {
  GroupEvent,
  type MessageRecord,
  MessageRecord as Records,
} from "../gen/grpc/parley/internal/v1/records.js";
import { ReceiptKind } from "../gen/grpc/parley/v1/events.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { type Subscription, TOPICS } from "../kit/log/log.js";
import type { KafkaLog } from "../kit/log/log.kafka.js";
import { deleteTestTopics, openTestKafkaLog, testKafkaOptions } from "../kit/log/log.kafka.testing.js";
import { createLogger } from "../kit/logger.js";
import { type FreshPostgres, openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { eventually } from "../kit/testing/eventually.js";
import { directConversationId } from "../messages/conversations.js";
import { timeOfMessageId } from "../messages/records.js";
import { Delivery, startConsumers } from "./delivery.js";
import type { DeliveryStore } from "./store.js";
import { SqlDeliveryStore } from "./store.sql.js";

/**
 * Delivery's consumers on the real Kafka broker and the real PostgreSQL: the batch that crashes
 * after its inbox transaction committed (before the offsets) is consumed again and changes nothing.
 */

const silent = createLogger({ level: "silent" });
const GROUP_ID = uuidv7();
const JOINED = new Date("2020-01-01T00:00:00Z");
const LATE = "late";

function direct(from: string, to: string, n: number): MessageRecord {
  const messageId = uuidv7();
  return {
    messageId,
    conversationId: directConversationId(from, to),
    senderId: from,
    recipientId: to,
    groupId: "",
    sentAt: timeOfMessageId(messageId),
    clientMessageId: `c${n}`,
    ciphertext: randomBytes(16),
    nonce: randomBytes(12),
    wrappedKey: Buffer.from(`plain:${n}`),
    attachments: [],
  };
}

function inGroup(from: string, n: number): MessageRecord {
  return { ...direct(from, "x", n), conversationId: `g:${GROUP_ID}`, recipientId: "", groupId: GROUP_ID };
}

describe("delivery's consumers on Kafka", () => {
  const options = testKafkaOptions();
  let log: KafkaLog;
  let pg: FreshPostgres;
  let store: SqlDeliveryStore;
  let consumers: Subscription | undefined;
  const pushed: UserEvent[] = [];
  let crashes = 0;

  beforeAll(async () => {
    [log, pg] = await Promise.all([openTestKafkaLog(options), openFreshPostgres("delivery")]);
    store = await SqlDeliveryStore.open(pg.db);
  }, 60_000);
  afterAll(async () => {
    await consumers?.stop();
    await log?.close();
    await pg?.close();
    await deleteTestTopics(options.topicPrefix);
  });

  /** Delivery over the real store, except that the first append that writes something crashes after its commit. */
  function startDelivery(crashOnce: boolean) {
    const crashing: DeliveryStore = Object.create(store);
    crashing.append = async (events) => {
      const written = await store.append(events);
      if (crashOnce && written.length > 0 && crashes === 0) {
        crashes++;
        throw new Error("crashed after the inbox commit, before the offset commit");
      }
      return written;
    };
    const delivery = new Delivery({
      store: crashing,
      groups: {
        async members(groupId) {
          if (groupId !== GROUP_ID) return undefined;
          return [
            { userId: "alice", joinedAt: JOINED },
            { userId: "carol", joinedAt: JOINED },
            // Joined after every message of this test was sent.
            { userId: LATE, joinedAt: new Date(Date.now() + 3600_000) },
          ];
        },
        coMembers: async () => [],
      },
      sources: {
        open: async (record) => Buffer.from(record.wrappedKey).toString(),
        usernames: async (ids) => new Map([...ids].map((id) => [id, `name-${id}`])),
      },
      online: { lastSeen: async () => [] },
      pusher: { push: async (events) => void pushed.push(...events) },
      log,
      typingLimiter: new MemoryRateLimiter({ limit: 10, windowSeconds: 10 }),
      logger: silent,
    });
    return startConsumers(log, delivery, 5);
  }

  it("writes every event once, in order, after a crash between the inbox commit and the offset commit", async () => {
    const messages = [
      ...Array.from({ length: 12 }, (_, i) => direct("alice", "bob", i)),
      ...Array.from({ length: 6 }, (_, i) => inGroup(i % 2 ? "carol" : "alice", 100 + i)),
    ];
    await log.append(
      TOPICS.messages,
      messages.map((r) => ({ key: r.conversationId, value: Records.encode(r).finish() })),
    );
    const groupEvent: GroupEvent = {
      eventId: uuidv7(),
      groupId: GROUP_ID,
      actorId: "alice",
      occurredAt: new Date(),
      renamed: { name: "renamed" },
    };
    await log.append(TOPICS.groups, [{ key: GROUP_ID, value: GroupEvent.encode(groupEvent).finish() }]);
    const receipt: ReceiptRecord = {
      receiptId: uuidv7(),
      userId: "bob",
      kind: ReceiptKind.RECEIPT_KIND_READ,
      conversationId: directConversationId("alice", "bob"),
      messageId: messages[11]?.messageId as string,
      recordedAt: new Date(),
    };
    await log.append(TOPICS.receipts, [
      { key: receipt.conversationId, value: ReceiptRecord.encode(receipt).finish() },
    ]);

    consumers = await startDelivery(true);
    const inbox = async (user: string) => (await store.replay(user, 0, 1000)).entries;
    await eventually(async () => (await inbox("alice")).length === 12 + 6 + 1 + 1, 30_000);
    await eventually(async () => (await inbox("bob")).length === 12 + 1, 30_000);
    expect(crashes).toBe(1);

    for (const user of ["alice", "bob", "carol"]) {
      const entries = await inbox(user);
      expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
      const keys = entries.map((e) => e.eventKey);
      expect(new Set(keys).size).toBe(keys.length);
      // Each conversation in the order it was appended.
      const order = (conversation: MessageRecord[]) =>
        keys.filter((k) => conversation.some((m) => `m:${m.messageId}` === k));
      expect(order(messages.slice(0, 12))).toEqual(
        user === "carol" ? [] : messages.slice(0, 12).map((m) => `m:${m.messageId}`),
      );
      expect(order(messages.slice(12))).toEqual(
        user === "bob" ? [] : messages.slice(12).map((m) => `m:${m.messageId}`),
      );
    }
    expect(await inbox(LATE)).toEqual([]);
    // Group changes and messages are different topics: their relative order is not promised.
    expect((await inbox("carol")).map((e) => e.kind).sort()).toEqual(["group", ...Array(6).fill("message")]);
    // The read receipt reached both parties of the direct conversation, and nobody else.
    expect((await inbox("bob")).filter((e) => e.kind === "receipt")).toHaveLength(1);
    expect((await inbox("carol")).filter((e) => e.kind === "receipt")).toHaveLength(0);
    // What was pushed was decrypted (here: the fake opener) and carries the inbox seqs.
    const toBob = pushed.filter((e) => e.userId === "bob" && e.event?.message);
    expect(toBob.length).toBeGreaterThanOrEqual(12 - 5);
    expect(toBob.at(-1)?.event?.message?.message?.content).toBe("plain:11");

    // Restarted with the offsets committed: nothing is consumed again, only what is new.
    await consumers.stop();
    const before = await Promise.all(["alice", "bob", "carol"].map(inbox));
    consumers = await startDelivery(false);
    const more = direct("bob", "alice", 99);
    await log.append(TOPICS.messages, [{ key: more.conversationId, value: Records.encode(more).finish() }]);
    await eventually(async () => (await inbox("bob")).length === (before[1]?.length ?? 0) + 1, 30_000);
    const after = await Promise.all(["alice", "bob", "carol"].map(inbox));
    expect(after[0]?.length).toBe((before[0]?.length ?? 0) + 1);
    expect(after[2]).toEqual(before[2]);
    expect(after[1]?.at(-1)?.eventKey).toBe(`m:${more.messageId}`);
  }, 90_000);
});
