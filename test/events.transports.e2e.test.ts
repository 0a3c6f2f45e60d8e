import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Json, newUser, restClient, type TestUser } from "./clients.js";
import {
  connectEvents,
  EVENT_TRANSPORTS,
  type EventStreamClient,
  kindOf,
  sseEvents,
  wsEvents,
} from "./event-clients.js";
import { FakeDelivery } from "./fake-delivery.js";
import { startTestParley, type TestParley } from "./harness.js";

/**
 * The gateway's three stream transports against a stand-in delivery (test/fake-delivery.ts) and the
 * real presence service: registration, replay, resume, live pushes, tickets, cursors, bad input,
 * slow clients and stop. The full scenario with the real delivery service is in events.e2e.test.ts.
 */
let parley: TestParley;
let delivery: FakeDelivery;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  delivery = new FakeDelivery();
  await delivery.start();
  parley = await startTestParley({
    env: {
      PARLEY_DELIVERY_ADDR: delivery.address,
      PARLEY_EVENTS_STREAM_BUFFER: "16",
      PARLEY_EVENTS_REPLAY_PAGE: "4",
      PARLEY_EVENTS_TICKET_TTL_SECONDS: "2",
    },
  });
  delivery.usePresence(parley.parley.addresses.resolve("presence"));
  api = restClient(parley.url);
}, 180_000);

afterAll(async () => {
  await parley?.cleanup();
  await delivery?.stop();
});

const renamed = (name: string) => ({
  group: { groupId: "g1", conversationId: "g1", actorId: "", renamed: { name } },
});
const names = (events: { group?: { renamed?: { name: string } } }[]) =>
  events.map((e) => e.group?.renamed?.name ?? kindOf(e));

const open: EventStreamClient[] = [];
afterAll(() => {
  for (const stream of open) stream.close();
});
function track(stream: EventStreamClient) {
  open.push(stream);
  return stream;
}

describe.each(EVENT_TRANSPORTS)("the event stream over %s", (_name, connectTo) => {
  let alice: TestUser;
  beforeAll(async () => {
    alice = await newUser(api, "ev");
  });

  it("starts LIVE at the head, then carries pushed events in order with cursors; typing repeats the last cursor", async () => {
    await delivery.append(alice.userId, renamed("before"), false);
    const stream = track(connectTo(parley.url, { token: alice.token }));
    const [live] = await stream.until((e) => kindOf(e) === "control:LIVE");
    expect(live?.cursor).toBeTruthy();
    await delivery.append(alice.userId, renamed("a"));
    await delivery.append(alice.userId, renamed("b"));
    await delivery.typing(alice.userId, "g1");
    const events = [await stream.next(), await stream.next(), await stream.next()];
    expect(names(events)).toEqual(["a", "b", "typing"]);
    expect(new Set(events.map((e) => e.cursor)).size).toBe(2);
    expect(events[2].cursor).toBe(events[1].cursor);
    expect(events[0].eventId).toBe(`ev-${alice.userId}-2`);
    stream.close();
  });

  it("resumes from a cursor: what was missed exactly once, in order, then LIVE, then live", async () => {
    const bob = await newUser(api, "res");
    const first = track(connectTo(parley.url, { token: bob.token }));
    await first.until((e) => kindOf(e) === "control:LIVE");
    for (let i = 1; i <= 5; i++) await delivery.append(bob.userId, renamed(`m${i}`));
    const seen = [await first.next(), await first.next(), await first.next()];
    expect(names(seen)).toEqual(["m1", "m2", "m3"]);
    const cursor = seen[2].cursor;
    first.close();
    for (let i = 6; i <= 15; i++) await delivery.append(bob.userId, renamed(`m${i}`), false);
    const second = track(connectTo(parley.url, { token: bob.token, cursor }));
    const replayed = await second.until((e) => kindOf(e) === "control:LIVE");
    expect(names(replayed)).toEqual([...Array.from({ length: 12 }, (_, i) => `m${i + 4}`), "control:LIVE"]);
    await delivery.append(bob.userId, renamed("m16"));
    expect(names([await second.next()])).toEqual(["m16"]);
    second.close();
  });

  it("refuses another user's cursor and a malformed one", async () => {
    const bob = await newUser(api, "cur");
    const mine = track(connectTo(parley.url, { token: alice.token }));
    const [live] = await mine.until((e) => kindOf(e) === "control:LIVE");
    mine.close();
    const theirs = track(connectTo(parley.url, { token: bob.token, cursor: live.cursor }));
    const refused = await theirs.ended;
    expect([403, "PermissionDenied"]).toContain(refused.code);
    expect(theirs.received).toEqual([]);
    const garbage = track(connectTo(parley.url, { token: bob.token, cursor: "%%garbage" }));
    expect([400, "InvalidArgument"]).toContain((await garbage.ended).code);
  });

  it("refuses a stream without credentials", async () => {
    const anonymous = track(connectTo(parley.url, {}));
    expect([401, "Unauthenticated"]).toContain((await anonymous.ended).code);
  });
});

