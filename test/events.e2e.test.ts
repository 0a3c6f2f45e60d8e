import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventsService, ReceiptKind } from "../services/gen/es/parley/v1/events_pb.js";
import { type Json, newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import {
  connectEvents,
  EVENT_TRANSPORTS,
  type EventStreamClient,
  kindOf,
  type StreamAuth,
} from "./event-clients.js";
import { startTestParley, type TestParley } from "./harness.js";

/**
 * Live delivery end to end, all-in-one with the real delivery and presence services: the same
 * scenario over Connect, WebSocket and SSE (real client libraries), resume mid-flood, and the
 * authorisation of streams.
 */
let parley: TestParley;
let api: RestClient;

beforeAll(async () => {
  parley = await startTestParley();
  api = restClient(parley.url);
}, 180_000);

const opened: EventStreamClient[] = [];
afterAll(async () => {
  for (const stream of opened) stream.close();
  await parley?.cleanup();
});

const EPHEMERAL = new Set(["typing", "presence", "control:HEARTBEAT"]);

/** A device's stream with the ephemeral events it saw set aside, so durable order is asserted exactly. */
class Device {
  readonly ephemeral: Json[] = [];
  readonly durable: Json[] = [];
  /**
   * The cursor of the last event this device read: where it resumes. Not the stream's lastCursor():
   * events that arrived but were never read must come again.
   */
  cursor: string | undefined;
  constructor(
    readonly name: string,
    readonly stream: EventStreamClient,
  ) {
    opened.push(stream);
  }
  /** The next durable (or control) event; ephemeral ones met on the way are kept aside. */
  async next(timeoutMs = 15_000): Promise<Json> {
    for (;;) {
      const event = await this.stream.next(timeoutMs);
      this.cursor = event.cursor || this.cursor;
      if (EPHEMERAL.has(kindOf(event))) this.ephemeral.push(event);
      else {
        this.durable.push(event);
        return event;
      }
    }
  }
  /** Reads until an ephemeral event matching `match` has been seen (maybe already). */
  async ephemeralMatching(match: (event: Json) => boolean, timeoutMs = 15_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.ephemeral.find(match);
      if (found) return found;
      const event = await this.stream.next(Math.max(1, deadline - Date.now()));
      this.cursor = event.cursor || this.cursor;
      if (EPHEMERAL.has(kindOf(event))) this.ephemeral.push(event);
      else this.durable.push(event);
    }
  }
}

const describeEvent = (event: Json): string => {
  const kind = kindOf(event);
  if (kind === "message") return `message:${event.message.message.content}`;
  if (kind === "receipt")
    return `receipt:${event.receipt.kind.replace("RECEIPT_KIND_", "")}:${event.receipt.userId}`;
  if (kind === "group") {
    const change = ["created", "memberAdded", "memberRemoved", "renamed"].find((c) => event.group[c]);
    const who = event.group[change ?? ""]?.userId ?? event.group[change ?? ""]?.name ?? "";
    return `group:${change}:${who}`;
  }
  return kind;
};

async function login(user: TestUser): Promise<string> {
  const res = await api.post("/auth/login", { username: user.username, password: user.password });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  return res.body.token;
}

