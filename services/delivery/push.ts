import { type ClientDuplexStream, Metadata } from "@grpc/grpc-js";
import {
  GatewayPushServiceClient,
  GatewayPushServiceService,
  type PushRequest,
  type PushResponse,
  type UserEvent,
} from "../gen/grpc/parley/internal/v1/delivery.js";
import type { GrpcErrorShape } from "../kit/errors.js";
import { createClient } from "../kit/grpc/client.js";
import { type InProcessMethod, inProcessMethod, invokeInProcess } from "../kit/grpc/in-process.js";
import type { Logger } from "../kit/logger.js";
import { pushFailures } from "./metrics.js";
import { pushRequests } from "./push-requests.js";
import { type PushOutcome, PushRetries, type PushRetryOptions } from "./push-retry.js";

/** Where users' streams are: the gateway nodes holding them (presence.Locate). */
export type Locate = (
  userIds: string[],
) => Promise<{ nodeId: string; pushAddress: string; userIds: string[] }[]>;

interface Waiting {
  resolve(response: PushResponse): void;
  reject(err: Error): void;
}

/** The way to one gateway node: a Push stream, or its push server when it is in this process. */
interface NodeChannel {
  readonly usable: boolean;
  /** Pushes the events, in order with every earlier push; resolves when acknowledged. */
  push(events: UserEvent[]): Promise<void>;
  close(reason?: Error): void;
}

const PUSH = GatewayPushServiceService.push;

/**
 * A gateway node of this same process (all-in-one): each request is handed to its push server
 * (kit/grpc/in-process.ts), as bytes, with no HTTP/2 stream in between. Requests are served in the
 * order they are made, as on a stream. Once that server has stopped, the channel is unusable and
 * the next push dials the node's address.
 */
class LocalNodeChannel implements NodeChannel {
  private broken = false;

  constructor(
    private readonly address: string,
    private readonly timeoutMs: number,
    private readonly onBroken: () => void,
  ) {}

  get usable(): boolean {
    return !this.broken && this.server() !== undefined;
  }

  private server(): InProcessMethod | undefined {
    return inProcessMethod(this.address, PUSH.path);
  }

  async push(events: UserEvent[]): Promise<void> {
    const server = this.server();
    if (this.broken || !server) {
      this.close();
      throw new Error("the gateway's push server has stopped");
    }
    const deadline = Date.now() + this.timeoutMs;
    await Promise.all(
      pushRequests(events, { shared: true }).map((request) =>
        invokeInProcess(server, PUSH, request, new Metadata(), deadline).catch((failure: GrpcErrorShape) => {
          throw new Error(`push failed: ${failure.details}`);
        }),
      ),
    );
  }

  close(): void {
    if (this.broken) return;
    this.broken = true;
    this.onBroken();
  }
}

/**
 * One long-lived Push stream to one gateway node; acknowledgements come back in order. It opens
 * with an empty request, whose answer says whether the node reads shared events (a gateway from
 * before them answers it too, without the flag, and is sent whole events).
 */
class NodeStream implements NodeChannel {
  private readonly waiting: Waiting[] = [];
  private broken: Error | undefined;
  private readonly call: ClientDuplexStream<PushRequest, PushResponse>;
  private readonly readsShared: Promise<boolean>;

  constructor(
    private readonly client: GatewayPushServiceClient,
    private readonly timeoutMs: number,
    private readonly onBroken: () => void,
  ) {
    this.call = client.push();
    this.call.on("data", (response: PushResponse) => this.waiting.shift()?.resolve(response));
    this.call.on("error", (err: Error) => this.fail(err));
    this.call.on("end", () => this.fail(new Error("push stream ended")));
    // A failed opening breaks the stream: the pushes waiting for it fail with it.
    this.readsShared = this.request({ events: [], shared: [] }).then(
      (response) => response.readsShared,
      () => false,
    );
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    this.onBroken();
    for (const w of this.waiting.splice(0)) w.reject(err);
    this.call.cancel();
    this.client.close();
  }

  get usable(): boolean {
    return this.broken === undefined;
  }