describe("the Subscribe RPC over gRPC, gRPC-Web and Connect on HTTP/1.1", () => {
  it.each([
    ["grpc", "2"],
    ["grpc-web", "2"],
    ["grpc-web", "1.1"],
    ["connect", "1.1"],
  ] as const)("streams over %s on HTTP/%s too", async (protocol, httpVersion) => {
    const carol = await newUser(api, "rpc");
    const stream = track(connectEvents(parley.url, { token: carol.token }, protocol, httpVersion));
    await stream.until((e) => kindOf(e) === "control:LIVE");
    await delivery.append(carol.userId, renamed("over rpc"));
    expect(names([await stream.next()])).toEqual(["over rpc"]);
    stream.close();
  });
});

describe("stream tickets", () => {
  it("open a WebSocket or SSE stream once, and are refused the second time", async () => {
    const dave = await newUser(api, "tix");
    for (const connectTo of [wsEvents, sseEvents]) {
      const issued = await api.post("/v1/events/ticket", {}, dave.token);
      expect(issued.status).toBe(200);
      expect(typeof issued.body.ticket).toBe("string");
      expect(Date.parse(issued.body.expiresAt)).toBeGreaterThan(Date.now());
      const stream = track(connectTo(parley.url, { ticket: issued.body.ticket }));
      await stream.until((e) => kindOf(e) === "control:LIVE");
      await delivery.append(dave.userId, renamed("by ticket"));
      expect(names([await stream.next()])).toEqual(["by ticket"]);
      stream.close();
      const again = track(connectTo(parley.url, { ticket: issued.body.ticket }));
      const refused = await again.ended;
      expect(refused.code).toBe(401);
      expect(refused.reason).toMatch(/ticket/);
    }
  });

  it("need a valid access token to be issued", async () => {
    expect((await api.post("/v1/events/ticket", {})).status).toBe(401);
    expect((await api.post("/v1/events/ticket", {}, "not-a-token")).status).toBe(401);
  });

  it("expire", async () => {
    const ivy = await newUser(api, "exp");
    const issued = await api.post("/v1/events/ticket", {}, ivy.token);
    const expiresAt = Date.parse(issued.body.expiresAt);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(2_000);
    // The behaviour under test is time passing: wait out the ticket's lifetime.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 200));
    const stream = track(sseEvents(parley.url, { ticket: issued.body.ticket }));
    expect((await stream.ended).code).toBe(401);
  });

  it("are refused when unknown", async () => {
    const stream = track(wsEvents(parley.url, { ticket: "bm90LWEtdGlja2V0" }));
    expect((await stream.ended).code).toBe(401);
  });
});

