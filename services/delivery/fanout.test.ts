import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ReceiptRecord } from "../gen/grpc/parley/internal/v1/delivery.js";
import { GroupEvent, MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { ReceiptKind } from "../gen/grpc/parley/v1/events.js";
import type { LogRecord } from "../kit/log/log.js";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { directConversationId } from "../messages/conversations.js";
import { timeOfMessageId } from "../messages/records.js";
import {
  type FanoutDependencies,
  fanOut,
  groupEvents,
  messageEvents,
  partsByRecipient,
  receiptEvents,
} from "./fanout.js";
import type { DeliveryStore, DurableEvent, InboxEntry } from "./store.js";
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

describe("a large fan-out in parts", () => {
  const members = Array.from({ length: 10 }, (_, i) => `member-${i}-${uuidv7()}`);
  const event = (key: string, recipients: string[]): DurableEvent => ({
    eventKey: `g:${key}-${uuidv7()}`,
    kind: "group",
    payload: Buffer.from(key),
    appendedAt: T0,
    recipients,
  });
  const pairs = (events: DurableEvent[]) =>
    events.flatMap((e) => e.recipients.map((u) => `${u} ${e.eventKey}`));

  it("splits by whole users, keeps each user's events in order, and leaves a small batch whole", () => {
    const events = [
      event("a", members),
      event("b", members.slice(0, 3)),
      event("c", []),
      event("d", members.slice(5)),
    ];
    expect(partsByRecipient(events, 18)).toEqual([events]);
    const parts = partsByRecipient(events, 4);
    // members 0–2 hold two entries each, 3–4 one, 5–9 two: filled up to four entries a part.
    expect(parts.map((part) => [...new Set(part.flatMap((e) => e.recipients))])).toEqual([
      members.slice(0, 2),
      members.slice(2, 5),
      members.slice(5, 7),
      members.slice(7, 9),
      members.slice(9),
    ]);
    expect(pairs(parts.flat()).sort()).toEqual(pairs(events).sort());
    for (const part of parts) {
      // Batch order within each part; no event without recipients.
      const keys = part.map((e) => e.eventKey);
      expect(keys).toEqual(events.map((e) => e.eventKey).filter((k) => keys.includes(k)));
      expect(part.every((e) => e.recipients.length > 0)).toBe(true);
    }
    // One user with more entries than a part holds is a part alone.
    const many = Array.from({ length: 5 }, (_, i) => event(`m${i}`, members.slice(0, 1)));
    expect(partsByRecipient([...many, event("x", members.slice(1, 2))], 2).map((p) => p.length)).toEqual([
      5, 1,
    ]);
  });

  it("hands each part to its push as soon as it is written, before the next part is", async () => {
    const log: string[] = [];
    const store: DeliveryStore = Object.create(deps.store);
    store.append = async (part) => {
      log.push(`append ${part.flatMap((e) => e.recipients).length}`);
      return deps.store.append(part);
    };
    let release = () => {};
    const pushesHeld = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handed: InboxEntry[][] = [];
    let settled = false;
    const done = fanOut([event("a", members), event("b", members.slice(0, 4))], store, {
      partEntries: 5,
      written: async (entries) => {
        log.push(`push ${entries.length}`);
        handed.push(entries);
        await pushesHeld;
      },
    }).then((all) => {
      settled = true;
      return all;
    });
    await vi.waitFor(() => expect(handed).toHaveLength(3));
    expect(log).toEqual(["append 4", "push 4", "append 5", "push 5", "append 5", "push 5"]);
    // The pushes are still running: the batch is not done until they are.
    expect(settled).toBe(false);
    release();
    const all = await done;
    expect(all).toEqual(handed.flat());
    // Every member's seqs are gapless from 1, in batch order.
    for (const userId of members.slice(0, 4)) {
      expect(all.filter((e) => e.userId === userId).map((e) => [e.seq, e.payload.toString()])).toEqual([
        [1, "a"],
        [2, "b"],
      ]);
    }
  });

  it("fails the batch when a part fails, after the parts written were pushed; redelivery writes the rest", async () => {
    const group = Array.from({ length: 6 }, (_, i) => `redelivered-${i}-${uuidv7()}`);
    const events = [event("r", group)];
    let appends = 0;
    const failing: DeliveryStore = Object.create(deps.store);
    failing.append = async (part) => {
      if (++appends === 2) throw new Error("the database went away");
      return deps.store.append(part);
    };
    const pushed: string[] = [];
    const written = async (entries: InboxEntry[]) => {
      pushed.push(...entries.map((e) => e.userId));
    };
    await expect(fanOut(events, failing, { partEntries: 2, written })).rejects.toThrow(
      "the database went away",
    );
    expect(pushed).toEqual(group.slice(0, 2));
    pushed.length = 0;
    const again = await fanOut(events, deps.store, { partEntries: 2, written });
    expect(again.map((e) => e.userId)).toEqual(group.slice(2));
    expect(pushed).toEqual(group.slice(2));
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
