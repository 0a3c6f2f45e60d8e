import type { Json, TestUser } from "./clients.js";
import {
  EVENT_TRANSPORTS,
  type EventStreamClient,
  type EventTransport,
  kindOf,
  type StreamEnd,
} from "./event-clients.js";

/** The seq inside a cursor (the gateway's own format, services/gateway/events/cursor.ts). */
export function seqOf(cursor: string): number {
  const match = /^1:[A-Za-z0-9_-]+:(\d+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match?.[1]) throw new Error(`not a cursor: ${cursor}`);
  return Number(match[1]);
}

const DURABLE = new Set(["message", "receipt", "group"]);

/**
 * One signed-in device that keeps a live event stream open the way a well-behaved client does:
 * when the stream ends (RECONNECT, a dead gateway, a refused open while a service is down) it
 * opens a new one after a short pause, resuming from the last cursor it saw, against whatever
 * `url()` says now. It records every durable event once per arrival, so a test can check the
 * whole device's view across reconnects: each seq exactly once, in order, no gap.
 */
export class ResilientDevice {
  /** Durable events (message, receipt, group) in arrival order, across every stream it opened. */
  readonly durable: Json[] = [];
  /** Seqs that arrived twice or out of order, and holes (seq > last + 1), as they happened. */
  readonly violations: string[] = [];
  /** How each stream ended (one per stream opened, the last maybe still open). */
  readonly ends: StreamEnd[] = [];
  /** Streams opened (the first one included). */
  opens = 0;
  /** The seq the first stream went LIVE at: everything after it must arrive. */
  startSeq: number | undefined;
  private lastSeq: number | undefined;
  private cursor: string | undefined;
  private current: EventStreamClient | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private live!: Promise<void>;
  private listeners: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly user: TestUser,
    readonly transport: EventTransport,
    private readonly url: () => string,
    private readonly retryMs = 200,
  ) {}

  /** Opens the first stream; resolves once it is LIVE. */
  start(timeoutMs = 20_000): Promise<void> {
    let resolveLive!: () => void;
    this.live = new Promise((resolve) => {
      resolveLive = resolve;
    });
    this.loop = this.run(resolveLive);
    return withTimeout(this.live, timeoutMs, `${this.name}: not LIVE within ${timeoutMs} ms`);
  }

  /** Message ids of the message events received, in arrival order. */
  messageIds(): string[] {
    return this.durable.filter((e) => e.message).map((e) => e.message.message.messageId as string);
  }

  /** Resolves once `done()` holds (checked on each event), or fails after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: ${what} not within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.close();
    await this.loop;
  }

  private open(): EventStreamClient {
    const connect = EVENT_TRANSPORTS.find(([name]) => name === this.transport)?.[1];
    if (!connect) throw new Error(`no transport ${this.transport}`);
    this.opens++;
    return connect(this.url(), { token: this.user.token, cursor: this.cursor });
  }

  private async run(resolveLive: () => void): Promise<void> {
    while (!this.stopped) {
      const stream = this.open();
      this.current = stream;
      let ended = false;
      void stream.ended.then((end) => {
        ended = true;
        this.ends.push(end);
      });
      for (;;) {
        let event: Json;
        try {
          event = await stream.next(1_000);
        } catch {
          if (ended || this.stopped) break;
          continue;
        }
        this.take(event);
        if (kindOf(event) === "control:LIVE") resolveLive();
        for (const wake of this.listeners.splice(0)) wake();
      }
      stream.close();
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, this.retryMs));
    }
  }

  private take(event: Json): void {
    const kind = kindOf(event);
    if (event.cursor) this.cursor = event.cursor;
    if (kind === "control:LIVE" && this.startSeq === undefined) {
      this.startSeq = seqOf(event.cursor);
      this.lastSeq = this.startSeq;
      return;
    }
    if (kind === "control:CURSOR_EXPIRED") {
      this.violations.push(`cursor expired at ${event.cursor ? seqOf(event.cursor) : "?"}`);
      return;
    }
    if (!DURABLE.has(kind) || this.lastSeq === undefined) return;
    const seq = seqOf(event.cursor);
    if (seq <= this.lastSeq) this.violations.push(`seq ${seq} again after ${this.lastSeq}`);
    else if (seq > this.lastSeq + 1) this.violations.push(`gap: seq ${seq} after ${this.lastSeq}`);
    if (seq > this.lastSeq) this.lastSeq = seq;
    this.durable.push(event);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}
