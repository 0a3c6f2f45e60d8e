import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReceiptRecord } from "../gen/grpc/parley/internal/v1/delivery.js";
import { GroupEvent, MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { ReceiptKind } from "../gen/grpc/parley/v1/events.js";
import type { LogRecord } from "../kit/log/log.js";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { directConversationId } from "../messages/conversations.js";
import { timeOfMessageId } from "../messages/records.js";
import { type FanoutDependencies, fanOut, groupEvents, messageEvents, receiptEvents } from "./fanout.js";
import { SqlDeliveryStore } from "./store.sql.js";

const GROUP = uuidv7();
/** A group of three who all joined at T0. */
const TRIO = uuidv7();
const T0 = new Date("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

let dir: string;
let db: SqlDatabase;
let deps: FanoutDependencies;
const asked: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "parley-fanout-"));
  db = await openPglite(join(dir, "delivery"), "delivery", process.env.PARLEY_PGLITE_TEMPLATE);
  deps = {
    store: await SqlDeliveryStore.open(db),
    logger: createLogger({ level: "silent" }),
    groups: {
      async members(groupId) {
        asked.push(groupId);
        if (groupId === TRIO) return ["alice", "carol", "dave"].map((userId) => ({ userId, joinedAt: T0 }));
        if (groupId !== GROUP) return undefined;
        // carol joined at +10 s; bob was removed (not listed).
        return [
          { userId: "alice", joinedAt: T0 },
          { userId: "carol", joinedAt: at(10) },
        ];
      },
    },
  };
});
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

let offset = 0n;
const record = (value: Uint8Array, headers: Record<string, string> = {}): LogRecord => ({
  topic: "t",
  partition: 0,
  offset: offset++,
  key: "k",
  value,
  headers,
  timestamp: Date.now(),
});

function message(from: string, to: string | { group: string }, sentAt: Date): LogRecord {
  const id = uuidv7({ msecs: sentAt.getTime() });
  const group = typeof to === "object";
  return record(
    MessageRecord.encode({
      messageId: id,
      conversationId: group ? `g:${to.group}` : directConversationId(from, to),
      senderId: from,
      recipientId: group ? "" : to,
      groupId: group ? to.group : "",
      sentAt: timeOfMessageId(id),
      clientMessageId: "",
      ciphertext: Buffer.from("sealed"),
      nonce: Buffer.alloc(12),
      wrappedKey: Buffer.from("wrapped"),
      attachments: [],
    }).finish(),
  );
}

