import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type ReplayResponse,
  ReplayResponseSchema,
  type UserEvent,
  UserEventSchema,
} from "../../gen/es/parley/internal/v1/delivery_pb.js";
import { EventSchema, StreamControlKind } from "../../gen/es/parley/v1/events_pb.js";
import { createLogger, type Logger } from "../../kit/logger.js";
import { registry } from "../../kit/metrics.js";
import { encodeCursor, parseCursor } from "./cursor.js";
import { type DeviceStream, type HubBackend, StreamHub, type StreamItem } from "./hub.js";

/** An in-memory stand-in for delivery's inbox and presence: the boundary of the hub. */
class FakeBackend implements HubBackend {
  readonly inbox = new Map<string, UserEvent[]>();
  oldestSeq = new Map<string, bigint>();
  readonly registered: string[] = [];
  readonly online = new Set<string>();
  readonly published: string[] = [];
  /** How many streams each CloseStreams call carried. */
  readonly closeCalls: number[] = [];
  /** How many streams each HeartbeatStreams call carried. */
  readonly heartbeatCalls: number[] = [];
  /** PublishPresence fails (delivery is gone) when set. */
  publishFails = false;
  replayCalls = 0;
  hub: StreamHub | undefined;

  /** Appends a durable event and pushes it unless `push` is false (a lost push). */
  append(userId: string, text: string, push = true): UserEvent {
    const events = this.inbox.get(userId) ?? [];
    this.inbox.set(userId, events);
    const seq = BigInt(events.length + 1);
    const event = create(UserEventSchema, {
      userId,
      seq,
      appendedAt: timestampFromDate(new Date()),
      event: create(EventSchema, {
        eventId: `${userId}-${seq}`,
        kind: { case: "group", value: { groupId: text, conversationId: text } },
      }),
    });
    events.push(event);
    if (push) this.hub?.deliver([event]);
    return event;
  }

  typing(userId: string, conversationId: string) {
    this.hub?.deliver([
      create(UserEventSchema, {
        userId,
        seq: 0n,
        event: create(EventSchema, {
          kind: { case: "typing", value: { conversationId, userId: "x", typing: true } },
        }),
      }),
    ]);
  }

  async replay(userId: string, afterSeq: bigint, limit: number): Promise<ReplayResponse> {
    this.replayCalls++;
    const events = this.inbox.get(userId) ?? [];
    const oldest = this.oldestSeq.get(userId) ?? 1n;
    const head = BigInt(events.length);
    if (afterSeq > 0n && afterSeq + 1n < oldest) {
      return create(ReplayResponseSchema, { headSeq: head, expired: true, oldestSeq: oldest });
    }
    return create(ReplayResponseSchema, {
      events: events.filter((e) => e.seq > afterSeq && e.seq >= oldest).slice(0, limit),
      headSeq: head,
      oldestSeq: oldest,
    });
  }
  async registerNode(nodeId: string, address: string) {
    this.registered.push(`${nodeId}@${address}`);
  }
  async heartbeat(_nodeId: string, streams: { userId: string }[]) {
    this.heartbeatCalls.push(streams.length);
    const came = streams.map((s) => s.userId).filter((u) => !this.online.has(u));
    for (const u of came) this.online.add(u);
    return [...new Set(came)];
  }
  async closeStreams(_nodeId: string, streams: { userId: string }[]) {
    this.closeCalls.push(streams.length);
    const stillOpen = new Set(
      [...(this.hub as unknown as { streams: Map<string, DeviceStream> }).streams.values()].map(
        (s) => s.userId,
      ),
    );
    const gone = [...new Set(streams.map((s) => s.userId))].filter(
      (u) => !stillOpen.has(u) && this.online.has(u),
    );
    for (const u of gone) this.online.delete(u);
    return gone;
  }
  async stillOffline(userIds: string[]) {
    return userIds.filter((u) => !this.online.has(u));
  }
  async publishPresence(userId: string, online: boolean) {
    if (this.publishFails) throw new Error("delivery is gone");
    this.published.push(`${userId}:${online ? "online" : "offline"}`);
    for (const waiter of this.publishWaiters.splice(0)) waiter();
  }
  private readonly publishWaiters: (() => void)[] = [];
  /** Resolves once `n` announcements ending in `suffix` (":online", ":offline") were published. */
  async announced(suffix: string, n: number): Promise<void> {
    while (this.published.filter((p) => p.endsWith(suffix)).length < n) {
      await new Promise<void>((resolve) => this.publishWaiters.push(resolve));
    }
  }
}

