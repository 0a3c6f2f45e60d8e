import type { UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";
import type { Logger } from "../kit/logger.js";
import { pushRetries, pushRetryUsers } from "./metrics.js";

/** What one push attempt did for each user: pushed to all their nodes, failed, or not located. */
export interface PushOutcome {
  /** Users whose streams could not be located, or whose push to one of their nodes failed. */
  failed: Set<string>;
  /** Users located and pushed to every node holding their streams. */
  pushed: Set<string>;
}

export type PushAttempt = (events: UserEvent[]) => Promise<PushOutcome>;

export interface PushRetryOptions {
  /** How long a user's failed push is retried before it is given up. */
  windowMs: number;
  /** About how often (±10 %) the held pushes are retried. */
  everyMs?: number;
  /** Most users held; past it the oldest is dropped (counted). */
  maxUsers?: number;
  now?: () => number;
}

interface Held {
  event: UserEvent;
  since: number;
}

/** Users retried per Locate call: about one large group's fan-out. */
const USERS_PER_ATTEMPT = 1000;

/**
 * The latest durable event of each user whose push failed, pushed again about every second until
 * it goes through, the user has no stream any more, or the window closes. Only the latest is kept:
 * a gateway that gets seq N fills any gap before it from Replay. Without this an online stream
 * would miss the event until the user's next event or a reconnect. Ephemeral events (seq 0) are
 * never held: a late typing or presence signal is worse than none.
 */
export class PushRetries {
  /** Insertion order is age: the first entry is the one held longest. */
  private readonly held = new Map<string, Held>();
  private readonly everyMs: number;
  private readonly maxUsers: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly attempt: PushAttempt,
    private readonly logger: Logger,
    private readonly options: PushRetryOptions,
  ) {
    this.everyMs = options.everyMs ?? 1000;
    this.maxUsers = options.maxUsers ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Users held now. */
  get size(): number {
    return this.held.size;
  }

  /** The event held for a user, if any. */
  heldFor(userId: string): UserEvent | undefined {
    return this.held.get(userId)?.event;
  }

  /**
   * After a push: holds the latest durable event of each user it failed for; forgets a user an
   * event at least as new as the held one reached.
   */
  settle(events: UserEvent[], outcome: PushOutcome): void {
    if (this.stopped || this.options.windowMs <= 0) return;
    for (const event of latestPerUser(events)) {
      const held = this.held.get(event.userId);
      const newer = !held || seqOf(event) >= seqOf(held.event);
      if (!newer) continue;
      if (outcome.failed.has(event.userId)) this.hold(event);
      else if (held) this.release(event.userId);
    }
    this.schedule();
  }

  /** One retry of everything held (the timer calls it; tests may too). */
  retry(): Promise<void> {
    this.running ??= this.retryHeld().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    pushRetryUsers.dec(this.held.size);
    this.held.clear();
  }

  private hold(event: UserEvent): void {
    if (this.held.delete(event.userId)) pushRetryUsers.dec();
    this.held.set(event.userId, { event, since: this.now() });
    pushRetryUsers.inc();
    while (this.held.size > this.maxUsers) {
      const oldest = this.held.keys().next().value as string;
      this.release(oldest, "dropped_over_cap");
    }
  }

  private release(userId: string, outcome?: "delivered" | "offline" | "given_up" | "dropped_over_cap") {
    if (!this.held.delete(userId)) return;
    pushRetryUsers.dec();
    if (outcome) pushRetries.inc({ outcome });
  }

  private async retryHeld(): Promise<void> {
    const now = this.now();
    const due: Held[] = [];
    let givenUp = 0;
    for (const [userId, held] of this.held) {
      if (now - held.since >= this.options.windowMs) {
        this.release(userId, "given_up");
        givenUp++;
      } else due.push(held);
    }
    if (givenUp > 0) {
      this.logger.warn(
        { users: givenUp },
        "gave up retrying pushes; those streams catch up on their next event",
      );
    }
    for (let i = 0; i < due.length && !this.stopped; i += USERS_PER_ATTEMPT) {
      const chunk = due.slice(i, i + USERS_PER_ATTEMPT);
      let outcome: PushOutcome;
      try {
        outcome = await this.attempt(chunk.map((h) => h.event));
      } catch (err) {
        // Attempts report failures rather than throw; should one throw, the chunk waits for the next round.
        this.logger.error({ err }, "retrying pushes failed");
        continue;
      }
      for (const tried of chunk) {
        const userId = tried.event.userId;
        // A newer failure replaced it, or a newer push cleared it, while this attempt ran.
        if (this.held.get(userId) !== tried || outcome.failed.has(userId)) continue;
        this.release(userId, outcome.pushed.has(userId) ? "delivered" : "offline");
      }
    }
  }

  private schedule(): void {
    if (this.timer || this.stopped || this.held.size === 0) return;
    const delay = this.everyMs * (0.9 + 0.2 * Math.random());
    this.timer = setTimeout(() => {
      void this.retry().finally(() => {
        this.timer = undefined;
        this.schedule();
      });
    }, delay);
    this.timer.unref();
  }
}

function seqOf(event: UserEvent): bigint {
  return BigInt(event.seq || "0");
}

/** The highest-seq durable event of each user in the push. */
function latestPerUser(events: UserEvent[]): UserEvent[] {
  const latest = new Map<string, UserEvent>();
  for (const event of events) {
    if (seqOf(event) === 0n) continue;
    const seen = latest.get(event.userId);
    if (!seen || seqOf(event) > seqOf(seen)) latest.set(event.userId, event);
  }
  return [...latest.values()];
}
