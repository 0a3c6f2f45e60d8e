import type { Logger } from "../../kit/logger.js";

/**
 * Failures of one kind of background call (presence announcements, stream closes), logged as one
 * warning per interval with a count: a storm of failures (say delivery is gone while a gateway
 * drains) is one line an operator can read, not one per stream. The first failure starts the
 * interval; `close()` (at shutdown) logs what is left at once and ignores later failures.
 */
export class FailureTally {
  private count = 0;
  private items = 0;
  private first: unknown;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: {
      logger: Logger;
      message: string;
      /** What a call's items are, in the log line: "users", "streams". */
      itemsName: string;
      intervalMs?: number;
    },
  ) {}

  /** A failed call that concerned `items` users or streams. */
  add(err: unknown, items: number): void {
    if (this.closed) return;
    if (this.count++ === 0) this.first = err;
    this.items += items;
    this.timer ??= setTimeout(() => this.flush({}), this.options.intervalMs ?? 10_000).unref();
  }

  /** Logs now what piled up (with `extra` counts, e.g. what a shutdown dropped), and stops counting. */
  close(extra: Record<string, number> = {}): void {
    this.flush(extra);
    this.closed = true;
  }

  private flush(extra: Record<string, number>) {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0 && !Object.values(extra).some((n) => n > 0)) return;
    this.options.logger.warn(
      { err: this.first, failedCalls: this.count, [this.options.itemsName]: this.items, ...extra },
      this.options.message,
    );
    this.count = 0;
    this.items = 0;
    this.first = undefined;
  }
}
