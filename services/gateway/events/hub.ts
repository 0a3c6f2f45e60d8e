import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ReplayResponse, UserEvent } from "../../gen/es/parley/internal/v1/delivery_pb.js";
import { type Event, EventSchema, StreamControlKind } from "../../gen/es/parley/v1/events_pb.js";
import { DomainError } from "../../kit/errors.js";
import type { Logger } from "../../kit/logger.js";
import { PresenceAnnouncer } from "./announcer.js";
import { Batches } from "./batches.js";
import { encodeCursor } from "./cursor.js";
import { FailureTally } from "./failure-tally.js";
import { backend, type EventsBackends } from "./internal.js";
import {
  openStreams,
  resumeReplayed,
  sendToDeliver,
  slowClientDisconnects,
  type Transport,
} from "./metrics.js";

/** What the hub asks of delivery and presence (the real one is `hubBackendOf`; tests use fakes). */
export interface HubBackend {
  replay(userId: string, afterSeq: bigint, limit: number): Promise<ReplayResponse>;
  registerNode(nodeId: string, pushAddress: string, ttlSeconds: number): Promise<void>;
  /** Opens or refreshes streams; returns the users that came online. */
  heartbeat(nodeId: string, streams: StreamRef[], ttlSeconds: number): Promise<string[]>;
  /** Returns the users left with no stream anywhere. */
  closeStreams(nodeId: string, streams: StreamRef[]): Promise<string[]>;
  publishPresence(userId: string, online: boolean, lastSeen: Date): Promise<void>;
  /** The users (of these) with no stream on any node. */
  stillOffline(userIds: string[]): Promise<string[]>;
}

export interface StreamRef {
  userId: string;
  streamId: string;
}

export function hubBackendOf(backends: EventsBackends, timeoutMs: number): HubBackend {
  const opts = { timeoutMs };
  return {
    replay: (userId, afterSeq, limit) =>
      backend(() => backends.delivery().replay({ userId, afterSeq, limit }, opts)),
    async registerNode(nodeId, pushAddress, ttlSeconds) {
      await backend(() => backends.presence().registerNode({ nodeId, pushAddress, ttlSeconds }, opts));
    },
    async heartbeat(nodeId, streams, ttlSeconds) {
      const res = await backend(() =>
        backends.presence().heartbeatStreams({ nodeId, streams, ttlSeconds }, opts),
      );
      return res.cameOnline;
    },
    async closeStreams(nodeId, streams) {
      const res = await backend(() => backends.presence().closeStreams({ nodeId, streams }, opts));
      return res.wentOffline;
    },
    async publishPresence(userId, online, lastSeen) {
      await backend(() =>
        backends.delivery().publishPresence({ userId, online, lastSeen: timestampFromDate(lastSeen) }, opts),
      );
    },
    async stillOffline(userIds) {
      const res = await backend(() => backends.presence().getLastSeen({ userIds }, opts));
      return res.users.filter((u) => !u.online).map((u) => u.userId);
    },
  };
}

export interface HubOptions {
  nodeId: string;
  backend: HubBackend;
  logger: Logger;
  /** Events a stream may hold for its client before it is closed as too slow. */
  bufferEvents: number;
  /** Streams one user may hold on this node. */
  maxStreamsPerUser: number;
  replayPageSize: number;
  /** TTL of the node's and streams' presence entries; refreshed every third of it. */
  ttlSeconds: number;
  /** An idle stream gets a heartbeat this often. */
  heartbeatMs: number;
  /** A user whose last stream closed is announced offline only if not back within this time. */
  offlineGraceMs: number;
}

/**
 * Streams per presence call (HeartbeatStreams of opened streams, CloseStreams, and the refresh and
 * shutdown calls of every stream): a burst of opens or closes becomes a few calls, and no call
 * nears gRPC's 4 MiB limit.
 */
const PRESENCE_BATCH = 500;
/** Presence calls for closed streams in flight at once; the rest wait and go together. */
const CLOSE_CONCURRENCY = 1;
/**
 * Presence calls for opened streams in flight at once. A lone open goes at once; in a reconnect
 * storm the opens arriving meanwhile share the next call (each still waits for its own).
 */