describe("WebSocket client frames", () => {
  let erin: TestUser;
  let bystander: EventStreamClient;
  beforeAll(async () => {
    erin = await newUser(api, "wsf");
    bystander = track(wsEvents(parley.url, { token: erin.token }));
    await bystander.until((e) => kindOf(e) === "control:LIVE");
  });

  it("answers ping, and passes typing and receipts to delivery with an ack", async () => {
    const stream = track(wsEvents(parley.url, { token: erin.token }));
    await stream.until((e) => kindOf(e) === "control:LIVE");
    const socket = stream.socket;
    if (!socket) throw new Error("no socket");
    const before = delivery.calls.length;
    socket.send(JSON.stringify({ type: "ping", id: "p1" }));
    socket.send(JSON.stringify({ type: "typing", id: "t1", conversationId: "c1", typing: true }));
    socket.send(JSON.stringify({ type: "read", id: "r1", conversationId: "c1", messageId: "m1" }));
    await stream.replyCount(3);
    expect(stream.replies).toEqual(
      expect.arrayContaining([
        { type: "pong", id: "p1" },
        { type: "ack", id: "t1" },
        { type: "ack", id: "r1" },
      ]),
    );
    const calls = delivery.calls
      .slice(before)
      .filter((c) => c.method !== "replay" && c.method !== "publishPresence");
    expect(calls).toEqual(
      expect.arrayContaining([
        { method: "publishTyping", request: { userId: erin.userId, conversationId: "c1", typing: true } },
        {
          method: "recordReceipt",
          request: expect.objectContaining({ userId: erin.userId, conversationId: "c1", messageId: "m1" }),
        },
      ]),
    );
    stream.close();
  });

  it.each([
    ["garbage text", "{not json", 1007, /not valid JSON/],
    ["an unknown type", JSON.stringify({ type: "launch", id: "x" }), 1003, /unknown frame type "launch"/],
    [
      "a bad field",
      JSON.stringify({ type: "typing", conversationId: "", typing: "yes" }),
      1007,
      /invalid typing frame/,
    ],
    ["an extra field", JSON.stringify({ type: "ping", admin: true }), 1007, /invalid ping frame/],
    ["a binary frame", Buffer.from([1, 2, 3]), 1003, /binary/],
    ["a huge frame", "x".repeat(20 * 1024), 1009, /larger than 16384 bytes/],
    ["a giant frame", "x".repeat(1024 * 1024), 1009, /^$/],
  ])("closes the socket on %s, and nothing else is affected", async (_name, frame, code, reason) => {
    const stream = track(wsEvents(parley.url, { token: erin.token }));
    await stream.until((e) => kindOf(e) === "control:LIVE");
    stream.socket?.send(frame);
    const ended = await stream.ended;
    expect(ended.code).toBe(code);
    expect(ended.reason).toMatch(reason);
    await delivery.append(erin.userId, renamed(`after ${_name}`));
    expect(names([await bystander.next()])).toEqual([`after ${_name}`]);
  });

  it("answers a plain GET of the WebSocket path with 426", async () => {
    const res = await fetch(`${parley.url}/v1/events/ws`);
    expect(res.status).toBe(426);
  });
});

describe("bad input on the other stream endpoints", () => {
  it("refuses a Subscribe request that is not a valid message, and the stream endpoints stay up", async () => {
    const jo = await newUser(api, "bad");
    const envelope = (payload: string) => {
      const bytes = Buffer.from(payload);
      const head = Buffer.alloc(5);
      head.writeUInt32BE(bytes.length, 1);
      return Buffer.concat([head, bytes]);
    };
    const cases: [Buffer | string, RegExp][] = [
      ["{{{ not an envelope", /"code":"(resource_exhausted|invalid_argument)"/],
      [envelope(JSON.stringify({ cursor: 42 })), /"code":"invalid_argument"/],
      [envelope("garbage!!"), /"code":"invalid_argument"/],
      [envelope(JSON.stringify({ cursor: "x", extra: 1 })), /"code":"invalid_argument"/],
    ];
    for (const [body, expected] of cases) {
      const res = await fetch(`${parley.url}/parley.v1.EventsService/Subscribe`, {
        method: "POST",
        headers: {
          "content-type": "application/connect+json",
          "connect-protocol-version": "1",
          authorization: `Bearer ${jo.token}`,
        },
        body,
      });
      const text = await res.text();
      expect(text).toMatch(expected);
      expect(text).not.toContain("STREAM_CONTROL_KIND_LIVE");
    }
    const stream = track(connectEvents(parley.url, { token: jo.token }));
    await stream.until((e) => kindOf(e) === "control:LIVE");
    stream.close();
  });

  it("refuses a repeated or huge cursor parameter on SSE and WebSocket with 400", async () => {
    const kay = await newUser(api, "dup");
    const twice = await fetch(`${parley.url}/v1/events?cursor=a&cursor=b`, {
      headers: { authorization: `Bearer ${kay.token}` },
    });
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as Json).error.code).toBe("invalid_argument");
    const huge = track(wsEvents(parley.url, { token: kay.token, cursor: "A".repeat(4000) }));
    expect((await huge.ended).code).toBe(400);
    const sse = track(sseEvents(parley.url, { token: kay.token, cursor: "A".repeat(4000) }));
    expect((await sse.ended).code).toBe(400);
  });
});

