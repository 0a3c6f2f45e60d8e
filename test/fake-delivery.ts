import {
  type ClientDuplexStream,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  DeliveryServiceService,
  GatewayPushServiceClient,
  type PushRequest,
  type PushResponse,
  type UserEvent,
} from "../services/gen/grpc/parley/internal/v1/delivery.js";
import { PresenceServiceClient } from "../services/gen/grpc/parley/internal/v1/presence.js";
import type { Event } from "../services/gen/grpc/parley/v1/events.js";

/**
 * A test fixture standing in for the delivery service at the gateway's boundary: an in-memory
 * inbox per user that serves DeliveryService.Replay and pushes new events the way delivery does
 * (presence.Locate, then GatewayPushService.Push to each node). For gateway transport tests that
 * must not depend on message fan-out; the real delivery service is tested end to end elsewhere.
 */
export class FakeDelivery {
  readonly inbox = new Map<string, UserEvent[]>();
  readonly calls: { method: string; request: unknown }[] = [];
  private server = new Server();
  private presence: PresenceServiceClient | undefined;
  private readonly pushes = new Map<
    string,
    { call: ClientDuplexStream<PushRequest, PushResponse>; acks: (() => void)[] }
  >();
  address = "";

  async start(): Promise<string> {
    const record =
      (method: string, reply: (request: never) => unknown = () => ({})) =>
      (call: { request: unknown }, callback: (err: ServiceError | null, res: unknown) => void) => {
        this.calls.push({ method, request: call.request });
        callback(null, reply(call.request as never));
      };
    this.server.addService(DeliveryServiceService, {
      replay: record("replay", (req: { userId: string; afterSeq: string; limit: number }) => {
        const events = this.inbox.get(req.userId) ?? [];
        return {
          events: events.filter((e) => BigInt(e.seq) > BigInt(req.afterSeq)).slice(0, req.limit || 100),
          headSeq: String(events.length),
          expired: false,
          oldestSeq: "1",
        };
      }),
      recordReceipt: record("recordReceipt"),
      publishTyping: record("publishTyping"),
      publishPresence: record("publishPresence"),
      getPresence: record("getPresence", () => ({ presence: [] })),
      getSettings: record("getSettings", () => ({
        settings: { sendReadReceipts: true, sharePresence: true },
      })),
      updateSettings: record("updateSettings", (req: { settings: unknown }) => ({ settings: req.settings })),
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.address = `127.0.0.1:${port}`;
    return this.address;
  }

  /** Where presence is (the Parley under test's own presence service). */
  usePresence(address: string) {
    this.presence = new PresenceServiceClient(address, credentials.createInsecure());
  }

  /** Appends a durable event for `userId` and pushes it (unless `push` is false); returns its seq. */
  async append(userId: string, event: Partial<Event>, push = true): Promise<number> {
    const events = this.inbox.get(userId) ?? [];
    this.inbox.set(userId, events);
    const seq = events.length + 1;
    const userEvent: UserEvent = {
      userId,
      seq: String(seq),
      traceContext: {},
      appendedAt: new Date(),
      event: { cursor: "", eventId: `ev-${userId}-${seq}`, occurredAt: new Date(), ...event },
      shared: 0,
    };
    events.push(userEvent);
    if (push) await this.push([userEvent]);
    return seq;
  }

  /** Pushes events (durable or seq-0 ephemeral) to the nodes presence says hold their users. */
  async push(events: UserEvent[]): Promise<void> {
    const presence = this.presence;
    if (!presence) throw new Error("usePresence first");
    const users = [...new Set(events.map((e) => e.userId))];
    const located = await new Promise<{ nodes: { pushAddress: string; userIds: string[] }[] }>(
      (resolve, reject) =>
        presence.locate({ userIds: users }, new Metadata(), (err, res) => (err ? reject(err) : resolve(res))),
    );
    await Promise.all(
      located.nodes.map((node) =>
        this.pushTo(
          node.pushAddress,
          events.filter((e) => node.userIds.includes(e.userId)),
        ),
      ),
    );
  }

  private pushTo(address: string, events: UserEvent[]): Promise<void> {
    let stream = this.pushes.get(address);
    if (!stream) {
      const client = new GatewayPushServiceClient(address, credentials.createInsecure());
      const call = client.push();
      const entry = { call, acks: [] as (() => void)[] };
      call.on("data", () => entry.acks.shift()?.());
      call.on("error", () => {
        this.pushes.delete(address);
        for (const ack of entry.acks.splice(0)) ack();
      });
      stream = entry;
      this.pushes.set(address, stream);
    }
    const target = stream;
    return new Promise((resolve) => {
      target.acks.push(resolve);
      target.call.write({ events, shared: [] });
    });
  }

  typing(userId: string, conversationId: string): Promise<void> {
    return this.push([
      {
        userId,
        seq: "0",
        traceContext: {},
        appendedAt: undefined,
        shared: 0,
        event: {
          cursor: "",
          eventId: "",
          occurredAt: new Date(),
          typing: {
            conversationId,
            userId: "someone",
            username: "someone",
            typing: true,
            expiresAt: undefined,
          },
        },
      },
    ]);
  }

  async stop() {
    for (const { call } of this.pushes.values()) call.end();
    this.presence?.close();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

export { status as grpcStatus };
