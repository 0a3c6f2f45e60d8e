import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { z } from "zod";
import { asDomainError, type DomainError, invalidArgument } from "../../kit/errors.js";
import type { Logger } from "../../kit/logger.js";
import type { EventsApi, StreamIdentity } from "./api.js";
import { parseCursor } from "./cursor.js";
import { eventJsonText } from "./event-json.js";
import type { DeviceStream } from "./hub.js";

export const WS_PATH = "/v1/events/ws";

/** Close codes (RFC 6455 §7.4.1) and what they mean here. */
export const WS_CLOSE = {
  /** The server asks the client to reconnect with the cursor of the last event (drain, slow, unavailable). */
  reconnect: 1012,
  /** A binary frame or an unknown frame type. */
  unsupported: 1003,
  /** A text frame that is not JSON or does not match its type's schema. */
  invalid: 1007,
  /** Larger than PARLEY_EVENTS_WS_MAX_FRAME_BYTES (past 4× that the library closes with no reason). */
  tooBig: 1009,
  /** The stream could not be opened after the handshake (e.g. delivery unavailable). */
  tryAgain: 1013,
} as const;

const id = z.string().max(64).optional();
const conversationId = z.string().min(1).max(128);
const messageId = z.string().min(1).max(128);
const TYPES = ["ping", "typing", "delivered", "read"] as const;

/** What a client may send: pings, typing and receipts (browsers have no other cheap channel). */
const clientFrame = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("ping"), id }),
  z.strictObject({ type: z.literal("typing"), id, conversationId, typing: z.boolean() }),
  z.strictObject({ type: z.literal("delivered"), id, conversationId, messageId }),
  z.strictObject({ type: z.literal("read"), id, conversationId, messageId }),
]);
type ClientFrame = z.infer<typeof clientFrame>;

/** Server frames that are not events carry `type`; Event JSON never has that member. */
type Reply =
  | { type: "pong"; id?: string }
  | { type: "ack"; id?: string }
  | { type: "error"; id?: string; error: { code: string; message: string } };

// Past this many bytes waiting in the socket, wait for them to be written before sending more.
const HIGH_WATER_BYTES = 256 * 1024;

/**
 * `GET /v1/events/ws`: the same stream as Subscribe, as JSON text frames (proto3 JSON of Event).
 * Auth by `Authorization: Bearer` or `?ticket=`; resume by `?cursor=`. Everything is checked
 * before the handshake, so a refused upgrade is a plain HTTP error with the JSON error body.
 */
export function webSocketUpgrade(options: {
  api: EventsApi;
  logger: Logger;
  maxFrameBytes: number;
}): (req: IncomingMessage, socket: Socket, head: Buffer) => void {
  // The library's hard cap (it closes 1009 with no reason) sits above ours, which gives a reason.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxFrameBytes * 4,
    clientTracking: false,
  });

  return (req, socket, head) => {
    socket.on("error", destroySocket);
    const url = new URL(req.url ?? "/", "http://gateway");
    if (url.pathname !== WS_PATH) {
      refuse(socket, 404, { code: "not_found", message: `no WebSocket endpoint at ${url.pathname}` });
      return;
    }
    void (async () => {
      const single = (name: string) => {
        const values = url.searchParams.getAll(name);
        if (values.length > 1) throw invalidArgument(`${name}: must be given at most once`);
        return values[0] ?? null;
      };
      const cursor = single("cursor");
      const ticket = single("ticket");
      const who = await options.api.authenticate(header(req.headers.authorization), ticket);
      if (cursor) parseCursor(cursor, who.userId);
      return { who, cursor };
    })().then(
      ({ who, cursor }) => {
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => {
          void serve(ws, who, cursor, options);
        });
      },
      (err: unknown) => {
        const domain = asDomainError(err);
        refuse(socket, domain.httpStatus, domain.toJSON().error);
      },
    );
  };
}

/**
 * Not a closure: it stays on the socket for the stream's whole life, and a closure here would keep
 * the upgrade request, its URL and head buffer alive with it (memory per idle stream).
 */
function destroySocket(this: Socket): void {
  this.destroy();
}

interface WsOptions {
  api: EventsApi;
  logger: Logger;
  maxFrameBytes: number;
}

function serve(ws: WebSocket, who: StreamIdentity, cursor: string | null, options: WsOptions) {
  const connection = new WsConnection(ws, who, options);
  (ws as Attached)[CONNECTION] = connection;
  // Frames that arrive before the stream is open are handled too (nothing depends on it).
  ws.on("message", onMessage);
  ws.on("close", onClose);
  ws.on("error", ignore); // the close event follows
  ws.on("pong", onPong);
  return connection.run(cursor);
}