  /** Pushes the events, in order with every earlier push on this stream; resolves when acknowledged. */
  async push(events: UserEvent[]): Promise<void> {
    const shared = await this.readsShared;
    // Large fan-outs go as several requests, pipelined.
    await Promise.all(pushRequests(events, { shared }).map((request) => this.request(request)));
  }

  private request(request: PushRequest): Promise<PushResponse> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<PushResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A node that does not acknowledge in time is treated as gone: the stream is dropped and
        // reopened by the next push, so later acknowledgements cannot be matched to wrong requests.
        this.close(new Error(`push not acknowledged within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.push({
        resolve: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.call.write(request);
    });
  }

  close(reason = new Error("delivery is stopping")): void {
    this.fail(reason);
  }
}

/**
 * Pushes events to the gateway nodes that hold their users' streams, one stream per node. A push
 * that fails is retried once on a fresh stream and counted. With `retry`, the latest durable event
 * of each user whose push failed (streams not located, or a node not answering) is then pushed
 * again about every second for a while (PushRetries). Nothing is ever lost either way: the events
 * are in the inboxes, and streams fill gaps from Replay or resume from their cursor.
 */
export class GatewayPusher {
  private readonly streams = new Map<string, NodeChannel>();
  private closed = false;
  /** Undefined when retrying is off. */
  readonly retries: PushRetries | undefined;

  constructor(
    private readonly locate: Locate,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
    retry?: PushRetryOptions,
  ) {
    this.retries =
      retry && retry.windowMs > 0
        ? new PushRetries((events) => this.attempt(events, true), logger, retry)
        : undefined;
  }

  async push(events: UserEvent[]): Promise<void> {
    if (events.length === 0) return;
    const outcome = await this.attempt(events, false);
    this.retries?.settle(events, outcome);
  }

  /** One push of these events; never throws. Retries log at debug: they fail every second. */
  private async attempt(events: UserEvent[], retrying: boolean): Promise<PushOutcome> {
    const users = [...new Set(events.map((e) => e.userId))];
    let nodes: Awaited<ReturnType<Locate>>;
    try {
      nodes = await this.locate(users);
    } catch (err) {
      pushFailures.inc();
      this.logger[retrying ? "debug" : "warn"](
        { err },
        "could not locate streams; events stay in the inboxes",
      );
      return { failed: new Set(users), pushed: new Set() };
    }
    const failed = new Set<string>();
    const pushed = new Set<string>();
    await Promise.all(
      nodes.map(async (node) => {
        const held = new Set(node.userIds);
        const mine = events.filter((e) => held.has(e.userId));
        if (mine.length === 0) return;
        // Closed while locating: no new stream may be opened that nobody would close.
        const ok = !this.closed && (await this.pushTo(node.pushAddress, node.nodeId, mine, retrying));
        for (const e of mine) (ok ? pushed : failed).add(e.userId);
      }),
    );
    // A user with streams on two nodes is done only when both took the push.
    for (const userId of failed) pushed.delete(userId);
    return { failed, pushed };
  }

  private async pushTo(address: string, nodeId: string, events: UserEvent[], retrying: boolean) {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.stream(address).push(events);
        return true;
      } catch (err) {
        pushFailures.inc();
        if (attempt === 1) {
          this.logger[retrying ? "debug" : "warn"](
            { err, nodeId, address, events: events.length },
            "push to gateway failed",
          );
        }
      }
    }
    return false;
  }

  private stream(address: string): NodeChannel {
    const existing = this.streams.get(address);
    if (existing?.usable) return existing;
    const forget = () => {
      if (this.streams.get(address) === stream) this.streams.delete(address);
    };
    const stream: NodeChannel = inProcessMethod(address, PUSH.path)
      ? new LocalNodeChannel(address, this.timeoutMs, forget)
      : new NodeStream(createClient(GatewayPushServiceClient, address), this.timeoutMs, forget);
    this.streams.set(address, stream);
    return stream;
  }

  close(): void {
    this.closed = true;
    this.retries?.stop();
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
  }
}