const OPEN_CONCURRENCY = 2;
/** PublishPresence calls in flight at once (each is fanned out to the user's whole audience). */
const ANNOUNCE_CONCURRENCY = 4;

/** One thing for a transport to write. */
export interface StreamItem {
  event: Event;
  /** Durable events: the user's seq (the event carries its cursor). */
  seq: bigint;
  /** An idle-stream heartbeat (SSE writes a comment, WebSocket a ping, Connect the event). */
  heartbeat?: boolean;
  /** The pushed event this one copies with the stream's cursor (other streams copy it too). */
  shared?: Event;
}

interface StreamInit {
  userId: string;
  sessionId: string;
  transport: Transport;
  /** Resume after this seq; undefined starts from now. */
  afterSeq: bigint | undefined;
}

const control = (kind: StreamControlKind, cursor: string, reason = ""): Event =>
  create(EventSchema, {
    cursor,
    occurredAt: timestampFromDate(new Date()),
    kind: { case: "control", value: { kind, reason } },
  });

/**
 * One device's stream. The hub fills its queue (replay, then live pushes); the transport reads it
 * with `for await` and calls `close()` when its client goes away.
 */
export class DeviceStream implements AsyncIterable<StreamItem> {
  readonly id = randomUUID();
  readonly userId: string;
  readonly sessionId: string;
  readonly transport: Transport;
  /** The last durable seq put in the queue (ephemeral events are stamped with its cursor). */
  lastSeq = 0n;
  /** The last durable seq handed to the transport: where a slow client resumes. */
  lastWrittenSeq = 0n;
  /** The highest seq a push announced; above lastSeq means a gap to fill from Replay. */
  highestKnown = 0n;
  live = false;
  /** Replaying to fill a gap: pushes wait in `incoming` meanwhile. */
  catchingUp = false;
  lastActivity = Date.now();
  /** Pushes not yet processed (bounded; a dropped durable one is refetched via highestKnown). */
  readonly incoming: UserEvent[] = [];
  private readonly queue: (StreamItem & { appendedAt?: Date })[] = [];
  private ending = false;
  private closed = false;
  /** The hub is working through `incoming` (or a gap); pushes meanwhile just join `incoming`. */
  processing = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;
  // Made only when someone waits for the close (a stopping hub): idle streams carry no promise.
  private closedPromise: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;

  constructor(
    init: StreamInit,
    private readonly bufferLimit: number,
    private readonly onClose: (stream: DeviceStream) => void,
  ) {
    this.userId = init.userId;
    this.sessionId = init.sessionId;
    this.transport = init.transport;
  }