// The socket's listeners are shared functions that find their connection on the socket: an idle
// stream then holds no closures (a few hundred bytes each, times 20,000 streams).
const CONNECTION = Symbol("parley.wsConnection");
type Attached = WebSocket & { [CONNECTION]: WsConnection };
function onMessage(this: WebSocket, data: RawData, isBinary: boolean) {
  (this as Attached)[CONNECTION].received(data, isBinary);
}
function onClose(this: WebSocket) {
  (this as Attached)[CONNECTION].closed();
}
function onPong(this: WebSocket) {
  (this as Attached)[CONNECTION].awaitingPong = false;
}
function ignore() {}

/** One WebSocket stream: client frames in, events out. */
class WsConnection {
  private closing = false;
  awaitingPong = false;
  private stream: DeviceStream | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly who: StreamIdentity,
    private readonly options: WsOptions,
  ) {}

  async run(cursor: string | null) {
    const { ws, options } = this;
    try {
      this.stream = await options.api.openStream(this.who, "ws", cursor);
    } catch (err) {
      const domain = asDomainError(err);
      if (domain.code === "internal") options.logger.error({ err }, "opening a WebSocket stream failed");
      this.violation(WS_CLOSE.tryAgain, domain.code === "internal" ? "internal error" : domain.message);
      return;
    }
    if (this.closing) {
      this.stream.close();
      return;
    }
    for await (const item of this.stream) {
      if (item.heartbeat) {
        // The last ping was never answered: the peer is gone.
        if (this.awaitingPong) {
          ws.terminate();
          break;
        }
        this.awaitingPong = true;
        ws.ping();
        continue;
      }
      await this.sendText(eventJsonText(item));
    }
    if (!this.closing) this.violation(WS_CLOSE.reconnect, "reconnect with the cursor of the last event");
  }

  closed() {
    this.closing = true;
    this.stream?.close();
  }

  received(data: RawData, isBinary: boolean) {
    if (this.closing) return;
    const { maxFrameBytes } = this.options;
    if (frameBytes(data) > maxFrameBytes) {
      return this.violation(WS_CLOSE.tooBig, `frame is larger than ${maxFrameBytes} bytes`);
    }
    if (isBinary)
      return this.violation(WS_CLOSE.unsupported, "binary frames are not accepted; send JSON text");
    let json: unknown;
    try {
      json = JSON.parse(rawText(data));
    } catch {
      return this.violation(WS_CLOSE.invalid, "frame is not valid JSON");
    }
    const type = (json as { type?: unknown } | null)?.type;
    if (typeof json !== "object" || json === null || Array.isArray(json) || typeof type !== "string") {
      return this.violation(WS_CLOSE.invalid, 'frame must be a JSON object with a string "type"');
    }
    if (!(TYPES as readonly string[]).includes(type)) {
      return this.violation(WS_CLOSE.unsupported, `unknown frame type "${type.slice(0, 32)}"`);
    }
    const parsed = clientFrame.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.violation(
        WS_CLOSE.invalid,
        `invalid ${type} frame: ${issue?.path.join(".") || "frame"}: ${issue?.message}`,
      );
    }
    void this.act(parsed.data).then((reply) => this.sendText(JSON.stringify(reply)));
  }

  private async act(frame: ClientFrame): Promise<Reply> {
    if (frame.type === "ping") return { type: "pong", id: frame.id };
    try {
      const { api } = this.options;
      if (frame.type === "typing") await api.typing(this.who, frame.conversationId, frame.typing);
      else await api.receipt(this.who, frame.type, frame.conversationId, frame.messageId);
      return { type: "ack", id: frame.id };
    } catch (err) {
      const domain: DomainError = asDomainError(err);
      return { type: "error", id: frame.id, error: domain.toJSON().error };
    }
  }

  private sendText(text: string): Promise<void> {
    const { ws } = this;
    return new Promise<void>((resolve) => {
      if (ws.readyState !== ws.OPEN) return resolve();
      if (ws.bufferedAmount < HIGH_WATER_BYTES) {
        ws.send(text);
        resolve();
      } else ws.send(text, () => resolve());
    });
  }

  private violation(code: number, reason: string) {
    if (this.closing) return;
    this.closing = true;
    this.ws.close(code, reason.slice(0, 120));
  }
}

function frameBytes(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return (data as Buffer | ArrayBuffer).byteLength;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data as ArrayBuffer).toString("utf8");
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Answers a refused upgrade as plain HTTP with the usual JSON error, then closes. */
function refuse(socket: Socket, status: number, error: { code: string; message: string }) {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
      "Content-Type: application/json; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      "Connection: close\r\n\r\n" +
      body,
  );
}
