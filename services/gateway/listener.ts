import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import { createServer as createTcpServer, type Socket } from "node:net";

export type Handler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

export interface Listener {
  port: number;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes the rest. */
  stop(graceMs: number): Promise<void>;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/**
 * Connections the kernel holds for us while the event loop is busy (Node's default is 511; the
 * kernel caps it at net.core.somaxconn, 4096 on current kernels). In a reconnect storm thousands
 * of clients connect at once: past the backlog their handshakes are dropped, they retry after 1,
 * 3, 7… s, and some get reset (ECONNRESET) instead of being served a moment later.
 */
const LISTEN_BACKLOG = 4096;

/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as gRPC and Connect clients
 * use it). Node's `allowHTTP1` only applies to TLS (it negotiates by ALPN), so the first bytes
 * decide: the HTTP/2 connection preface goes to the HTTP/2 server, anything else to HTTP/1.1.
 */
export async function listen(options: {
  host: string;
  port: number;
  handler: Handler;
  /** HTTP/1.1 `Upgrade` requests (WebSocket); without it they are refused. */
  onUpgrade?: (req: IncomingMessage, socket: Socket, head: Buffer) => void;
  /** A connection that sends nothing for this long is dropped. */
  idleTimeoutMs: number;
}): Promise<Listener> {
  // HTTP/1.1 sockets and their requests in flight (made at the first request: an upgraded
  // WebSocket never has one, and 20,000 empty sets are ~3 MiB).
  const h1Sockets = new Map<Socket, Set<ServerResponse> | undefined>();
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<Socket>();
  const h2Sockets = new WeakSet<Socket>();
  let stopping = false;

  const h1 = createHttp1Server({ headersTimeout: options.idleTimeoutMs }, (req, res) => {
    let inFlight = h1Sockets.get(req.socket);
    if (!inFlight && h1Sockets.has(req.socket)) {
      inFlight = new Set();
      h1Sockets.set(req.socket, inFlight);
    }
    inFlight?.add(res);
    if (stopping) res.setHeader("connection", "close");
    res.once("close", () => {
      inFlight?.delete(res);
      if (stopping && inFlight?.size === 0) req.socket.end();
    });
    options.handler(req, res);
  });
  // h1 never listens itself (the TCP server hands it sockets), so start the connection tracking
  // that enforces its headers and request timeouts the way listening would.
  h1.emit("listening");
  if (options.onUpgrade) {
    const onUpgrade = options.onUpgrade;
    h1.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => onUpgrade(req, socket, head));
  }
  const h2 = createHttp2Server({}, options.handler);
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (stopping) session.close();
  });

  // Listeners that stay on a socket for its whole life are shared functions, not closures: a
  // closure would keep this callback's scope (with the first bytes read) alive per open stream.
  function forgetSocket(this: Socket) {
    sockets.delete(this);
    h1Sockets.delete(this);
  }
  const tcp = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("close", forgetSocket);
    socket.on("error", destroySocket);
    socket.setTimeout(options.idleTimeoutMs);
    socket.on("timeout", destroySocket);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const http2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (http2 && head.length < H2_PREFACE.length) return;
      socket.off("data", onData);
      socket.pause();
      socket.unshift(head);
      socket.setTimeout(0);
      socket.off("timeout", destroySocket);
      if (http2) {
        // The HTTP/2 session reads what is already buffered on the socket itself.
        h2Sockets.add(socket);
        h2.emit("connection", socket);
      } else {
        h1Sockets.set(socket, undefined);
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen({ port: options.port, host: options.host, backlog: LISTEN_BACKLOG }, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const address = tcp.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  return {
    port,
    async stop(graceMs) {
      stopping = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      h1.close(() => {}); // stops h1's timeout checks; its connections are handled below
      for (const session of sessions) session.close();
      for (const [socket, inFlight] of h1Sockets) {
        if (!inFlight?.size) socket.destroy();
        for (const res of inFlight ?? []) if (!res.headersSent) res.setHeader("connection", "close");
      }
      // Sockets still deciding their protocol have sent no complete request yet.
      for (const socket of sockets) if (!h1Sockets.has(socket) && !h2Sockets.has(socket)) socket.destroy();
      const timer = setTimeout(() => {
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function destroySocket(this: Socket): void {
  this.destroy();
}