describe("recipients of a batch", () => {
  it("sends a direct message to both parties, a note to self once, a group message to members at send time", async () => {
    asked.length = 0;
    const events = await messageEvents(
      [
        message("alice", "bob", T0),
        message("dave", "dave", T0),
        message("alice", { group: GROUP }, at(5)),
        message("carol", { group: GROUP }, at(20)),
        message("alice", { group: uuidv7() }, at(20)),
        record(Buffer.from("garbage")),
      ],
      deps,
    );
    expect(events.map((e) => [e.kind, e.recipients])).toEqual([
      ["message", ["alice", "bob"]],
      ["message", ["dave"]],
      // carol joined after this one was sent; bob is no longer a member.
      ["message", ["alice"]],
      ["message", ["alice", "carol"]],
      // A group that no longer exists has nobody to deliver to.
      ["message", []],
    ]);
    expect(events.every((e) => e.eventKey.startsWith("m:"))).toBe(true);
    // Members are asked once per group per batch.
    expect(asked.filter((g) => g === GROUP)).toHaveLength(1);
    expect(await deps.store.contactsOf("bob")).toEqual(["alice"]);
    expect(await deps.store.contactsOf("dave")).toEqual([]);
  });

  it("tells the members and the member concerned of group changes, and skips role changes", async () => {
    const change = (body: Partial<GroupEvent>) =>
      record(
        GroupEvent.encode({
          eventId: uuidv7(),
          groupId: GROUP,
          actorId: "alice",
          occurredAt: at(30),
          ...body,
        }).finish(),
      );
    const events = await groupEvents(
      [
        change({ created: { name: "g", memberIds: ["alice", "bob"] } }),
        change({ memberAdded: { userId: "erin" } }),
        change({ memberRemoved: { userId: "bob" } }),
        change({ renamed: { name: "h" } }),
        change({ memberRoleChanged: { userId: "carol", role: "admin" } }),
        record(Buffer.from([0xff, 0xff, 0xff])),
      ],
      deps,
    );
    expect(events.map((e) => e.recipients)).toEqual([
      ["alice", "bob"],
      ["alice", "carol", "erin"],
      ["alice", "carol", "bob"],
      ["alice", "carol"],
    ]);
    expect(events.every((e) => e.kind === "group" && e.eventKey.startsWith("g:"))).toBe(true);
  });

  it("sends a read receipt only to its sender's own devices when they hide read receipts", async () => {
    await deps.store.updateSettings("hider", { sendReadReceipts: false, sharePresence: true });
    const events = await receiptEvents(
      [
        receipt("alice", ReceiptKind.RECEIPT_KIND_READ, directConversationId("alice", "bob")),
        receipt("hider", ReceiptKind.RECEIPT_KIND_READ, directConversationId("alice", "hider")),
        receipt("hider", ReceiptKind.RECEIPT_KIND_DELIVERED, directConversationId("alice", "hider")),
        receipt("carol", ReceiptKind.RECEIPT_KIND_READ, "not a conversation"),
      ],
      deps,
    );
    expect(events.map((e) => e.recipients)).toEqual([["alice", "bob"], ["hider"], ["alice", "hider"]]);
  });

  it("sends a group receipt to the reader and the message's author, not to the other members", async () => {
    // Messages delivery holds (fanned out, so stored under m:<id>): alice's and zed's in the trio
    // (zed has left since), and a direct one of bob's.
    const byAlice = message("alice", { group: TRIO }, T0);
    const byZed = message("zed", { group: TRIO }, T0);
    const direct = message("bob", "carol", T0);
    await fanOut(await messageEvents([byAlice, byZed, direct], deps), deps.store);
    const idOf = (entry: LogRecord) => MessageRecord.decode(entry.value).messageId;
    await deps.store.updateSettings("dave", { sendReadReceipts: false, sharePresence: true });
    const conversation = `g:${TRIO}`;
    const READ = ReceiptKind.RECEIPT_KIND_READ;
    const DELIVERED = ReceiptKind.RECEIPT_KIND_DELIVERED;
    const events = await receiptEvents(
      [
        receipt("carol", READ, conversation, idOf(byAlice)),
        receipt("carol", DELIVERED, conversation, idOf(byAlice)),
        // Hidden read receipts stay hidden from the author; delivered ones do not.
        receipt("dave", READ, conversation, idOf(byAlice)),
        receipt("dave", DELIVERED, conversation, idOf(byAlice)),
        // The author reading their own message: their devices, once.
        receipt("alice", READ, conversation, idOf(byAlice)),
        // A message delivery no longer holds (swept), one by a former member, one of another
        // conversation: only the reader.
        receipt("carol", READ, conversation, uuidv7()),
        receipt("carol", READ, conversation, idOf(byZed)),
        receipt("carol", READ, conversation, idOf(direct)),
        // Nobody of a group that is gone.
        receipt("carol", READ, `g:${uuidv7()}`, idOf(byAlice)),
      ],
      deps,
    );
    expect(events.map((e) => e.recipients)).toEqual([
      ["carol", "alice"],
      ["carol", "alice"],
      ["dave"],
      ["dave", "alice"],
      ["alice"],
      ["carol"],
      ["carol"],
      ["carol"],
      [],
    ]);
    // Written to the inboxes: dave, a member, has none of carol's receipts.
    const written = await fanOut(events, deps.store);
    const receiptsOf = (user: string) =>
      written.filter((e) => e.userId === user).map((e) => ReceiptRecord.decode(e.payload).userId);
    expect(receiptsOf("dave")).toEqual(["dave", "dave"]);
    expect(receiptsOf("alice")).toEqual(["carol", "carol", "dave", "alice"]);
  });
});

function receipt(userId: string, kind: ReceiptKind, conversationId: string, messageId = uuidv7()): LogRecord {
  return record(
    ReceiptRecord.encode({
      receiptId: uuidv7(),
      userId,
      kind,
      conversationId,
      messageId,
      recordedAt: new Date(),
    }).finish(),
  );
}
