import type { ClientDuplexStream } from "@grpc/grpc-js";
import {
  GatewayPushServiceClient,
  type PushRequest,
  type PushResponse,
  type UserEvent,
} from "../gen/grpc/parley/internal/v1/delivery.js";
import { createClient } from "../kit/grpc/client.js";
import type { Logger } from "../kit/logger.js";
import { pushFailures } from "./metrics.js";

/** Where users' streams are: the gateway nodes holding them (presence.Locate). */
export type Locate = (
  userIds: string[],
) => Promise<{ nodeId: string; pushAddress: string; userIds: string[] }[]>;

interface Waiting {
  resolve(): void;
  reject(err: Error): void;
}

/** One long-lived Push stream to one gateway node; acknowledgements come back in order. */
class NodeStream {
  private readonly waiting: Waiting[] = [];
  private broken: Error | undefined;
  private readonly call: ClientDuplexStream<PushRequest, PushResponse>;

  constructor(
    private readonly client: GatewayPushServiceClient,
    private readonly onBroken: () => void,
  ) {
    this.call = client.push();
    this.call.on("data", () => this.waiting.shift()?.resolve());
    this.call.on("error", (err: Error) => this.fail(err));
    this.call.on("end", () => this.fail(new Error("push stream ended")));
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

  send(request: PushRequest, timeoutMs: number): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A node that does not acknowledge in time is treated as gone: the stream is dropped and
        // reopened by the next push, so later acknowledgements cannot be matched to wrong requests.
        this.close(new Error(`push not acknowledged within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push({
        resolve: () => {
          clearTimeout(timer);
          resolve();
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
 * that fails is retried once on a fresh stream and then given up (counted): the events are in the
 * inboxes already, and streams fill gaps from Replay or resume from their cursor.
 */
export class GatewayPusher {
  private readonly streams = new Map<string, NodeStream>();

  constructor(
    private readonly locate: Locate,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  async push(events: UserEvent[]): Promise<void> {
    if (events.length === 0) return;
    let nodes: Awaited<ReturnType<Locate>>;
    try {
      nodes = await this.locate([...new Set(events.map((e) => e.userId))]);
    } catch (err) {
      pushFailures.inc();
      this.logger.warn({ err }, "could not locate streams; events stay in the inboxes");
      return;
    }
    await Promise.all(
      nodes.map(async (node) => {
        const held = new Set(node.userIds);
        const mine = events.filter((e) => held.has(e.userId));
        if (mine.length > 0) await this.pushTo(node.pushAddress, node.nodeId, mine);
      }),
    );
  }

  private async pushTo(address: string, nodeId: string, events: UserEvent[]): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.stream(address).send({ events }, this.timeoutMs);
        return;
      } catch (err) {
        pushFailures.inc();
        if (attempt === 1) {
          this.logger.warn({ err, nodeId, address, events: events.length }, "push to gateway failed");
        }
      }
    }
  }

  private stream(address: string): NodeStream {
    const existing = this.streams.get(address);
    if (existing?.usable) return existing;
    const stream = new NodeStream(createClient(GatewayPushServiceClient, address), () => {
      if (this.streams.get(address) === stream) this.streams.delete(address);
    });
    this.streams.set(address, stream);
    return stream;
  }

  close(): void {
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
  }
}