describe("SSE framing", () => {
  it("sends id: cursor on durable events, event: kind, data: JSON, and resumes by Last-Event-ID", async () => {
    const fay = await newUser(api, "sse");
    const controller = new AbortController();
    const res = await fetch(`${parley.url}/v1/events`, {
      headers: { authorization: `Bearer ${fay.token}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body?.getReader();
    if (!reader) throw new Error("no body");
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error("ended");
        text += Buffer.from(value).toString("utf8");
      }
    };
    await readUntil("STREAM_CONTROL_KIND_LIVE");
    await delivery.append(fay.userId, renamed("framed"));
    await readUntil("framed");
    controller.abort();
    const block = text.split("\n\n").find((b) => b.includes("framed")) ?? "";
    const lines = block.split("\n");
    expect(lines[0]).toMatch(/^id: [A-Za-z0-9_-]+$/);
    expect(lines[1]).toBe("event: group");
    expect(JSON.parse(lines[2]?.replace(/^data: /, "") ?? "").group.renamed.name).toBe("framed");

    await delivery.append(fay.userId, renamed("missed"), false);
    const resumed = await fetch(`${parley.url}/v1/events`, {
      headers: { authorization: `Bearer ${fay.token}`, "last-event-id": lines[0]?.slice(4) ?? "" },
    });
    const body = resumed.body?.getReader();
    let resumedText = "";
    while (!resumedText.includes("STREAM_CONTROL_KIND_LIVE")) {
      const { value } = (await body?.read()) ?? {};
      resumedText += Buffer.from(value ?? new Uint8Array()).toString("utf8");
    }
    await body?.cancel();
    expect(resumedText).toContain("missed");
    expect(resumedText).not.toContain("framed");
  });
});

describe("slow clients", () => {
  it("are closed with RECONNECT and resume from their cursor with nothing lost", async () => {
    const gus = await newUser(api, "slow");
    const stream = track(wsEvents(parley.url, { token: gus.token }));
    await stream.until((e) => kindOf(e) === "control:LIVE");
    // Stop reading from the socket: the server's writes back up until its 16-event buffer overflows.
    const raw = (stream.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const big = "x".repeat(32 * 1024);
    let n = 0;
    const flood = async () => {
      for (; n < 400; n++) await delivery.append(gus.userId, renamed(`f${n}:${big}`));
    };
    await flood();
    raw.resume();
    const ended = await stream.ended;
    expect(ended.code).toBe(1012);
    const got = stream.received.filter((e) => e.group).length;
    expect(got).toBeLessThan(400);
    const last = stream.received.at(-1);
    if (kindOf(last) === "control:RECONNECT") expect(last.control.reason).toBe("slow client");
    const again = track(wsEvents(parley.url, { token: gus.token, cursor: stream.lastCursor() }));
    const rest = await again.until((e) => kindOf(e) === "control:LIVE", 30_000);
    const all = [...stream.received, ...rest]
      .filter((e) => e.group)
      .map((e) => e.group.renamed.name.split(":")[0]);
    expect(all).toEqual(Array.from({ length: 400 }, (_, i) => `f${i}`));
    again.close();
  });
});

describe("stopping the gateway", () => {
  it("sends RECONNECT with a cursor to every stream before the server exits", {
    timeout: 240_000,
  }, async () => {
    const own = await startTestParley({ env: { PARLEY_DELIVERY_ADDR: delivery.address } });
    try {
      const hal = await newUser(restClient(own.url), "stop");
      const streams = EVENT_TRANSPORTS.map(([, connectTo]) => connectTo(own.url, { token: hal.token }));
      for (const s of streams) await s.until((e) => kindOf(e) === "control:LIVE");
      const stopping = own.stop();
      for (const s of streams) {
        const [last] = await s.until((e) => kindOf(e) === "control:RECONNECT");
        expect(last.cursor).toBeTruthy();
        expect(last.control.reason).toBe("server is shutting down");
        await s.ended;
      }
      await stopping;
    } finally {
      await own.cleanup();
    }
  });
});