const hubs: StreamHub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.stop(100);
});

function setup(
  options: {
    buffer?: number;
    page?: number;
    maxStreams?: number;
    logger?: Logger;
    offlineGraceMs?: number;
  } = {},
) {
  const backend = new FakeBackend();
  const hub = new StreamHub({
    nodeId: "node-1",
    backend,
    logger: options.logger ?? createLogger({ level: "silent" }),
    bufferEvents: options.buffer ?? 64,
    maxStreamsPerUser: options.maxStreams ?? 3,
    replayPageSize: options.page ?? 3,
    ttlSeconds: 30,
    heartbeatMs: 60_000,
    offlineGraceMs: options.offlineGraceMs ?? 0,
  });
  backend.hub = hub;
  hub.start("127.0.0.1:1");
  hubs.push(hub);
  return { backend, hub };
}

/** Reads items from a stream one at a time. */
function reader(stream: DeviceStream) {
  const it = stream[Symbol.asyncIterator]();
  return {
    async next(): Promise<StreamItem | undefined> {
      const r = await it.next();
      return r.done ? undefined : r.value;
    },
    async take(n: number): Promise<StreamItem[]> {
      const out: StreamItem[] = [];
      for (let i = 0; i < n; i++) {
        const item = await this.next();
        if (!item) break;
        out.push(item);
      }
      return out;
    },
    async rest(): Promise<StreamItem[]> {
      const out: StreamItem[] = [];
      for (let item = await this.next(); item; item = await this.next()) out.push(item);
      return out;
    },
  };
}

const describeItem = (item: StreamItem) => {
  const kind = item.event.kind;
  if (kind.case === "control") return `control:${StreamControlKind[kind.value.kind]}`;
  if (kind.case === "group") return `${kind.value.groupId}#${item.seq}`;
  return `${kind.case}`;
};

