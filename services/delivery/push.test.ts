import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  GatewayPushServiceService,
  type PushRequest,
  type PushResponse,
  type UserEvent,
} from "../gen/grpc/parley/internal/v1/delivery.js";
import { createLogger } from "../kit/logger.js";
import { pushFailures } from "./metrics.js";
import { GatewayPusher } from "./push.js";

const silent = createLogger({ level: "silent" });

/** A gateway node's push endpoint: records pushes; acknowledges them unless told to stay silent. */
async function startNode(options: { port?: number; acknowledge?: boolean } = {}) {
  const received: UserEvent[][] = [];
  const server = new Server();
  server.addService(GatewayPushServiceService, {
    push: (stream: ServerDuplexStream<PushRequest, PushResponse>) => {
      stream.on("data", (request: PushRequest) => {
        received.push(request.events);
        if (options.acknowledge !== false) stream.write({ accepted: request.events.length });
      });
      stream.on("end", () => stream.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, address: `127.0.0.1:${port}`, received, stop: () => server.forceShutdown() };
}

const event = (userId: string, seq: number): UserEvent => ({
  userId,
  seq: String(seq),
  event: { cursor: "", eventId: `e${seq}`, occurredAt: new Date() },
  appendedAt: new Date(),
  traceContext: {},
});

const failures = async () => (await pushFailures.get()).values[0]?.value ?? 0;

describe("pushing to gateway nodes", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

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
    // Tried twice (a fresh stream the second time), both counted.
    expect(await failures()).toBe(before + 2);
    expect(silentNode.received).toHaveLength(2);
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
