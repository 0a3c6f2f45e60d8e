import { randomUUID } from "node:crypto";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryServiceClient, type UserEvent } from "../services/gen/grpc/parley/internal/v1/delivery.js";
import { PresenceServiceClient } from "../services/gen/grpc/parley/internal/v1/presence.js";
import { ReceiptKind } from "../services/gen/grpc/parley/v1/events.js";
import { call, createClient } from "../services/kit/grpc/client.js";
import { eventually } from "../services/kit/testing/eventually.js";
import { type Json, newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";
import { RecordingNode } from "./push-node.js";

/**
 * Delivery in the all-in-one process, against the real services: messages and group changes sent
 * over REST end up in the right inboxes (DeliveryService.Replay), and are pushed to a gateway node
 * registered with presence. The node here is a real gRPC server that records what it is pushed.
 */

const spans = new InMemorySpanExporter();
let parley: TestParley;
let api: RestClient;
let delivery: DeliveryServiceClient;
let presence: PresenceServiceClient;
let node: RecordingNode;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;
const nodeId = `test-node-${randomUUID()}`;

beforeAll(async () => {
  parley = await startTestParley({
    spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
    env: {
      PARLEY_DELIVERY_TYPING_LIMIT: "3",
      PARLEY_DELIVERY_TYPING_WINDOW_SECONDS: "60",
      PARLEY_DELIVERY_PRESENCE_GROUP_MAX_MEMBERS: "3",
    },
  });
  api = restClient(parley.url);
  delivery = createClient(DeliveryServiceClient, parley.parley.addresses.resolve("delivery"));
  presence = createClient(PresenceServiceClient, parley.parley.addresses.resolve("presence"));
  const users = await Promise.all(["alice", "bob", "carol", "dave"].map((p) => newUser(api, p)));
  [alice, bob, carol, dave] = users as [TestUser, TestUser, TestUser, TestUser];
  node = new RecordingNode();
  await node.start();
  await call(presence, "registerNode", { nodeId, pushAddress: node.address, ttlSeconds: 120 });
  await call(presence, "heartbeatStreams", {
    nodeId,
    ttlSeconds: 120,
    streams: [alice, bob, carol].map((u) => ({ userId: u.userId, streamId: `${u.username}-phone` })),
  });
}, 120_000);

afterAll(async () => {
  delivery?.close();
  presence?.close();
  node?.stop();
  await parley?.cleanup();
});

const replay = async (user: TestUser, afterSeq = "0") =>
  call(delivery, "replay", { userId: user.userId, afterSeq, limit: 1000 });

/** A user's whole inbox, once it holds at least `count` events. */
async function inboxOf(user: TestUser, count: number): Promise<UserEvent[]> {
  let events: UserEvent[] = [];
  await eventually(async () => {
    events = (await replay(user)).events;
    return events.length >= count;
  }, 10_000).catch((err) => {
    throw new Error(`${user.username} has ${events.map(describeEvent).join(", ")}; wanted ${count}`, {
      cause: err,
    });
  });
  return events;
}

/** What each event is, briefly: "message:<content>", "group:created", "receipt:read:<user>". */
function describeEvent(e: UserEvent): string {
  const event = e.event;
  if (event?.message) return `message:${event.message.message?.content}`;
  if (event?.group) {
    const g = event.group;
    if (g.created) return "group:created";
    if (g.memberAdded) return `group:added:${g.memberAdded.userId}`;
    if (g.memberRemoved) return `group:removed:${g.memberRemoved.userId}`;
    if (g.renamed) return `group:renamed:${g.renamed.name}`;
  }
  if (event?.receipt) return `receipt:${event.receipt.kind}:${event.receipt.userId}`;
  return "other";
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe("delivery, all-in-one", () => {
  let directMessageId: string;

  it("puts a direct message in both users' inboxes, decrypted, with the same event id and gapless seqs", async () => {
    const sent = await api.post("/chat/send", { recipient: bob.username, message: "hi bob" }, alice.token);
    expect(sent.status).toBe(200);
    directMessageId = sent.body.messageId;
    const [forBob] = await inboxOf(bob, 1);
    const [forAlice] = await inboxOf(alice, 1);
    for (const [event, user] of [
      [forBob, bob],
      [forAlice, alice],
    ] as const) {
      expect(event).toMatchObject({ userId: user.userId, seq: "1" });
      expect(event?.event?.eventId).toBe(directMessageId);
      expect(event?.event?.message?.message).toMatchObject({
        messageId: directMessageId,
        content: "hi bob",
        senderId: alice.userId,
        senderUsername: alice.username,
        recipientId: bob.userId,
        recipientUsername: bob.username,
      });
      expect(event?.appendedAt).toBeInstanceOf(Date);
    }
    const page = await replay(bob);
    expect(page).toMatchObject({ headSeq: "1", oldestSeq: "1", expired: false });
    expect(await replay(bob, "1")).toMatchObject({ events: [], headSeq: "1", expired: false });
    expect(await replay(bob, "5")).toMatchObject({ events: [], expired: true });
  });

  it("pushes new events to the node holding the recipients' streams, with their inbox seq", async () => {
    spans.reset();
    const sent = await api.post("/chat/send", { recipient: alice.username, message: "pushed" }, bob.token);
    const pushed = await node.next(
      (e) => e.userId === alice.userId && e.event?.message?.message?.messageId === sent.body.messageId,
    );
    expect(pushed.seq).toBe("2");
    expect(pushed.event?.message?.message?.content).toBe("pushed");
    const toBob = await node.next(
      (e) => e.userId === bob.userId && e.event?.message?.message?.messageId === sent.body.messageId,
    );
    expect(toBob.seq).toBe("2");
    // The fan-out and the push continue the send's trace (its context travels in the log headers).
    // The fan-out's span ends after the push reached the node, and one of an earlier send may end
    // after the reset above: wait for the spans of this trace, not for any.
    const finished = () => spans.getFinishedSpans();
    const send = finished().find((s) => s.name === "parley.v1.MessageService/SendDirectMessage");
    expect(send).toBeDefined();
    const traceOf = (name: string) =>
      finished()
        .filter((s) => s.name === name)
        .map((s) => s.spanContext().traceId);
    const continued = (name: string) => traceOf(name).includes(send?.spanContext().traceId ?? "");
    await eventually(
      async () => continued("delivery fan-out parley.messages") && continued("delivery push"),
      5000,
    );
    // dave has no stream: nothing was pushed for him, ever.
    expect(node.events.some((e) => e.userId === dave.userId)).toBe(false);
  });

  it("fans group messages out to members at send time: not to a member added later, not after removal", async () => {
    const bobBefore = (await replay(bob)).events.length;
    const created = await api.post(
      "/groups/create",
      { name: "climbers", members: [bob.username] },
      alice.token,
    );
    expect(created.status).toBe(201);
    const groupId = created.body.groupId;
    const send = async (user: TestUser, message: string) => {
      const res = await api.post(`/groups/${groupId}/send`, { message }, user.token);
      expect(res.status).toBe(200);
    };
    // Group events and messages are separate topics with separate consumers: wait for each step
    // to land before the next, so the expected order is the only possible one.
    await inboxOf(bob, bobBefore + 1);
    await send(alice, "before carol");
    await inboxOf(bob, bobBefore + 2);
    const added = await api.put(`/groups/${groupId}/add-member`, { member: carol.username }, alice.token);
    expect(added.status).toBe(200);
    await inboxOf(carol, 1);
    await send(bob, "with carol");
    await inboxOf(bob, bobBefore + 4);
    const removed = await api.del(`/groups/${groupId}/remove-member`, { member: bob.username }, alice.token);
    expect(removed.status).toBe(200);
    await inboxOf(bob, bobBefore + 5);
    await send(alice, "after bob");
    const forCarol = (await inboxOf(carol, 4)).map(describeEvent);
    expect(forCarol).toEqual([
      `group:added:${carol.userId}`,
      "message:with carol",
      `group:removed:${bob.userId}`,
      "message:after bob",
    ]);
    const forAlice = (await inboxOf(alice, 8)).slice(-6).map(describeEvent);
    expect(forAlice).toEqual([
      "group:created",
      "message:before carol",
      `group:added:${carol.userId}`,
      "message:with carol",
      `group:removed:${bob.userId}`,
      "message:after bob",
    ]);
    // bob: everything up to and including his removal, then nothing more of the group.
    const forBob = (await replay(bob)).events.slice(bobBefore).map(describeEvent);
    expect(forBob).toEqual([
      "group:created",
      "message:before carol",
      `group:added:${carol.userId}`,
      "message:with carol",
      `group:removed:${bob.userId}`,
    ]);
    const seqs = (await replay(bob)).events.map((e) => Number(e.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));

    const renamed = await call(
      // RenameGroup is a user call on groups; the gateway's Connect proxy serves it publicly.
      createClient(
        (await import("../services/gen/grpc/parley/v1/groups.js")).GroupServiceClient,
        parley.parley.addresses.resolve("groups"),
      ),
      "renameGroup",
      { groupId, name: "boulderers" },
      { token: alice.token },
    );
    expect(renamed.group?.name).toBe("boulderers");
    expect((await inboxOf(carol, 5)).map(describeEvent).at(-1)).toBe("group:renamed:boulderers");
    const bobAfter = (await replay(bob)).events.map(describeEvent);
    expect(bobAfter).not.toContain("message:after bob");
    expect(bobAfter).not.toContain("group:renamed:boulderers");
  });

  it("sends a read receipt to both parties, only forward, and refuses one from outside the conversation", async () => {
    const conversationId = [alice.userId, bob.userId].sort().join(":");
    const direct = `d:${conversationId}`;
    const aliceBefore = (await replay(alice)).events.length;
    await call(delivery, "recordReceipt", {
      userId: bob.userId,
      kind: ReceiptKind.RECEIPT_KIND_READ,
      conversationId: direct,
      messageId: directMessageId,
    });
    const receipt = (await inboxOf(alice, aliceBefore + 1)).at(-1);
    expect(receipt?.event?.receipt).toMatchObject({
      kind: ReceiptKind.RECEIPT_KIND_READ,
      conversationId: direct,
      messageId: directMessageId,
      userId: bob.userId,
      username: bob.username,
    });
    // Bob's own devices get it too (read markers sync).
    expect((await replay(bob)).events.map(describeEvent)).toContain(`receipt:2:${bob.userId}`);

    expect(
      await codeOf(
        call(delivery, "recordReceipt", {
          userId: carol.userId,
          kind: ReceiptKind.RECEIPT_KIND_READ,
          conversationId: direct,
          messageId: directMessageId,
        }),
      ),
    ).toBe("permission_denied");
    expect(
      await codeOf(
        call(delivery, "recordReceipt", {
          userId: bob.userId,
          kind: ReceiptKind.RECEIPT_KIND_UNSPECIFIED,
          conversationId: direct,
          messageId: directMessageId,
        }),
      ),
    ).toBe("invalid_argument");
    expect(
      await codeOf(
        call(delivery, "recordReceipt", {
          userId: bob.userId,
          kind: ReceiptKind.RECEIPT_KIND_READ,
          conversationId: "nonsense",
          messageId: directMessageId,
        }),
      ),
    ).toBe("invalid_argument");

    // The same marker again moves nothing and sends nothing; with read receipts off, a new read
    // receipt reaches only bob's own inbox.
    await call(delivery, "recordReceipt", {
      userId: bob.userId,
      kind: ReceiptKind.RECEIPT_KIND_READ,
      conversationId: direct,
      messageId: directMessageId,
    });
    const settings = await call(delivery, "updateSettings", {
      userId: bob.userId,
      settings: { sendReadReceipts: false, sharePresence: true },
    });
    expect(settings.settings).toEqual({ sendReadReceipts: false, sharePresence: true });
    const later = await api.post("/chat/send", { recipient: bob.username, message: "read me" }, alice.token);
    const bobCount = (await inboxOf(bob, 1)).length;
    await inboxOf(bob, bobCount + 0);
    await eventually(
      async () => (await replay(bob)).events.some((e) => e.event?.eventId === later.body.messageId),
      10_000,
    );
    const aliceCount = (await replay(alice)).events.length;
    const bobAt = (await replay(bob)).events.length;
    await call(delivery, "recordReceipt", {
      userId: bob.userId,
      kind: ReceiptKind.RECEIPT_KIND_READ,
      conversationId: direct,
      messageId: later.body.messageId,
    });
    await inboxOf(bob, bobAt + 1);
    expect((await replay(bob)).events.at(-1)?.event?.receipt?.messageId).toBe(later.body.messageId);
    expect((await replay(alice)).events.length).toBe(aliceCount);
    await call(delivery, "updateSettings", {
      userId: bob.userId,
      settings: { sendReadReceipts: true, sharePresence: true },
    });
  });

  it("sends a group receipt to the reader's own devices and the message's author, not to the other members", async () => {
    const created = await api.post(
      "/groups/create",
      { name: "readers", members: [bob.username, carol.username] },
      alice.token,
    );
    expect(created.status).toBe(201);
    const conversationId = `g:${created.body.groupId}`;
    const sent = await api.post(`/groups/${created.body.groupId}/send`, { message: "read me" }, alice.token);
    expect(sent.status).toBe(200);
    const messageId = sent.body.messageId;
    // Fanned out (so delivery holds the message, and knows its author) before anyone reads it.
    for (const user of [alice, bob, carol]) {
      await eventually(
        async () => (await replay(user)).events.some((e) => e.event?.eventId === messageId),
        10_000,
      );
    }
    const receiptBy = (user: TestUser, kind: ReceiptKind) => (e: UserEvent) =>
      e.event?.receipt?.userId === user.userId &&
      e.event.receipt.kind === kind &&
      e.event.receipt.messageId === messageId;
    const bobRead = receiptBy(bob, ReceiptKind.RECEIPT_KIND_READ);
    const carolGot = receiptBy(carol, ReceiptKind.RECEIPT_KIND_DELIVERED);
    await call(delivery, "recordReceipt", {
      userId: bob.userId,
      kind: ReceiptKind.RECEIPT_KIND_READ,
      conversationId,
      messageId,
    });
    await call(delivery, "recordReceipt", {
      userId: carol.userId,
      kind: ReceiptKind.RECEIPT_KIND_DELIVERED,
      conversationId,
      messageId,
    });
    // Pushed to the author and to the reader (the gateway hands it to each of the reader's streams).
    const toAlice = await node.next((e) => e.userId === alice.userId && bobRead(e));
    expect(toAlice.event?.receipt).toMatchObject({ conversationId, username: bob.username });
    await node.next((e) => e.userId === bob.userId && bobRead(e));
    await node.next((e) => e.userId === alice.userId && carolGot(e));
    await node.next((e) => e.userId === carol.userId && carolGot(e));
    // One transaction wrote every recipient's row of a receipt, and one push per node carried
    // them: once the author has it, the other member's inbox and pushes are complete.
    const [aliceInbox, bobInbox, carolInbox] = await Promise.all(
      [alice, bob, carol].map((user) => replay(user)),
    );
    expect(aliceInbox?.events.filter((e) => bobRead(e) || carolGot(e))).toHaveLength(2);
    expect(bobInbox?.events.some(bobRead)).toBe(true);
    expect(bobInbox?.events.some(carolGot)).toBe(false);
    expect(carolInbox?.events.some(carolGot)).toBe(true);
    expect(carolInbox?.events.some(bobRead)).toBe(false);
    expect(node.events.some((e) => e.userId === carol.userId && bobRead(e))).toBe(false);
    expect(node.events.some((e) => e.userId === bob.userId && carolGot(e))).toBe(false);
  });

  it("pushes typing (seq 0) to the participants, refuses outsiders, and rate-limits", async () => {
    const direct = `d:${[alice.userId, bob.userId].sort().join(":")}`;
    expect(
      await codeOf(
        call(delivery, "publishTyping", { userId: carol.userId, conversationId: direct, typing: true }),
      ),
    ).toBe("permission_denied");
    // dave never wrote to alice: there is no conversation between them to type in.
    const none = `d:${[alice.userId, dave.userId].sort().join(":")}`;
    expect(
      await codeOf(
        call(delivery, "publishTyping", { userId: dave.userId, conversationId: none, typing: true }),
      ),
    ).toBe("permission_denied");
    await call(delivery, "publishTyping", { userId: bob.userId, conversationId: direct, typing: true });
    const typing = await node.next((e) => e.userId === alice.userId && e.event?.typing !== undefined);
    expect(typing.seq).toBe("0");
    expect(typing.event?.typing).toMatchObject({
      conversationId: direct,
      userId: bob.userId,
      username: bob.username,
      typing: true,
    });
    const expiresIn = (typing.event?.typing?.expiresAt?.getTime() ?? 0) - Date.now();
    expect(expiresIn).toBeGreaterThan(3000);
    expect(expiresIn).toBeLessThanOrEqual(6000);
    // Limit 3 per window (set for this test): the first call above was one.
    await call(delivery, "publishTyping", { userId: bob.userId, conversationId: direct, typing: true });
    await call(delivery, "publishTyping", { userId: bob.userId, conversationId: direct, typing: false });
    expect(
      await codeOf(
        call(delivery, "publishTyping", { userId: bob.userId, conversationId: direct, typing: true }),
      ),
    ).toBe("resource_exhausted");
    // Typing is never stored.
    expect((await replay(alice)).events.some((e) => e.event?.typing)).toBe(false);
  });

  it("shows presence only to people who share a conversation, and honours share_presence", async () => {
    const seen = await call(delivery, "getPresence", {
      viewerId: alice.userId,
      userIds: [bob.userId, carol.userId, dave.userId],
    });
    const byId = new Map(seen.presence.map((p: Json) => [p.userId, p]));
    expect([...byId.keys()].sort()).toEqual([bob.userId, carol.userId].sort());
    expect(byId.get(bob.userId)).toMatchObject({ username: bob.username, online: true });
    expect(byId.get(bob.userId)?.lastSeen).toBeInstanceOf(Date);

    await call(delivery, "publishPresence", { userId: carol.userId, online: true, lastSeen: new Date() });
    const told = await node.next((e) => e.event?.presence?.userId === carol.userId);
    expect([alice.userId]).toContain(told.userId);
    expect(told.seq).toBe("0");

    await call(delivery, "updateSettings", {
      userId: bob.userId,
      settings: { sendReadReceipts: true, sharePresence: false },
    });
    const hidden = await call(delivery, "getPresence", { viewerId: alice.userId, userIds: [bob.userId] });
    expect(hidden.presence).toEqual([]);
    const self = await call(delivery, "getPresence", { viewerId: bob.userId, userIds: [bob.userId] });
    expect(self.presence.map((p: Json) => p.userId)).toEqual([bob.userId]);
    expect((await call(delivery, "getSettings", { userId: bob.userId })).settings).toEqual({
      sendReadReceipts: true,
      sharePresence: false,
    });
    expect((await call(delivery, "getSettings", { userId: dave.userId })).settings).toEqual({
      sendReadReceipts: true,
      sharePresence: true,
    });
  });

  it("pushes presence to co-members of small groups only; in a larger group they ask for it", async () => {
    // PARLEY_DELIVERY_PRESENCE_GROUP_MAX_MEMBERS is 3 here; erin shares only groups with the others.
    const erin = await newUser(api, "erin");
    const presenceOfErin = () =>
      node.events.filter((e) => e.event?.presence?.userId === erin.userId).map((e) => e.userId);
    const big = await api.post(
      "/groups/create",
      { name: "four", members: [alice.username, bob.username, carol.username] },
      erin.token,
    );
    expect(big.status).toBe(201);
    // A push is acknowledged by the node before publishPresence answers: none means none.
    await call(delivery, "publishPresence", { userId: erin.userId, online: true, lastSeen: new Date() });
    expect(presenceOfErin()).toEqual([]);
    const asked = await call(delivery, "getPresence", { viewerId: alice.userId, userIds: [erin.userId] });
    expect(asked.presence.map((p: Json) => p.userId)).toEqual([erin.userId]);

    const small = await api.post(
      "/groups/create",
      { name: "three", members: [alice.username, bob.username] },
      erin.token,
    );
    expect(small.status).toBe(201);
    await call(delivery, "publishPresence", { userId: erin.userId, online: false, lastSeen: new Date() });
    expect(presenceOfErin().sort()).toEqual([alice.userId, bob.userId].sort());
  });

  it("issues stream tickets over gRPC that redeem once, for their user and session", async () => {
    const issued = await call(presence, "issueTicket", {
      userId: alice.userId,
      sessionId: "sid-1",
      ttlSeconds: 0,
    });
    expect(issued.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 20_000);
    expect(await call(presence, "redeemTicket", { ticket: issued.ticket })).toEqual({
      valid: true,
      userId: alice.userId,
      sessionId: "sid-1",
    });
    expect(await call(presence, "redeemTicket", { ticket: issued.ticket })).toMatchObject({ valid: false });
    expect(await call(presence, "redeemTicket", { ticket: "forged" })).toMatchObject({ valid: false });
  });

  it("refuses a malformed replay request and answers a user with no events", async () => {
    for (const request of [
      { userId: "", afterSeq: "0", limit: 10 },
      { userId: alice.userId, afterSeq: "18446744073709551615", limit: 10 },
      { userId: alice.userId, afterSeq: "0", limit: -1 },
    ]) {
      expect(await codeOf(call(delivery, "replay", request))).toBe("invalid_argument");
    }
    const nobody = await call(delivery, "replay", { userId: randomUUID(), afterSeq: "0", limit: 0 });
    expect(nobody).toEqual({ events: [], headSeq: "0", oldestSeq: "1", expired: false });
  });

  it("exports fan-out size, events by kind and the consumers' lag on /metrics", async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${parley.parley.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/^parley_delivery_fanout_size_count [1-9]/m);
    for (const kind of ["message", "group", "receipt", "typing", "presence"]) {
      expect(metrics).toMatch(new RegExp(`^parley_delivery_events_total\\{kind="${kind}"\\} [1-9]`, "m"));
    }
    expect(metrics).toMatch(/^parley_delivery_push_failures_total \d+/m);
    expect(metrics).toMatch(
      /^parley_log_consumer_lag_records\{group="parley.delivery.messages",topic="parley.messages"\} \d+/m,
    );
  });
});
