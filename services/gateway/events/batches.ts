/**
 * Hands items to `send` in batches, at most `concurrency` sends at a time. An item added while
 * nothing waits goes out at once (a lone close costs one call, as it always did); items added
 * while the sends are busy wait and go together, at most `maxBatch` per send. So 19,000 stream
 * closes at once cost ~19,000 / maxBatch calls, never more than `concurrency` in flight, and do
 * not crowd out the calls of streams opening meanwhile.
 */
export class Batches<T> {
  private readonly waiting: { item: T; settle: (err?: unknown) => void }[] = [];
  private inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly send: (batch: T[]) => Promise<void>,
    private readonly options: { maxBatch: number; concurrency: number },
  ) {}

  /** Resolves once the item's batch was sent; rejects with that send's error. */
  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, settle: (err) => (err === undefined ? resolve() : reject(err)) });
      this.pump();
    });
  }

  /** Items added and not yet sent (waiting or in flight are both "pending" to a caller). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Resolves once everything added so far has been sent (or has failed). */
  drained(): Promise<void> {
    if (this.waiting.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump() {
    while (this.inFlight < this.options.concurrency && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.inFlight++;
      this.send(batch.map((w) => w.item)).then(
        () => this.done(batch),
        (err: unknown) => this.done(batch, err ?? new Error("batch failed")),
      );
    }
  }

  private done(batch: { settle: (err?: unknown) => void }[], err?: unknown) {
    this.inFlight--;
    for (const waiter of batch) waiter.settle(err);
    this.pump();
    if (this.waiting.length === 0 && this.inFlight === 0) {
      for (const resolve of this.idle.splice(0)) resolve();
    }
  }
}
