import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { EventSource } from "eventsource";
import WebSocket from "ws";
import { EventSchema, EventsService } from "../services/gen/es/parley/v1/events_pb.js";
import type { Json } from "./clients.js";

/**
 * One live event stream as a test (or a benchmark, or a fault test) reads it, the same over every
 * transport: each event as proto3 JSON (`{cursor, eventId, message|receipt|typing|presence|group|control}`).
 */
export interface EventStreamClient {
  readonly transport: EventTransport;
  /** Every event received so far, in order. */
  readonly received: Json[];
  /** Frames that are not events (WebSocket replies: pong, ack, error). */
  readonly replies: Json[];
  /** The next unread event; fails after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Json>;
  /** Waits until at least `n` non-event frames (WebSocket replies) have arrived. */
  replyCount(n: number, timeoutMs?: number): Promise<Json[]>;
  /** Reads until `match` holds for an event; returns everything read, that event last. */
  until(match: (event: Json) => boolean, timeoutMs?: number): Promise<Json[]>;
  /** The cursor of the last event received that carries one. */
  lastCursor(): string | undefined;
  /** Settles when the server ends the stream (or refuses it): a code and reason where the transport has them. */
  readonly ended: Promise<StreamEnd>;
  /** The WebSocket itself (to send client frames); undefined on other transports. */
  readonly socket?: WebSocket;
  close(): void;
}

export interface StreamEnd {
  /** WebSocket close code, HTTP status of a refused SSE/WS request, or the Connect code name. */
  code: number | string | undefined;
  reason: string;
}

export type EventTransport = "connect" | "grpc" | "grpc-web" | "ws" | "sse";

export interface StreamAuth {
  token?: string;
  ticket?: string;
  cursor?: string;
}

/** The kind of an event JSON: message, receipt, typing, presence, group or control:<KIND>. */
export function kindOf(event: Json): string {
  if (event.control) return `control:${String(event.control.kind).replace("STREAM_CONTROL_KIND_", "")}`;
  for (const kind of ["message", "receipt", "typing", "presence", "group"]) if (event[kind]) return kind;
  return "unknown";
}

class Inbox {
  readonly received: Json[] = [];
  readonly replies: Json[] = [];
  private read = 0;
  private waiters: (() => void)[] = [];
  private finished = false;
  endResolve!: (end: StreamEnd) => void;
  readonly ended = new Promise<StreamEnd>((resolve) => {
    this.endResolve = resolve;
  });

  push(event: Json) {
    this.received.push(event);
    this.wake();
  }
  reply(frame: Json) {
    this.replies.push(frame);
    this.wake();
  }
  async replyCount(n: number, timeoutMs = 10_000): Promise<Json[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < n) {
      const left = deadline - Date.now();
      if (this.finished || left <= 0) throw new Error(`${this.replies.length} of ${n} replies`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.replies;
  }
  end(end: StreamEnd) {
    if (this.finished) return;
    this.finished = true;
    this.endResolve(end);
    this.wake();
  }
  private wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
  async next(timeoutMs = 10_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    while (this.read >= this.received.length) {
      if (this.finished) throw new Error(`stream ended; read ${this.read} events`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms (read ${this.read})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received[this.read++];
  }
  async until(match: (event: Json) => boolean, timeoutMs = 10_000): Promise<Json[]> {
    const out: Json[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      out.push(event);
      if (match(event)) return out;
    }
  }
  lastCursor(): string | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const cursor = this.received[i]?.cursor;
      if (cursor) return cursor;
    }
    return undefined;
  }
}

function client(
  transport: EventTransport,
  inbox: Inbox,
  close: () => void,
  socket?: WebSocket,
): EventStreamClient {
  return {
    transport,
    received: inbox.received,
    replies: inbox.replies,
    next: (ms) => inbox.next(ms),
    until: (match, ms) => inbox.until(match, ms),
    replyCount: (n, ms) => inbox.replyCount(n, ms),
    lastCursor: () => inbox.lastCursor(),
    ended: inbox.ended,
    socket,
    close,
  };
}

/** parley.v1.EventsService/Subscribe with the generated connect-es client. */
export function connectEvents(
  baseUrl: string,
  auth: StreamAuth,
  protocol: "connect" | "grpc" | "grpc-web" = "connect",
  httpVersion: "1.1" | "2" = "2",
): EventStreamClient {
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl })
      : protocol === "grpc-web"
        ? createGrpcWebTransport({ baseUrl, httpVersion })
        : createConnectTransport({ baseUrl, httpVersion });
  const events = createClient(EventsService, transport);
  const inbox = new Inbox();
  const abort = new AbortController();
  void (async () => {
    try {
      const headers: Record<string, string> = auth.token ? { authorization: `Bearer ${auth.token}` } : {};
      for await (const res of events.subscribe(
        { cursor: auth.cursor ?? "" },
        { headers, signal: abort.signal, timeoutMs: 0 },
      )) {
        if (res.event) inbox.push(toJson(EventSchema, res.event));
      }
      inbox.end({ code: "ok", reason: "" });
    } catch (err) {
      const e = ConnectError.from(err);
      inbox.end({ code: Code[e.code], reason: e.rawMessage });
    }
  })();
  return client(protocol, inbox, () => abort.abort());
}

