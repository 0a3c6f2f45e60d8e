import { createServer, connect as dial, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryServiceClient } from "../services/gen/grpc/parley/internal/v1/delivery.js";
import { call, createClient } from "../services/kit/grpc/client.js";
import { eventually } from "../services/kit/testing/eventually.js";
import { newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import { connectEvents, type EventStreamClient, kindOf } from "./event-clients.js";
import { startTestParley, type TestParley } from "./harness.js";

/**
 * A push that fails still reaches the open stream, by itself: all-in-one with a real gateway
 * stream, and a TCP proxy between delivery and the gateway node's push server that the test cuts
 * for a moment (a network fault between delivery and one gateway pod). The gateway's own calls to
 * presence keep working, so it has no reason to resync; nothing is sent after the message. Without
 * delivery's push retry the stream would not see the message until the user's next event or a
 * reconnect.
 */

/** Forwards TCP to `target`; while cut, drops every connection, open or new. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private cut = false;
  address = "";

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = dial(this.target);
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(from);
        from.pipe(to);
        from.on("error", () => to.destroy());
        from.on("close", () => {
          this.sockets.delete(from);
          to.destroy();
        });
      }
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const bound = this.server.address();
    this.address = `127.0.0.1:${typeof bound === "object" && bound ? bound.port : 0}`;
  }

  cutOff(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cut = false;
  }

  close(): Promise<void> {
    this.cutOff();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const bound = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof bound === "object" && bound ? bound.port : 0;
}

let parley: TestParley;
let proxy: CuttableProxy;
let api: RestClient;
let delivery: DeliveryServiceClient;
let alice: TestUser;
let bob: TestUser;
let stream: EventStreamClient | undefined;

beforeAll(async () => {
  const pushPort = await freePort();
  proxy = new CuttableProxy({ host: "127.0.0.1", port: pushPort });
  await proxy.listen();
  parley = await startTestParley({
    env: {
      PARLEY_GATEWAY_PUSH_LISTEN: `127.0.0.1:${pushPort}`,
      // What the node registers with presence: delivery dials the proxy.
      PARLEY_GATEWAY_PUSH_ADDRESS: proxy.address,
      PARLEY_DELIVERY_PUSH_TIMEOUT_MS: "500",
    },
  });
  api = restClient(parley.url);
  delivery = createClient(DeliveryServiceClient, parley.parley.addresses.resolve("delivery"));
  [alice, bob] = (await Promise.all(["alice", "bob"].map((p) => newUser(api, p)))) as [TestUser, TestUser];
}, 120_000);

afterAll(async () => {
  stream?.close();
  delivery?.close();
  await parley?.cleanup();
  await proxy?.close();
});

/** A sample's value on the admin port's /metrics (0 when absent). */
async function metric(sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${parley.parley.adminPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

const contentOf = (event: { message?: { message?: { content?: string } } }) =>
  event.message?.message?.content;

describe("a push that failed", () => {
  it("reaches the open stream without any further event once the node can be reached again", async () => {
    stream = connectEvents(parley.url, { token: bob.token });
    await stream.until((e) => kindOf(e) === "control:LIVE", 20_000);
    const send = async (message: string) => {
      const res = await api.post("/chat/send", { recipient: bob.username, message }, alice.token);
      expect(res.status).toBe(200);
      return res.body.messageId as string;
    };
    // The push path goes through the proxy.
    await send("before the cut");
    await stream.until((e) => contentOf(e) === "before the cut", 15_000);

    const failures = await metric("parley_delivery_push_failures_total");
    const delivered = await metric('parley_delivery_push_retries_total{outcome="delivered"}');
    proxy.cutOff();
    const messageId = await send("while cut");
    // Committed to bob's inbox, its push tried twice and failed, and held for retrying.
    await eventually(
      async () =>
        (await metric("parley_delivery_push_failures_total")) >= failures + 2 &&
        (await metric("parley_delivery_push_retry_users")) >= 1,
      15_000,
    );
    const inbox = await call(delivery, "replay", { userId: bob.userId, afterSeq: "0", limit: 100 });
    expect(inbox.events.map((e) => e.event?.eventId)).toContain(messageId);
    expect(stream.received.map(contentOf)).not.toContain("while cut");

    proxy.restore();
    const after = await stream.until((e) => contentOf(e) === "while cut", 20_000);
    // Nothing else arrived first: no later event revealed the gap.
    expect(after.filter((e) => ["message", "receipt", "group"].includes(kindOf(e)))).toHaveLength(1);
    expect(await metric('parley_delivery_push_retries_total{outcome="delivered"}')).toBe(delivered + 1);
    expect(await metric("parley_delivery_push_retry_users")).toBe(0);
  });
});