describe.each(EVENT_TRANSPORTS)("live delivery over %s", (_transport, connectTo) => {
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  beforeAll(async () => {
    [alice, bob, carol] = (await Promise.all(["alice", "bob", "carol"].map((p) => newUser(api, p)))) as [
      TestUser,
      TestUser,
      TestUser,
    ];
  });

  const open = async (name: string, auth: StreamAuth) => {
    const device = new Device(name, connectTo(parley.url, auth));
    expect(describeEvent(await device.next())).toBe("control:LIVE");
    return device;
  };

  it("two users, three devices: messages, receipts, typing, presence and membership, in order", async () => {
    const a1 = await open("alice phone", { token: alice.token });
    const a2 = await open("alice laptop", { token: await login(alice) });
    const b1 = await open("bob phone", { token: bob.token });
    const everyone = [a1, a2, b1];
    const aliceDevices = [a1, a2];

    // 1:1: every device of both parties, the sender's own devices included.
    expect(
      (await api.post("/chat/send", { recipient: bob.username, message: "hi bob" }, alice.token)).status,
    ).toBe(200);
    const dm = await Promise.all(everyone.map((d) => d.next()));
    for (const event of dm) expect(describeEvent(event)).toBe("message:hi bob");
    expect(new Set(dm.map((e) => e.eventId)).size).toBe(1);
    const conversationId = dm[2].message.message.conversationId;
    const messageId = dm[2].message.message.messageId;

    // Receipts: bob read it; both of alice's devices and bob's own device (marker sync) see it.
    expect((await api.post("/v1/events/read", { conversationId, messageId }, bob.token)).status).toBe(200);
    for (const d of everyone) expect(describeEvent(await d.next())).toBe(`receipt:READ:${bob.userId}`);

    // Typing: ephemeral, to the other participant's devices, stamped with the last cursor.
    expect((await api.post("/v1/events/typing", { conversationId, typing: true }, bob.token)).status).toBe(
      200,
    );
    for (const d of aliceDevices) {
      const typing = await d.ephemeralMatching((e) => e.typing?.userId === bob.userId);
      expect(typing.typing.conversationId).toBe(conversationId);
      expect(typing.cursor).toBe(d.durable.at(-1)?.cursor);
    }

    // Presence: bob's phone goes away and comes back; alice (who shares a conversation) sees both.
    const bobCursor = b1.cursor;
    b1.stream.close();
    for (const d of aliceDevices) {
      await d.ephemeralMatching((e) => e.presence?.userId === bob.userId && e.presence.online !== true);
    }
    const b1again = await open("bob phone again", { token: bob.token, cursor: bobCursor });
    for (const d of aliceDevices) {
      await d.ephemeralMatching((e) => e.presence?.userId === bob.userId && e.presence.online === true);
    }
    const all = [a1, a2, b1again];

    // Group: created, a message, bob removed (his last event of it), a message he must not get,
    // bob added back, a message he gets.
    const created = await api.post("/groups/create", { name: "trip", members: [bob.username] }, alice.token);
    expect(created.status).toBe(201);
    const groupId = created.body.groupId;
    for (const d of all) expect(describeEvent(await d.next())).toBe("group:created:trip");
    await api.post(`/groups/${groupId}/send`, { message: "to the group" }, alice.token);
    for (const d of all) expect(describeEvent(await d.next())).toBe("message:to the group");
    expect(
      (await api.del(`/groups/${groupId}/remove-member`, { member: bob.username }, alice.token)).status,
    ).toBe(200);
    for (const d of all) expect(describeEvent(await d.next())).toBe(`group:memberRemoved:${bob.userId}`);
    await api.post(`/groups/${groupId}/send`, { message: "bob is gone" }, alice.token);
    for (const d of aliceDevices) expect(describeEvent(await d.next())).toBe("message:bob is gone");
    expect(
      (await api.put(`/groups/${groupId}/add-member`, { member: bob.username }, alice.token)).status,
    ).toBe(200);
    for (const d of all) expect(describeEvent(await d.next())).toBe(`group:memberAdded:${bob.userId}`);
    await api.post(`/groups/${groupId}/send`, { message: "welcome back" }, alice.token);
    for (const d of all) expect(describeEvent(await d.next())).toBe("message:welcome back");

    // Carol writes to alice only: bob's stream never carries that conversation.
    await api.post("/chat/send", { recipient: alice.username, message: "just for alice" }, carol.token);
    for (const d of aliceDevices) expect(describeEvent(await d.next())).toBe("message:just for alice");
    await api.post("/chat/send", { recipient: bob.username, message: "the end" }, alice.token);
    for (const d of all) expect(describeEvent(await d.next())).toBe("message:the end");

    expect(b1again.durable.map(describeEvent)).toEqual([
      "control:LIVE",
      "group:created:trip",
      "message:to the group",
      `group:memberRemoved:${bob.userId}`,
      `group:memberAdded:${bob.userId}`,
      "message:welcome back",
      "message:the end",
    ]);
    for (const d of aliceDevices) {
      expect(d.durable.map(describeEvent)).toEqual([
        "control:LIVE",
        "message:hi bob",
        `receipt:READ:${bob.userId}`,
        "group:created:trip",
        "message:to the group",
        `group:memberRemoved:${bob.userId}`,
        "message:bob is gone",
        `group:memberAdded:${bob.userId}`,
        "message:welcome back",
        "message:just for alice",
        "message:the end",
      ]);
      // Durable cursors strictly increase along a device's stream.
      const cursors = d.durable.slice(1).map((e) => e.cursor);
      expect(new Set(cursors).size).toBe(cursors.length);
    }
    for (const d of all) d.stream.close();
  });

  it("resumes mid-flood: every event exactly once, in per-conversation order", async () => {
    const dan = await newUser(api, "dan");
    const eve = await newUser(api, "eve");
    const first = new Device("dan", connectTo(parley.url, { token: dan.token }));
    expect(describeEvent(await first.next())).toBe("control:LIVE");

    const perSender = 30;
    const flood = async (from: TestUser, tag: string) => {
      for (let i = 0; i < perSender; i++) {
        const res = await api.post(
          "/chat/send",
          { recipient: dan.username, message: `${tag}${i}` },
          from.token,
        );
        if (res.status !== 200) throw new Error(`send ${res.status}`);
      }
    };
    const sending = Promise.all([flood(alice, "a"), flood(eve, "e")]);
    for (let i = 0; i < 12; i++) await first.next();
    first.stream.close();
    const cursor = first.cursor;
    const second = new Device("dan again", connectTo(parley.url, { token: dan.token, cursor }));
    await sending;
    const got = first.durable.filter((e) => e.message).length;
    const seen = [...first.durable];
    while (
      seen.filter((e) => e.message).length + second.durable.filter((e) => e.message).length <
      2 * perSender
    ) {
      await second.next(20_000);
    }
    const messages = [...seen, ...second.durable]
      .filter((e) => e.message)
      .map((e) => e.message.message.content);
    expect(got).toBeGreaterThan(0);
    expect(messages.filter((m) => m.startsWith("a"))).toEqual(
      Array.from({ length: perSender }, (_, i) => `a${i}`),
    );
    expect(messages.filter((m) => m.startsWith("e"))).toEqual(
      Array.from({ length: perSender }, (_, i) => `e${i}`),
    );
    expect(second.durable.filter((e) => kindOf(e) === "control:LIVE")).toHaveLength(1);
    // Nothing after the last message: no duplicate shows up late.
    await api.post("/chat/send", { recipient: dan.username, message: "sentinel" }, alice.token);
    expect(describeEvent(await second.next())).toBe("message:sentinel");
    second.stream.close();
  });
});