const metric = async (name: string, labels: Record<string, string> = {}) => {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (found?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
};

/** 20 users open 60 streams each, all at once. */
async function openBurst(hub: StreamHub) {
  const users = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
  const streams = await Promise.all(
    users.flatMap((userId) =>
      Array.from({ length: 60 }, () =>
        hub.open({ userId, sessionId: "s", transport: "ws", afterSeq: undefined }),
      ),
    ),
  );
  return { users, streams };
}

const user = "0190d9c0-0000-7000-8000-0000000000a1";

describe("the stream hub", () => {
  it("starts a stream without a cursor at the head: LIVE, then only new events, each with its cursor", async () => {
    const { backend, hub } = setup();
    backend.append(user, "old");
    const stream = await hub.open({
      userId: user,
      sessionId: "s1",
      transport: "connect",
      afterSeq: undefined,
    });
    const r = reader(stream);
    const live = await r.next();
    expect(live && describeItem(live)).toBe("control:LIVE");
    expect(live?.event.cursor).toBe(encodeCursor(user, 1n));
    backend.append(user, "a");
    backend.append(user, "b");
    const items = await r.take(2);
    expect(items.map(describeItem)).toEqual(["a#2", "b#3"]);
    expect(items.map((i) => parseCursor(i.event.cursor, user))).toEqual([2n, 3n]);
    expect(backend.registered).toEqual(["node-1@127.0.0.1:1"]);
  });

  it("resumes from a cursor: replays what was missed in pages, LIVE, then live, each exactly once", async () => {
    const { backend, hub } = setup({ page: 3 });
    for (let i = 1; i <= 10; i++) backend.append(user, `m${i}`, false);
    const replayedBefore = await metric("parley_events_resume_replayed_total");
    const stream = await hub.open({ userId: user, sessionId: "s1", transport: "ws", afterSeq: 4n });
    const r = reader(stream);
    backend.append(user, "m11"); // pushed while the replay may still run: no duplicate, no gap
    const items = await r.take(8);
    expect(items.map(describeItem)).toEqual([
      "m5#5",
      "m6#6",
      "m7#7",
      "m8#8",
      "m9#9",
      "m10#10",
      expect.stringMatching(/^(m11#11|control:LIVE)$/),
      expect.stringMatching(/^(m11#11|control:LIVE)$/),
    ]);
    backend.append(user, "m12");
    expect((await r.take(1)).map(describeItem)).toEqual(["m12#12"]);
    expect(await metric("parley_events_resume_replayed_total")).toBeGreaterThanOrEqual(replayedBefore + 6);
  });

  it("drops a redelivered push and fills a gap from Replay", async () => {
    const { backend, hub } = setup();
    const stream = await hub.open({ userId: user, sessionId: "s1", transport: "sse", afterSeq: undefined });
    const r = reader(stream);
    await r.next(); // LIVE
    const first = backend.append(user, "a");
    hub.deliver([first]); // a redelivery after a delivery crash
    backend.append(user, "b", false); // its push lost
    backend.append(user, "c", false);
    backend.append(user, "d");
    expect((await r.take(4)).map(describeItem)).toEqual(["a#1", "b#2", "c#3", "d#4"]);
  });

  it("leaves an idle stream with no task running, and stops after one Replay when delivery has nothing past the gap yet", async () => {
    const { backend, hub } = setup();
    const stream = await hub.open({ userId: user, sessionId: "s1", transport: "ws", afterSeq: undefined });
    const r = reader(stream);
    await r.next(); // LIVE
    expect(stream.processing).toBe(false);
    // A push announces seq 3 before delivery's Replay can return 1 and 2 (they were never appended).
    const ahead = create(UserEventSchema, {
      userId: user,
      seq: 3n,
      event: create(EventSchema, { kind: { case: "group", value: { groupId: "x", conversationId: "x" } } }),
    });
    const replaysBefore = backend.replayCalls;
    hub.deliver([ahead]);
    expect(stream.processing).toBe(true);
    await vi.waitFor(() => expect(stream.processing).toBe(false));
    // One Replay for the gap before it, one for the highest seq known: then it waits for the next push.
    expect(backend.replayCalls - replaysBefore).toBe(2);
    backend.append(user, "a", false);
    backend.append(user, "b", false);
    backend.append(user, "c");
    expect((await r.take(3)).map(describeItem)).toEqual(["a#1", "b#2", "c#3"]);
    await vi.waitFor(() => expect(stream.processing).toBe(false));
  });

  it("stamps ephemeral events with the cursor of the last durable event", async () => {
    const { backend, hub } = setup();
    const stream = await hub.open({
      userId: user,
      sessionId: "s1",
      transport: "connect",
      afterSeq: undefined,
    });
    const r = reader(stream);
    await r.next();
    backend.append(user, "a");
    backend.typing(user, "conv");
    const [a, typing] = await r.take(2);
    expect(a && describeItem(a)).toBe("a#1");
    expect(typing && describeItem(typing)).toBe("typing");
    expect(typing?.seq).toBe(0n);
    expect(typing?.event.cursor).toBe(a?.event.cursor);
  });

  it("closes a slow client with RECONNECT and the cursor of the last event it was given", async () => {
    const { backend, hub } = setup({ buffer: 8 });
    const before = await metric("parley_events_slow_client_disconnects_total", { transport: "ws" });
    const stream = await hub.open({ userId: user, sessionId: "s1", transport: "ws", afterSeq: undefined });
    const r = reader(stream);
    await r.next(); // LIVE
    backend.append(user, "a");
    expect((await r.take(1)).map(describeItem)).toEqual(["a#1"]);
    for (let i = 0; i < 20; i++) backend.append(user, `flood${i}`);
    const rest = await r.rest();
    const last = rest.at(-1);
    expect(last && describeItem(last)).toBe("control:RECONNECT");
    expect(last?.event.kind.case === "control" && last.event.kind.value.reason).toBe("slow client");
    expect(last?.event.cursor).toBe(encodeCursor(user, 1n));
    expect(rest.length).toBe(1);
    expect(stream.isClosed).toBe(true);
    expect(hub.size).toBe(0);
    expect(await metric("parley_events_slow_client_disconnects_total", { transport: "ws" })).toBe(before + 1);
  });

  it("tells a cursor older than retention CURSOR_EXPIRED with a cursor at the head, then goes live", async () => {
    const { backend, hub } = setup();
    for (let i = 1; i <= 5; i++) backend.append(user, `m${i}`, false);
    backend.oldestSeq.set(user, 4n);
    const stream = await hub.open({ userId: user, sessionId: "s1", transport: "connect", afterSeq: 1n });
    const r = reader(stream);
    const [expired, live] = await r.take(2);
    expect(expired && describeItem(expired)).toBe("control:CURSOR_EXPIRED");
    expect(expired?.event.cursor).toBe(encodeCursor(user, 5n));
    expect(live && describeItem(live)).toBe("control:LIVE");
    backend.append(user, "m6");
    expect((await r.take(1)).map(describeItem)).toEqual(["m6#6"]);
  });

  it("announces a user online with the first stream and offline with the last, and counts open streams", async () => {
    const { backend, hub } = setup();
    const open = await metric("parley_events_open_streams", { transport: "sse" });
    const a = await hub.open({ userId: user, sessionId: "s1", transport: "sse", afterSeq: undefined });
    const b = await hub.open({ userId: user, sessionId: "s2", transport: "sse", afterSeq: undefined });
    expect(await metric("parley_events_open_streams", { transport: "sse" })).toBe(open + 2);
    expect(backend.published).toEqual([`${user}:online`]);
    a.close();
    b.close();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(backend.published).toEqual([`${user}:online`, `${user}:offline`]);
    expect(await metric("parley_events_open_streams", { transport: "sse" })).toBe(open);
  });

  it("on stop sends RECONNECT to every stream after what was queued, and waits for them to close", async () => {
    const { backend, hub } = setup();
    const streams = await Promise.all(
      ["s1", "s2", "s3"].map((sessionId) =>
        hub.open({ userId: user, sessionId, transport: "connect", afterSeq: undefined }),
      ),
    );
    const readers = streams.map(reader);
    for (const r of readers) await r.next();
    backend.append(user, "last");
    const stopping = hub.stop(5_000);
    const seen = await Promise.all(readers.map((r) => r.rest()));
    await stopping;
    for (const items of seen) {
      expect(items.map(describeItem)).toEqual(["last#1", "control:RECONNECT"]);
      expect(items[1]?.event.cursor).toBe(encodeCursor(user, 1n));
    }
    expect(hub.size).toBe(0);
    await expect(
      hub.open({ userId: user, sessionId: "s4", transport: "connect", afterSeq: undefined }),
    ).rejects.toMatchObject({ code: "unavailable" });
  });

  it("refuses one stream more than a user may hold, and accepts it again once one closes", async () => {
    const { hub } = setup();
    const open = () => hub.open({ userId: user, sessionId: "s", transport: "ws", afterSeq: undefined });
    const streams = [await open(), await open(), await open()];
    await expect(open()).rejects.toMatchObject({ code: "resource_exhausted" });
    expect(hub.size).toBe(3);
    streams[0]?.close();
    const again = await open();
    expect(again.isClosed).toBe(false);
    expect(hub.size).toBe(3);
  });

  it("registers a burst of opens in presence in a few calls, and announces each user online once", async () => {
    const { backend, hub } = setup({ maxStreams: 100 });
    const { users, streams } = await openBurst(hub);
    expect(streams.every((s) => !s.isClosed)).toBe(true);
    // The first two opens go alone (two calls in flight at most); the 1,198 opened meanwhile
    // follow in batches of at most 500.
    expect(backend.heartbeatCalls).toEqual([1, 1, 500, 500, 198]);
    await backend.announced(":online", users.length);
    expect(backend.published.filter((p) => p.endsWith(":online")).sort()).toEqual(
      users.map((u) => `${u}:online`).sort(),
    );
    // A lone open later is one call of its own.
    await hub.open({ userId: "late", sessionId: "s", transport: "ws", afterSeq: undefined });
    expect(backend.heartbeatCalls.at(-1)).toBe(1);
  });

  it("closes a burst of streams in presence in a few calls, and announces each user offline once", async () => {
    const { backend, hub } = setup({ maxStreams: 100 });
    const { users, streams } = await openBurst(hub);
    for (const stream of streams) stream.close();
    await backend.announced(":offline", users.length);
    // The first close goes alone; the 1,199 closed meanwhile follow in batches of at most 500.
    expect(backend.closeCalls).toEqual([1, 500, 500, 199]);
    expect(backend.published.filter((p) => p.endsWith(":offline")).sort()).toEqual(
      users.map((u) => `${u}:offline`).sort(),
    );
  });

  it("logs one line, with a count, for the presence announcements that failed before a stop", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const { backend, hub } = setup({ logger });
    const streams = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        hub.open({ userId: `gone-${i}`, sessionId: "s", transport: "ws", afterSeq: undefined }),
      ),
    );
    await backend.announced(":online", 200);
    backend.publishFails = true;
    for (const stream of streams.slice(0, 100)) stream.close();
    await hub.stop(1_000);
    const failed = lines.filter((l) => l.msg === "publishing presence failed");
    expect(failed).toHaveLength(1);
    expect(Number(failed[0]?.users) + Number(failed[0]?.dropped ?? 0)).toBe(100);
    expect(backend.online.size).toBe(0);
  });
});