function query(auth: StreamAuth): string {
  const params = new URLSearchParams();
  if (auth.ticket) params.set("ticket", auth.ticket);
  if (auth.cursor) params.set("cursor", auth.cursor);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** `GET /v1/events/ws` with the `ws` package. */
export function wsEvents(baseUrl: string, auth: StreamAuth): EventStreamClient {
  const url = `${baseUrl.replace(/^http/, "ws")}/v1/events/ws${query(auth)}`;
  const socket = new WebSocket(url, {
    headers: auth.token ? { authorization: `Bearer ${auth.token}` } : {},
  });
  const inbox = new Inbox();
  socket.on("message", (data, isBinary) => {
    const json = JSON.parse(isBinary ? "null" : data.toString());
    if (json && typeof json === "object" && "type" in json) inbox.reply(json);
    else inbox.push(json);
  });
  socket.on("unexpected-response", (_req, res) => {
    let body = "";
    res.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    res.on("end", () => inbox.end({ code: res.statusCode, reason: body }));
  });
  socket.on("close", (code, reason) => inbox.end({ code, reason: reason.toString() }));
  socket.on("error", () => {});
  return client("ws", inbox, () => socket.close(), socket);
}

/** `GET /v1/events` with the `eventsource` package (no automatic reconnect: tests reconnect themselves). */
export function sseEvents(baseUrl: string, auth: StreamAuth): EventStreamClient {
  const inbox = new Inbox();
  const source = new EventSource(`${baseUrl}/v1/events${query(auth)}`, {
    fetch: async (url, init) => {
      const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
      if (auth.token) headers.authorization = `Bearer ${auth.token}`;
      const res = await fetch(url, { ...init, headers });
      if (res.status !== 200) {
        inbox.end({ code: res.status, reason: await res.clone().text() });
      }
      return res;
    },
  });
  for (const kind of ["message", "receipt", "typing", "presence", "group", "control"]) {
    source.addEventListener(kind, (e) => {
      const event = JSON.parse(e.data);
      inbox.push(event);
    });
  }
  source.addEventListener("error", () => {
    // The server ended the stream: report it and do not let EventSource reconnect on its own.
    source.close();
    inbox.end({ code: "closed", reason: "" });
  });
  return client("sse", inbox, () => {
    source.close();
    inbox.end({ code: "closed by client", reason: "" });
  });
}

/** The same scenario on each transport: `open(baseUrl, auth)`. */
export const EVENT_TRANSPORTS: [EventTransport, (baseUrl: string, auth: StreamAuth) => EventStreamClient][] =
  [
    ["connect", (baseUrl, auth) => connectEvents(baseUrl, auth, "connect")],
    ["ws", wsEvents],
    ["sse", sseEvents],
  ];