describe("the EventsService unary methods and their REST routes", () => {
  it("mark delivered/read, send typing, tell presence and keep settings, for participants only", async () => {
    const events = createClient(
      EventsService,
      createConnectTransport({ baseUrl: parley.url, httpVersion: "2" }),
    );
    const [kim, lee, mo] = (await Promise.all(["kim", "lee", "mo"].map((p) => newUser(api, p)))) as [
      TestUser,
      TestUser,
      TestUser,
    ];
    const as = (user: TestUser) => ({ headers: { authorization: `Bearer ${user.token}` } });
    const kimStream = new Device("kim", connectEvents(parley.url, { token: kim.token }));
    expect(describeEvent(await kimStream.next())).toBe("control:LIVE");
    const leeStream = new Device("lee", connectEvents(parley.url, { token: lee.token }));
    expect(describeEvent(await leeStream.next())).toBe("control:LIVE");

    await api.post("/chat/send", { recipient: lee.username, message: "ping" }, kim.token);
    const sent = await leeStream.next();
    await kimStream.next();
    const conversationId = sent.message.message.conversationId;
    const messageId = sent.message.message.messageId;

    await events.markDelivered({ conversationId, messageId }, as(lee));
    const delivered = await kimStream.next();
    expect(delivered.receipt).toMatchObject({
      kind: "RECEIPT_KIND_DELIVERED",
      userId: lee.userId,
      messageId,
    });
    await events.sendTyping({ conversationId, typing: true }, as(lee));
    await kimStream.ephemeralMatching((e) => e.typing?.userId === lee.userId);

    // Lee hides read receipts: kim no longer sees lee's read, lee's own device still does.
    const updated = await events.updateEventSettings(
      { settings: { sendReadReceipts: false, sharePresence: true } },
      as(lee),
    );
    expect(updated.settings?.sendReadReceipts).toBe(false);
    expect((await events.getEventSettings({}, as(lee))).settings?.sendReadReceipts).toBe(false);
    expect((await api.get("/v1/events/settings", lee.token)).body).toEqual({
      sendReadReceipts: false,
      sharePresence: true,
    });
    await events.markRead({ conversationId, messageId }, as(lee));
    const own = await leeStream.stream.until((e) => e.receipt?.kind === "RECEIPT_KIND_READ");
    expect(own.at(-1)?.receipt.userId).toBe(lee.userId);
    await api.post("/chat/send", { recipient: lee.username, message: "after read" }, kim.token);
    expect(describeEvent(await kimStream.next())).toBe("message:after read");

    const presence = await events.getPresence({ userIds: [lee.userId, mo.userId] }, as(kim));
    expect(presence.presence.map((p) => [p.userId, p.online])).toEqual([[lee.userId, true]]);
    const rest = await api.get(`/v1/presence?userIds=${lee.userId},${mo.userId}`, kim.token);
    expect(rest.status).toBe(200);
    expect(rest.body.presence).toEqual([expect.objectContaining({ userId: lee.userId, online: true })]);

    // Mo is not in the conversation: refused, and nobody hears of it.
    const refused = await events
      .markRead({ conversationId, messageId }, as(mo))
      .catch((err: unknown) => ConnectError.from(err));
    expect((refused as ConnectError).code).toBe(Code.PermissionDenied);
    expect((await api.post("/v1/events/typing", { conversationId, typing: true }, mo.token)).status).toBe(
      403,
    );
    expect((await api.post("/v1/events/read", { conversationId }, lee.token)).status).toBe(400);
    expect((await api.put("/v1/events/settings", { sharePresence: "no" }, lee.token)).status).toBe(400);
    expect(ReceiptKind.READ).toBe(2);
    kimStream.stream.close();
    leeStream.stream.close();
  });
});
