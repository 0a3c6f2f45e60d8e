// Test fixture (imported by *.test.ts only): a loopback TCP proxy in front of a real broker that can
// lose produce responses — the broker appends the records, the client never hears so.
import { createConnection, createServer, type Server, type Socket } from "node:net";

/** Kafka's Produce request (API key 0). */
const PRODUCE = 0;

/**
 * Splits a byte stream into Kafka frames (a 4-byte big-endian size, then that many bytes), calling
 * `onFrame` with each whole frame including its size prefix.
 */
function framer(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0);
      if (pending.length < 4 + size) break;
      onFrame(pending.subarray(0, 4 + size));
      pending = pending.subarray(4 + size);
    }
  };
}

/**
 * Forwards every connection to the broker. While `loseProduceResponses` is on, each Produce request
 * still reaches the broker, but when its response comes back the proxy drops it and closes the
 * client's connection, as a broker dying right after the append would look to the client.
 */
export class KafkaResponseLoser {
  loseProduceResponses = false;
  /** Produce responses dropped so far. */
  lost = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(listenPort: number, brokerPort: number): Promise<KafkaResponseLoser> {
    const server = createServer();
    const proxy = new KafkaResponseLoser(server);
    server.on("connection", (client) => proxy.relay(client, brokerPort));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listenPort, "127.0.0.1", resolve);
    });
    return proxy;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, brokerPort: number): void {
    const broker = createConnection({ host: "127.0.0.1", port: brokerPort });
    for (const socket of [client, broker]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => {});
    }
    const closeBoth = () => {
      client.destroy();
      broker.destroy();
    };
    client.on("close", closeBoth);
    broker.on("close", closeBoth);

    // Correlation ids of the Produce requests whose responses this connection must lose.
    const doomed = new Set<number>();
    client.on(
      "data",
      framer((frame) => {
        // Request header: api_key int16, api_version int16, correlation_id int32.
        if (this.loseProduceResponses && frame.readInt16BE(4) === PRODUCE) doomed.add(frame.readInt32BE(8));
        broker.write(frame);
      }),
    );
    broker.on(
      "data",
      framer((frame) => {
        // Response header: correlation_id int32.
        if (doomed.has(frame.readInt32BE(4))) {
          this.lost++;
          closeBoth();
          return;
        }
        if (!client.destroyed) client.write(frame);
      }),
    );
  }
}
