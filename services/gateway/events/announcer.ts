import type { Logger } from "../../kit/logger.js";
import { FailureTally } from "./failure-tally.js";

interface Change {
  online: boolean;
  at: Date;
}

export interface AnnouncerOptions {
  /** delivery.PublishPresence: fans the change out to every stream of the user's audience. */
  publish: (userId: string, online: boolean, at: Date) => Promise<void>;
  /** presence.GetLastSeen: which of these users have no stream anywhere (on any node) now. */
  stillOffline: (userIds: string[]) => Promise<string[]>;
  logger: Logger;
  /** PublishPresence calls in flight at once. */
  concurrency: number;
  offlineGraceMs: number;
}

/** Users asked about in one GetLastSeen call. */
const CONFIRM_BATCH = 500;

/**
 * Tells delivery who came online and who went offline, one user per PublishPresence call, each
 * fanned out to every stream of the user's audience — in a reconnect storm, the bulk of the work.
 *
 * - A user who went offline is announced only after `offlineGraceMs`, and only if presence still
 *   has no stream of theirs on any node (one GetLastSeen call for all that fall due together): a
 *   device that reconnects — here or to another gateway — makes no presence traffic at all, and a
 *   user who really left is announced once.
 * - A change that undoes one still waiting cancels it (the audience never saw the first), and one
 *   user never has two calls in flight, so they cannot overtake each other.
 * - At most `concurrency` calls at a time: announcements cannot crowd out the Replay calls of
 *   streams opening meanwhile.
 * - Failures are logged as one line per 10 s, with a count.
 */
export class PresenceAnnouncer {
  /** Offline changes in their grace, oldest first (every one waits the same time). */
  private readonly delayed = new Map<string, Change & { dueAt: number }>();
  /** Offline changes past their grace, being checked with presence. */
  private readonly confirming = new Map<string, Change>();
  /** Changes to publish, in order. */
  private readonly ready = new Map<string, Change>();
  private readonly sending = new Set<string>();
  private readonly failures: FailureTally;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private idle: (() => void)[] = [];

  constructor(private readonly options: AnnouncerOptions) {
    this.failures = new FailureTally({
      logger: options.logger,
      message: "publishing presence failed",
      itemsName: "users",
    });
  }

  announce(userIds: string[], online: boolean): void {
    if (this.stopped) return;
    const at = new Date();
    for (const userId of userIds) {
      const waiting = this.delayed.get(userId) ?? this.confirming.get(userId) ?? this.ready.get(userId);
      if (waiting && waiting.online !== online) {
        this.delayed.delete(userId);
        this.confirming.delete(userId);
        this.ready.delete(userId);
      } else if (waiting) {
        // The same change again (presence forgot and relearnt the user): the first one stands.
      } else if (!online && this.options.offlineGraceMs > 0) {
        this.delayed.set(userId, { online, at, dueAt: at.getTime() + this.options.offlineGraceMs });
      } else {
        this.ready.set(userId, { online, at });
      }
    }
    this.schedule();
    this.pump();
  }

  /**
   * Stops taking changes and gives those already taken (offline ones at once, grace or not,
   * unconfirmed) up to `graceMs` to be published; the rest are dropped. What did not get through
   * is one log line.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const waiting of [this.delayed, this.confirming]) {
      for (const [userId, change] of waiting)
        this.ready.set(userId, { online: change.online, at: change.at });
      waiting.clear();
    }
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    if (this.ready.size > 0 || this.sending.size > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.idle.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
    }
    clearTimeout(timer);
    const dropped = this.ready.size + this.sending.size;
    this.ready.clear();
    this.failures.close({ dropped });
  }

  /** A timer for the oldest change in its grace (the first to fall due). */
  private schedule() {
    if (this.timer || this.stopped) return;
    const [first] = this.delayed.values();
    if (!first) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const due: string[] = [];
        for (const [userId, change] of this.delayed) {
          if (change.dueAt > Date.now()) break;
          this.delayed.delete(userId);
          this.confirming.set(userId, change);
          due.push(userId);
        }
        for (let i = 0; i < due.length; i += CONFIRM_BATCH)
          void this.confirm(due.slice(i, i + CONFIRM_BATCH));
        this.schedule();
      },
      Math.max(0, first.dueAt - Date.now()),
    ).unref();
  }

  /** Publishes the offline changes of the users presence still has no stream of. */
  private async confirm(userIds: string[]) {
    let offline: Set<string>;
    try {
      offline = new Set(await this.options.stillOffline(userIds));
    } catch (err) {
      // Presence cannot say: tell what this node saw (delivery needs presence to fan out anyway).
      this.options.logger.debug({ err }, "confirming offline users with presence failed");
      offline = new Set(userIds);
    }
    for (const userId of userIds) {
      const change = this.confirming.get(userId);
      if (!change) continue; // cancelled meanwhile, or stopped
      this.confirming.delete(userId);
      if (offline.has(userId)) this.ready.set(userId, change);
    }
    this.pump();
  }

  private pump() {
    for (const [userId, change] of this.ready) {
      if (this.sending.size >= this.options.concurrency) return;
      if (this.sending.has(userId)) continue;
      this.ready.delete(userId);
      this.sending.add(userId);
      this.options
        .publish(userId, change.online, change.at)
        .catch((err: unknown) => this.failures.add(err, 1))
        .finally(() => {
          this.sending.delete(userId);
          this.pump();
          if (this.ready.size === 0 && this.sending.size === 0) {
            for (const resolve of this.idle.splice(0)) resolve();
          }
        });
    }
  }
}
