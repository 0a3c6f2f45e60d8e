import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  GatewayPushServiceService,
  type PushRequest,
  type PushResponse,
  type UserEvent,
} from "../services/gen/grpc/parley/internal/v1/delivery.js";

/**
 * A gateway node's push endpoint for tests of delivery: a real GatewayPushService server that
 * acknowledges every push and records the events (shared ones resolved, as a gateway reads
 * them), so a test can wait for the one it expects.
 */
export class RecordingNode {
  readonly events: UserEvent[] = [];
  private readonly waiters: { match: (e: UserEvent) => boolean; resolve: (e: UserEvent) => void }[] = [];
  private server = new Server();
  address = "";

  async start(): Promise<void> {
    this.server.addService(GatewayPushServiceService, {
      push: (stream: ServerDuplexStream<PushRequest, PushResponse>) => {
        stream.on("data", (request: PushRequest) => {
          for (const entry of request.events) {
            const event = entry.shared > 0 ? { ...entry, event: request.shared[entry.shared - 1] } : entry;
            this.events.push(event);
            for (const w of [...this.waiters]) {
              if (w.match(event)) {
                this.waiters.splice(this.waiters.indexOf(w), 1);
                w.resolve(event);
              }
            }
          }
          stream.write({ accepted: request.events.length, readsShared: true });
        });
        stream.on("end", () => stream.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.address = `127.0.0.1:${port}`;
  }

  /** Resolves with the first pushed event (already received or still to come) that matches. */
  next(match: (e: UserEvent) => boolean): Promise<UserEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  stop(): void {
    this.server.forceShutdown();
  }
}
