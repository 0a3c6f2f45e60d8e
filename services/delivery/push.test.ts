import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startPushServer } from "../gateway/events/push-server.js";
import type { UserEvent as PushedEvent } from "../gen/es/parley/internal/v1/delivery_pb.js";
import {
  GatewayPushServiceClient,
  GatewayPushServiceService,
  type PushRequest,
  type PushResponse,
  type UserEvent,
} from "../gen/grpc/parley/internal/v1/delivery.js";
import { createLogger } from "../kit/logger.js";
import { pushFailures, pushRetries } from "./metrics.js";
import { GatewayPusher, type Locate } from "./push.js";

const silent = createLogger({ level: "silent" });

/**
 * A gateway node's push endpoint: records pushes (not the empty request that opens a stream);
 * acknowledges them unless told to stay silent. `readsShared`: it says it reads shared events
 * (as gateways do now; without, it is a gateway from before them).
 */
async function startNode(options: { port?: number; acknowledge?: boolean; readsShared?: boolean } = {}) {
  // The gateway's push server receives up to 16 MiB per request; so does this one.
  const received: UserEvent[][] = [];
  const requests: PushRequest[] = [];
  let opened = 0;
  let arrived: () => void = () => {};
  /** Resolves at the next push this node receives. */
  const nextPush = () =>
    new Promise<void>((resolve) => {
      arrived = resolve;
    });
  const server = new Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  server.addService(GatewayPushServiceService, {
    push: (stream: ServerDuplexStream<PushRequest, PushResponse>) => {
      stream.on("data", (request: PushRequest) => {
        if (request.events.length === 0) opened++;
        else {
          requests.push(request);
          received.push(
            request.events.map((e) => (e.shared > 0 ? { ...e, event: request.shared[e.shared - 1] } : e)),
          );
          arrived();
        }
        if (options.acknowledge !== false) {
          stream.write({ accepted: request.events.length, readsShared: options.readsShared ?? false });
        }
      });
      stream.on("end", () => stream.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    address: `127.0.0.1:${port}`,
    received,
    requests,
    opened: () => opened,
    nextPush,
    stop: () => server.forceShutdown(),
  };
}

const event = (userId: string, seq: number): UserEvent => ({
  userId,
  seq: String(seq),
  event: { cursor: "", eventId: `e${seq}`, occurredAt: new Date() },
  appendedAt: new Date(),
  traceContext: {},
  shared: 0,
});

const failures = async () => (await pushFailures.get()).values[0]?.value ?? 0;

describe("pushing to gateway nodes", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  /** A node started for this test, and a pusher that finds every user's streams on it. */
  async function nodeHoldingEveryone(options: Parameters<typeof startNode>[0] = {}, timeoutMs = 2000) {
    const node = await startNode(options);
    const pusher = new GatewayPusher(
      async (users) => [{ nodeId: "a", pushAddress: node.address, userIds: users }],
      silent,
      timeoutMs,
    );
    cleanups.push(node.stop, () => pusher.close());
    return { node, pusher };
  }

  it("sends each node only the events of the users it holds, on one stream per node", async () => {
    const [a, b] = await Promise.all([startNode(), startNode()]);
    cleanups.push(a.stop, b.stop);
    const pusher = new GatewayPusher(
      async () => [
        { nodeId: "a", pushAddress: a.address, userIds: ["alice"] },
        { nodeId: "b", pushAddress: b.address, userIds: ["bob", "alice"] },
      ],
      silent,
      2000,
    );
    cleanups.push(() => pusher.close());
    await pusher.push([event("alice", 1), event("bob", 1), event("carol", 1)]);
    await pusher.push([event("bob", 2)]);
    expect(a.received.map((batch) => batch.map((e) => `${e.userId}:${e.seq}`))).toEqual([["alice:1"]]);
    expect(b.received.map((batch) => batch.map((e) => `${e.userId}:${e.seq}`))).toEqual([
      ["alice:1", "bob:1"],
      ["bob:2"],
    ]);
  });

  it("splits a fan-out larger than one request may carry into several, in order, all acknowledged", async () => {
    const { node, pusher } = await nodeHoldingEveryone({}, 5000);
    // 500 events of ~40 KB each: ~20 MB, more than the node's 16 MiB receive limit.
    const padding = "x".repeat(40_000);
    const events = Array.from({ length: 500 }, (_, i) => ({
      ...event(`u${i}`, 1),
      traceContext: { padding },
    }));
    const failed = await failures();
    await pusher.push(events);
    expect(await failures()).toBe(failed);
    expect(node.received.length).toBeGreaterThan(1);
    expect(node.received.flat().map((e) => e.userId)).toEqual(events.map((e) => e.userId));
  });

  it("sends a node that reads shared events each event once per request, entries naming it", async () => {
    const { node, pusher } = await nodeHoldingEveryone({ readsShared: true });
    // A group message to 1,000 members: toUserEvents gives every entry the same Event object.
    const groupMessage = event("x", 1).event;
    const events = Array.from({ length: 1000 }, (_, i) => ({ ...event(`u${i}`, 1), event: groupMessage }));
    await pusher.push(events);
    expect(node.requests).toHaveLength(1);
    expect(node.requests[0]?.shared.map((e) => e.eventId)).toEqual([groupMessage?.eventId]);
    expect(node.requests[0]?.events.every((e) => e.event === undefined && e.shared === 1)).toBe(true);
    expect(node.received.flat().map((e) => [e.userId, e.event?.eventId])).toEqual(
      events.map((e) => [e.userId, groupMessage?.eventId]),
    );
    expect(node.opened()).toBe(1);
  });

  it("sends a node from before shared events (its answers do not say it reads them) whole events", async () => {
    const { node, pusher } = await nodeHoldingEveryone();
    const shared = event("x", 1).event;
    await pusher.push([
      { ...event("alice", 1), event: shared },
      { ...event("bob", 1), event: shared },
    ]);
    expect(node.requests.map((r) => r.shared)).toEqual([[]]);
    expect(node.requests[0]?.events.map((e) => [e.userId, e.event?.eventId, e.shared])).toEqual([
      ["alice", shared?.eventId, 0],
      ["bob", shared?.eventId, 0],
    ]);
  });

  it("counts a push to a node that is gone without throwing, and reconnects once it is back", async () => {
    const node = await startNode();
    const { port } = node;
    let current = node;
    const pusher = new GatewayPusher(
      async () => [{ nodeId: "n", pushAddress: `127.0.0.1:${port}`, userIds: ["alice"] }],
      silent,
      1000,
    );
    cleanups.push(
      () => pusher.close(),
      () => current.stop(),
    );
    await pusher.push([event("alice", 1)]);
    node.stop();
    const before = await failures();
    await pusher.push([event("alice", 2)]);
    expect(await failures()).toBeGreaterThan(before);

    current = await startNode({ port });
    await pusher.push([event("alice", 3)]);
    expect(current.received.flat().map((e) => e.seq)).toEqual(["3"]);
  });

  it("gives up on a node that does not acknowledge within the timeout, instead of waiting for it", async () => {
    const silentNode = await startNode({ acknowledge: false });
    cleanups.push(silentNode.stop);
    const pusher = new GatewayPusher(
      async () => [{ nodeId: "n", pushAddress: silentNode.address, userIds: ["alice"] }],
      silent,
      200,
    );
    cleanups.push(() => pusher.close());
    const before = await failures();
    const started = performance.now();
    await pusher.push([event("alice", 1)]);
    expect(performance.now() - started).toBeLessThan(2000);
    // Tried twice (a fresh stream the second time), both counted; a stream whose opening was
    // never answered sends nothing.
    expect(await failures()).toBe(before + 2);
    expect(silentNode.opened()).toBe(2);
    expect(silentNode.received).toHaveLength(0);
  });

  it("counts a failed lookup of streams and pushes nothing", async () => {
    const pusher = new GatewayPusher(
      async () => {
        throw new Error("presence is down");
      },
      silent,
      200,
    );
    const before = await failures();
    await pusher.push([event("alice", 1)]);
    expect(await failures()).toBe(before + 1);
  });
});

describe("pushing to a gateway node of this same process", () => {
  it("hands each push to its push server without opening a stream, in order, until the server stops", async () => {
    const delivered: PushedEvent[][] = [];
    const server = await startPushServer({
      bind: "127.0.0.1:0",
      deliver: (events) => delivered.push(events) && events.length,
      logger: silent,
    });
    const dialled = vi.spyOn(GatewayPushServiceClient.prototype, "push");
    const pusher = new GatewayPusher(
      async (users) => [{ nodeId: "here", pushAddress: server.address, userIds: users }],
      silent,
      2000,
    );
    try {
      const shared = { cursor: "", eventId: "group-message", occurredAt: new Date() };
      await pusher.push([event("alice", 1), event("bob", 1)]);
      await pusher.push([
        { ...event("alice", 2), event: shared },
        { ...event("bob", 2), event: shared },
      ]);
      expect(dialled).not.toHaveBeenCalled();
      expect(delivered.map((batch) => batch.map((e) => `${e.userId}:${e.seq}:${e.event?.eventId}`))).toEqual([
        ["alice:1:e1", "bob:1:e1"],
        ["alice:2:group-message", "bob:2:group-message"],
      ]);
      // Bytes in between, as over the network: the server decodes one object of its own for the
      // shared event, which both entries name.
      expect(delivered[1]?.[0]?.event).not.toBe(shared);
      expect(delivered[1]?.[0]?.event).toBe(delivered[1]?.[1]?.event);

      await server.stop(1_000);
      const before = await failures();
      await pusher.push([event("alice", 3)]);
      // Nothing answers in-process any more: the push went to the (stopped) node's address.
      expect(dialled).toHaveBeenCalled();
      expect(await failures()).toBe(before + 2);
      expect(delivered).toHaveLength(2);
    } finally {
      dialled.mockRestore();
      pusher.close();
      await server.stop(1_000);
    }
  });
});

const retried = async (outcome: string) =>
  (await pushRetries.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
const seqs = (batches: UserEvent[][]) => batches.map((batch) => batch.map((e) => `${e.userId}:${e.seq}`));
const typing = (userId: string): UserEvent => ({ ...event(userId, 0), seq: "0" });

/**
 * Presence as delivery sees it, switchable: `down` makes Locate fail; otherwise the given users'
 * streams are on `address`.
 */
function switchableLocate(address: () => string, users: string[]) {
  const presence = { down: true, calls: 0 };
  const locate: Locate = async (userIds) => {
    presence.calls++;
    if (presence.down) throw new Error("presence answers an error");
    const held = userIds.filter((id) => users.includes(id));
    return held.length > 0 ? [{ nodeId: "n", pushAddress: address(), userIds: held }] : [];
  };
  return { presence, locate };
}

describe("retrying failed pushes", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  /** Retries only when the test says (retry()), unless `everyMs` is given. */
  const pusherWith = (
    locate: Locate,
    retry: { windowMs?: number; everyMs?: number; maxUsers?: number; now?: () => number } = {},
  ) => {
    const pusher = new GatewayPusher(locate, silent, 1000, {
      windowMs: 60_000,
      everyMs: 3_600_000,
      ...retry,
    });
    cleanups.push(() => pusher.close());
    const retries = pusher.retries;
    if (!retries) throw new Error("retrying is off");
    return { pusher, retries };
  };

  it("pushes an event whose streams could not be located again, on its own, once Locate works", async () => {
    const node = await startNode();
    cleanups.push(node.stop);
    const { presence, locate } = switchableLocate(() => node.address, ["alice"]);
    const { pusher, retries } = pusherWith(locate, { everyMs: 50 });
    const delivered = await retried("delivered");
    await pusher.push([event("alice", 1)]);
    expect(retries.heldFor("alice")?.seq).toBe("1");
    const arrived = node.nextPush();
    presence.down = false;
    await arrived;
    // The round that pushed it ends once the node acknowledged (retry() joins a running round).
    await retries.retry();
    expect(seqs(node.received)).toEqual([["alice:1"]]);
    expect(retries.size).toBe(0);
    expect(await retried("delivered")).toBe(delivered + 1);
  });

  it("pushes again to a node that was down, once it is back", async () => {
    const first = await startNode();
    const { port } = first;
    first.stop();
    const { presence, locate } = switchableLocate(() => `127.0.0.1:${port}`, ["alice"]);
    presence.down = false;
    const { pusher, retries } = pusherWith(locate, { everyMs: 50 });
    await pusher.push([event("alice", 7)]);
    expect(retries.heldFor("alice")?.seq).toBe("7");
    const again = await startNode({ port });
    cleanups.push(again.stop);
    await again.nextPush();
    await retries.retry();
    expect(seqs(again.received)).toEqual([["alice:7"]]);
    expect(retries.size).toBe(0);
  });

  it("holds only each user's latest durable event, never an ephemeral one, and forgets it after a newer push", async () => {
    const node = await startNode();
    cleanups.push(node.stop);
    const { presence, locate } = switchableLocate(() => node.address, ["alice", "bob"]);
    const { pusher, retries } = pusherWith(locate);
    await pusher.push([event("alice", 1), event("alice", 3), event("alice", 2), event("bob", 1)]);
    // An older event failing later (another partition's batch) does not replace a newer one.
    await pusher.push([event("alice", 2), typing("alice"), typing("carol")]);
    expect(retries.size).toBe(2);
    expect(retries.heldFor("alice")?.seq).toBe("3");
    expect(retries.heldFor("carol")).toBeUndefined();
    presence.down = false;
    await retries.retry();
    // One push of the latest of each: the gateway fills alice's seqs 1 and 2 from Replay.
    expect(seqs(node.received)).toEqual([["alice:3", "bob:1"]]);
    expect(retries.size).toBe(0);

    presence.down = true;
    await pusher.push([event("bob", 2)]);
    presence.down = false;
    await pusher.push([event("bob", 3)]);
    expect(retries.size).toBe(0);
    await retries.retry();
    expect(seqs(node.received).at(-1)).toEqual(["bob:3"]);
    expect(node.received).toHaveLength(2);
  });

  it("stops retrying a user who has no stream any more", async () => {
    const { presence, locate } = switchableLocate(() => "127.0.0.1:1", []);
    const { pusher, retries } = pusherWith(locate);
    const offline = await retried("offline");
    await pusher.push([event("alice", 1)]);
    presence.down = false;
    await retries.retry();
    expect(retries.size).toBe(0);
    expect(await retried("offline")).toBe(offline + 1);
  });

  it("gives up when the window closes", async () => {
    const clock = { now: 0 };
    const { locate, presence } = switchableLocate(() => "127.0.0.1:1", ["alice"]);
    const { pusher, retries } = pusherWith(locate, { windowMs: 5_000, now: () => clock.now });
    const givenUp = await retried("given_up");
    await pusher.push([event("alice", 1)]);
    clock.now = 4_999;
    await retries.retry();
    expect(presence.calls).toBe(2);
    expect(retries.heldFor("alice")?.seq).toBe("1");
    clock.now = 5_000;
    await retries.retry();
    expect(presence.calls).toBe(2);
    expect(retries.size).toBe(0);
    expect(await retried("given_up")).toBe(givenUp + 1);
  });

  it("holds at most maxUsers, dropping the one held longest", async () => {
    const { locate } = switchableLocate(() => "127.0.0.1:1", []);
    const { pusher, retries } = pusherWith(locate, { maxUsers: 2 });
    const dropped = await retried("dropped_over_cap");
    await pusher.push([event("u1", 1)]);
    await pusher.push([event("u2", 1)]);
    await pusher.push([event("u3", 1)]);
    expect([retries.heldFor("u1"), retries.heldFor("u2")?.seq, retries.heldFor("u3")?.seq]).toEqual([
      undefined,
      "1",
      "1",
    ]);
    // A newer failure makes u2 the most recent; u3 is then the oldest.
    await pusher.push([event("u2", 2)]);
    await pusher.push([event("u4", 1)]);
    expect(retries.heldFor("u3")).toBeUndefined();
    expect(retries.heldFor("u2")?.seq).toBe("2");
    expect(retries.size).toBe(2);
    expect(await retried("dropped_over_cap")).toBe(dropped + 2);
  });

  it("holds nothing once closed, and nothing when the window is 0", async () => {
    const { locate } = switchableLocate(() => "127.0.0.1:1", []);
    const { pusher, retries } = pusherWith(locate);
    await pusher.push([event("alice", 1)]);
    pusher.close();
    expect(retries.size).toBe(0);
    await pusher.push([event("alice", 2)]);
    expect(retries.size).toBe(0);
    expect(new GatewayPusher(locate, silent, 1000, { windowMs: 0 }).retries).toBeUndefined();
  });
});