  get cursor(): string {
    return encodeCursor(this.userId, this.lastSeq);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Resolves once the transport has finished with the stream. */
  get done(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closedPromise ??= new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    return this.closedPromise;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamItem> {
    try {
      while (!this.closed) {
        const item = this.queue.shift();
        if (!item) {
          if (this.ending) return;
          await new Promise<void>((resolve) => {
            this.wakeReader = resolve;
          });
          this.wakeReader = undefined;
          continue;
        }
        this.wakeWriter?.();
        if (item.seq > 0n) this.lastWrittenSeq = item.seq;
        if (item.appendedAt) {
          sendToDeliver.observe(
            { transport: this.transport },
            Math.max(0, (Date.now() - item.appendedAt.getTime()) / 1000),
          );
        }
        this.lastActivity = Date.now();
        yield item;
      }
    } finally {
      this.close();
    }
  }

  /** The client went away (or the transport is done): forget the stream. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ending = true;
    this.queue.length = 0;
    this.wakeReader?.();
    this.wakeWriter?.();
    this.onClose(this);
    this.resolveClosed?.();
  }

  /** Adds an event the client must get; false when the buffer is full (the caller ends the stream). */
  offer(item: StreamItem, appendedAt?: Date, force = false): boolean {
    if (this.ending) return true;
    if (!force && this.queue.length >= this.bufferLimit) return false;
    this.queue.push(appendedAt ? { ...item, appendedAt } : item);
    this.wakeReader?.();
    return true;
  }

  /** Waits until the queue has room for `n` more (replay is paced by the client, never dropped). */
  async room(n: number): Promise<void> {
    while (!this.ending && this.queue.length > 0 && this.queue.length + n > this.bufferLimit) {
      await new Promise<void>((resolve) => {
        this.wakeWriter = resolve;
      });
      this.wakeWriter = undefined;
    }
  }

  /** Ends the stream after `event`: what is queued is kept unless `dropQueued`. */
  end(event: Event, dropQueued: boolean): void {
    if (this.ending) return;
    if (dropQueued) this.queue.length = 0;
    this.queue.push({ event, seq: 0n });
    this.ending = true;
    this.wakeReader?.();
    this.wakeWriter?.();
  }

  get isEnding(): boolean {
    return this.ending;
  }
}

/**
 * The streams this gateway node holds. Per stream: registered here and with presence (so pushes
 * arrive and wait in its `incoming`), replayed from delivery page by page until caught up, a LIVE
 * control, then live pushes: durable events deduplicated by seq, gaps filled from Replay,
 * ephemeral ones stamped with the last cursor. A client that lets its buffer fill is sent
 * RECONNECT (with the cursor of what it got) and closed.
 */
export class StreamHub {
  private readonly streams = new Map<string, DeviceStream>();
  private readonly byUser = new Map<string, Set<DeviceStream>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private pushAddress: string | undefined;
  private registered: Promise<void> | undefined;
  private failingSince: number | undefined;
  private stopping = false;
  /** The last HeartbeatStreams failed: pushes may have been lost meanwhile (see refreshStreams). */
  private refreshFailed = false;
  private readonly announcer: PresenceAnnouncer;
  /** Opened streams on their way to presence, in batches (a burst of opens is a few calls). */
  private readonly opens: Batches<StreamRef>;
  /** Closed streams on their way to presence, in batches (a burst of closes is a few calls). */
  private readonly closes: Batches<StreamRef>;
  private readonly closeFailures: FailureTally;
  // One function for every stream to call when it closes, not a closure per stream.
  private readonly forgetStream = (stream: DeviceStream) => this.forget(stream);

  constructor(private readonly options: HubOptions) {
    this.announcer = new PresenceAnnouncer({
      publish: (userId, online, at) => options.backend.publishPresence(userId, online, at),
      stillOffline: (userIds) => options.backend.stillOffline(userIds),
      logger: options.logger,
      concurrency: ANNOUNCE_CONCURRENCY,
      offlineGraceMs: options.offlineGraceMs,
    });
    this.opens = new Batches((refs) => this.openInPresence(refs), {
      maxBatch: PRESENCE_BATCH,
      concurrency: OPEN_CONCURRENCY,
    });
    this.closes = new Batches((refs) => this.closeInPresence(refs), {
      maxBatch: PRESENCE_BATCH,
      concurrency: CLOSE_CONCURRENCY,
    });
    this.closeFailures = new FailureTally({
      logger: options.logger,
      message: "closing streams in presence failed",
      itemsName: "streams",
    });
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Starts registering the node (at `pushAddress`) and the refresh timers. */
  start(pushAddress: string): void {
    this.pushAddress = pushAddress;
    const refreshMs = (this.options.ttlSeconds * 1000) / 3;
    this.registered = undefined;
    void this.ensureRegistered().catch(() => {});
    this.timers.push(
      setInterval(() => {
        this.registered = undefined;
        void this.ensureRegistered().catch(() => {});
        void this.refreshStreams();
      }, refreshMs).unref(),
      setInterval(() => this.heartbeatIdle(), this.options.heartbeatMs).unref(),
    );
  }

  /** Registers (or re-registers) the node with presence; one attempt shared by concurrent callers. */
  private ensureRegistered(): Promise<void> {
    const address = this.pushAddress;
    if (!address) return Promise.reject(new Error("push server not started"));
    this.registered ??= this.options.backend
      .registerNode(this.options.nodeId, address, this.options.ttlSeconds)
      .then(
        () => {
          this.failingSince = undefined;
        },
        (err: unknown) => {
          this.registered = undefined;
          // All-in-one the gateway starts before presence: only a lasting failure is worth a warning.
          this.failingSince ??= Date.now();
          const lasting = Date.now() - this.failingSince > this.options.ttlSeconds * 1000;
          this.options.logger[lasting ? "warn" : "debug"](
            { err, nodeId: this.options.nodeId },
            "registering the gateway node failed",
          );
          throw err;
        },
      );
    return this.registered;
  }

  /**
   * Opens a stream: registers it, makes the first Replay call (so a failing delivery is an error
   * of the open, not a silent stream), then runs the stream in the background.
   */
  async open(init: StreamInit): Promise<DeviceStream> {
    if (this.stopping) throw new DomainError("unavailable", "the gateway is shutting down; reconnect");
    if ((this.byUser.get(init.userId)?.size ?? 0) >= this.options.maxStreamsPerUser) {
      throw new DomainError(
        "resource_exhausted",
        `at most ${this.options.maxStreamsPerUser} open streams per user on one gateway`,
      );
    }
    const stream = new DeviceStream(init, this.options.bufferEvents, this.forgetStream);
    this.streams.set(stream.id, stream);
    let users = this.byUser.get(stream.userId);
    if (!users) {
      users = new Set();
      this.byUser.set(stream.userId, users);
    }
    users.add(stream);
    openStreams.inc({ transport: stream.transport });
    try {
      await this.ensureRegistered();
      await this.opens.add({ userId: stream.userId, streamId: stream.id });
      const first = await this.options.backend.replay(
        stream.userId,
        init.afterSeq ?? 0n,
        init.afterSeq === undefined ? 1 : this.options.replayPageSize,
      );
      void this.run(stream, init.afterSeq, first);
    } catch (err) {
      stream.close();
      throw err;
    }
    return stream;
  }

  /** Pushed by delivery: hands each event to the streams of its user. */
  deliver(events: UserEvent[]): number {
    for (const event of events) {
      const streams = this.byUser.get(event.userId);
      if (!streams) continue;
      for (const stream of streams) {
        if (event.seq > stream.highestKnown) stream.highestKnown = event.seq;
        // The common case, synchronously: a live stream with nothing pending and no gap.
        if (
          stream.live &&
          !stream.catchingUp &&
          stream.incoming.length === 0 &&
          (event.seq === 0n || event.seq <= stream.lastSeq + 1n)
        ) {
          this.offerLive(stream, event);
          continue;
        }
        // Bounded: a dropped durable event is refetched (highestKnown); a dropped typing is moot.
        if (stream.incoming.length < this.options.bufferEvents) stream.incoming.push(event);
        void this.process(stream);
      }
    }
    return events.length;
  }

  /** Replays what the stream asked to resume from, sends LIVE, then handles what was pushed meanwhile. */
  private async run(stream: DeviceStream, afterSeq: bigint | undefined, first: ReplayResponse) {
    try {
      if (afterSeq === undefined) {
        stream.lastSeq = first.headSeq;
        stream.lastWrittenSeq = first.headSeq;
      } else {
        stream.lastSeq = afterSeq;
        stream.lastWrittenSeq = afterSeq;
        await this.catchUp(stream, first.headSeq, first);
      }
      if (stream.isEnding) return;
      stream.offer({ event: control(StreamControlKind.LIVE, stream.cursor), seq: 0n }, undefined, true);
      stream.live = true;
    } catch (err) {
      this.failed(stream, err);
      return;
    }
    await this.process(stream);
  }

  /**
   * Works through a live stream's pending pushes and gaps, then returns: an idle stream has no task
   * waiting on it (memory per idle stream), and the next push that cannot go straight to the queue
   * starts this again. At most one runs per stream; pushes meanwhile join `incoming`.
   */
  private async process(stream: DeviceStream) {
    if (!stream.live || stream.processing) return;
    stream.processing = true;
    try {
      while (!stream.isEnding) {
        if (stream.incoming.length > 0) {
          const pushed = stream.incoming.shift() as UserEvent;
          if (pushed.seq > stream.lastSeq + 1n) await this.catchUp(stream, pushed.seq - 1n);
          this.offerLive(stream, pushed);
        } else if (stream.highestKnown > stream.lastSeq) {
          const before = stream.lastSeq;
          await this.catchUp(stream, stream.highestKnown);
          // Delivery has nothing past it yet: the next push (or resync) tries again.
          if (stream.lastSeq === before) break;
        } else {
          break;
        }
      }
    } catch (err) {
      this.failed(stream, err);
    } finally {
      stream.processing = false;
    }
  }

  private failed(stream: DeviceStream, err: unknown) {
    if (stream.isEnding) return;
    this.options.logger.warn(
      { err, transport: stream.transport },
      "event stream failed; asking to reconnect",
    );
    stream.end(control(StreamControlKind.RECONNECT, stream.cursor, "temporarily unavailable"), false);
  }

  private offerLive(stream: DeviceStream, pushed: UserEvent) {
    const event = pushed.event;
    if (!event) return;
    let item: StreamItem;
    if (pushed.seq === 0n) {
      item = { event: { ...event, cursor: stream.cursor }, seq: 0n, shared: event };
    } else {
      if (pushed.seq !== stream.lastSeq + 1n) return; // already sent (replayed or a redelivery)
      item = {
        event: { ...event, cursor: encodeCursor(stream.userId, pushed.seq) },
        seq: pushed.seq,
        shared: event,
      };
    }
    const appendedAt = pushed.appendedAt ? timestampDate(pushed.appendedAt) : undefined;
    if (!stream.offer(item, appendedAt)) {
      slowClientDisconnects.inc({ transport: stream.transport });
      stream.lastSeq = stream.lastWrittenSeq;
      stream.end(
        control(
          StreamControlKind.RECONNECT,
          encodeCursor(stream.userId, stream.lastWrittenSeq),
          "slow client",
        ),
        true,
      );
      return;
    }
    if (item.seq > 0n) stream.lastSeq = item.seq;
  }

  /** Replays from delivery until lastSeq reaches `target` (or delivery has nothing more). */
  private async catchUp(stream: DeviceStream, target: bigint, first?: ReplayResponse) {
    stream.catchingUp = true;
    try {
      await this.replayUntil(stream, target, first);
    } finally {
      stream.catchingUp = false;
    }
  }

  private async replayUntil(stream: DeviceStream, target: bigint, first?: ReplayResponse) {
    let page = first;
    while (!stream.isEnding && stream.lastSeq < target) {
      if (!page) {
        await stream.room(this.options.replayPageSize);
        if (stream.isEnding) return;
        page = await this.options.backend.replay(stream.userId, stream.lastSeq, this.options.replayPageSize);
      }
      if (page.expired) {
        const head = page.headSeq;
        stream.lastSeq = head;
        stream.offer(
          {
            event: control(
              StreamControlKind.CURSOR_EXPIRED,
              encodeCursor(stream.userId, head),
              "the cursor is older than retention: resync from history",
            ),
            seq: 0n,
          },
          undefined,
          true,
        );
        return;
      }
      let progressed = false;
      for (const replayed of page.events) {
        if (replayed.seq <= stream.lastSeq || !replayed.event) continue;
        const event = { ...replayed.event, cursor: encodeCursor(stream.userId, replayed.seq) };
        // Replay is paced by the client (room() before each page), never cut off as too slow.
        stream.offer({ event, seq: replayed.seq }, undefined, true);
        stream.lastSeq = replayed.seq;
        progressed = true;
        resumeReplayed.inc();
      }
      if (!progressed) return;
      if (page.headSeq > target) target = page.headSeq;
      page = undefined;
    }
  }

  private forget(stream: DeviceStream) {
    if (!this.streams.delete(stream.id)) return;
    const users = this.byUser.get(stream.userId);
    users?.delete(stream);
    if (users?.size === 0) this.byUser.delete(stream.userId);
    openStreams.dec({ transport: stream.transport });
    if (this.stopping) return;
    // closeInPresence counts its own failures; nothing is left to handle here.
    this.closes.add({ userId: stream.userId, streamId: stream.id }).catch(() => {});
  }

  /** One HeartbeatStreams call for a batch of opened streams; the users new online are announced. */
  private async openInPresence(refs: StreamRef[]) {
    const cameOnline = await this.options.backend.heartbeat(
      this.options.nodeId,
      refs,
      this.options.ttlSeconds,
    );
    this.announcer.announce(cameOnline, true);
  }

  /** One CloseStreams call for a batch of closed streams; the users left with none are announced. */
  private async closeInPresence(refs: StreamRef[]) {
    try {
      this.announcer.announce(await this.options.backend.closeStreams(this.options.nodeId, refs), false);
    } catch (err) {
      // Their entries expire with the TTL; until then delivery may push to them here, and is dropped.
      this.closeFailures.add(err, refs.length);
    }
  }

  /** One HeartbeatStreams call for every stream of the node, within the TTL. */
  private async refreshStreams() {
    if (this.streams.size === 0 || this.stopping) return;
    const refs = [...this.streams.values()].map((s) => ({ userId: s.userId, streamId: s.id }));
    try {
      const cameOnline: string[] = [];
      for (const batch of chunks(refs, PRESENCE_BATCH)) {
        cameOnline.push(
          ...(await this.options.backend.heartbeat(this.options.nodeId, batch, this.options.ttlSeconds)),
        );
      }
      this.announcer.announce(cameOnline, true);
      // Presence had forgotten these streams (a restarted Redis) or could not be reached: delivery's
      // pushes for them were dropped meanwhile, and no later push may come to reveal the gap. Check
      // each such live stream against its inbox head now (added by the issue-5 fault tests, see
      // /tmp/notes/h5-bugs.md).
      const suspect = this.refreshFailed
        ? [...this.streams.values()]
        : cameOnline.flatMap((userId) => [...(this.byUser.get(userId) ?? [])]);
      this.refreshFailed = false;
      for (const stream of suspect) void this.resync(stream);
    } catch (err) {
      this.refreshFailed = true;
      this.options.logger.warn({ err }, "refreshing streams in presence failed");
    }
  }

  /** Asks delivery for the stream's inbox head; anything past what it has is fetched by its run loop. */
  private async resync(stream: DeviceStream) {
    if (!stream.live || stream.isEnding) return;
    try {
      const head = (await this.options.backend.replay(stream.userId, stream.lastSeq, 1)).headSeq;
      if (head > stream.highestKnown) {
        stream.highestKnown = head;
        void this.process(stream);
      }
    } catch (err) {
      this.options.logger.debug({ err }, "resyncing a stream with its inbox head failed");
    }
  }

  private heartbeatIdle() {
    const idleSince = Date.now() - this.options.heartbeatMs / 2;
    for (const stream of this.streams.values()) {
      if (!stream.live || stream.isEnding || stream.queued > 0 || stream.lastActivity > idleSince) continue;
      stream.offer({
        event: control(StreamControlKind.HEARTBEAT, stream.cursor),
        seq: 0n,
        heartbeat: true,
      });
    }
  }

  /**
   * Tells every stream to RECONNECT (after what is already queued) and waits up to `graceMs` for
   * the transports to write it and close. Presence entries are removed without announcing anyone
   * offline: the clients reconnect to another node at once. Streams closed before the stop are still
   * closed in presence, and their users announced, within the grace.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    const streams = [...this.streams.values()];
    for (const stream of streams) {
      stream.end(control(StreamControlKind.RECONNECT, stream.cursor, "server is shutting down"), false);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(streams.map((s) => s.done)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const stream of streams) stream.close();
    // Presence gets a bounded share of the shutdown: what it misses expires with the TTL. Streams
    // closed before the stop go first and their users are announced offline; then this node's
    // own streams, announcing nobody.
    const presenceGraceMs = Math.min(graceMs, 2_000);
    await within(this.closes.drained(), presenceGraceMs);
    const announced = this.announcer.stop(presenceGraceMs);
    for (const stream of streams) {
      this.closes.add({ userId: stream.userId, streamId: stream.id }).catch(() => {});
    }
    await within(this.closes.drained(), presenceGraceMs);
    const dropped = this.closes.waitingCount;
    this.closeFailures.close({ dropped });
    await announced;
  }
}

/** Waits for `promise`, but no longer than `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
