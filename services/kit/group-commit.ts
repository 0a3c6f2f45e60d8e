interface Waiting<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** Most items one commit takes (keeps a statement's parameters within the server's limit). */
  maxItems: number;
  /** Commits running at once; items that arrive meanwhile wait and go together in the next one. */
  maxInFlight: number;
}

/**
 * Group commit: items added in the same event-loop turn, and items that arrive while the
 * commits in flight are at their limit, are handed to `commit` together, so under load one
 * statement serves many callers instead of each paying for its own. `commit` answers with one
 * result per item, in order; when it throws, every item of that batch fails with its error.
 */
export class GroupCommit<I, O> {
  private queue: Waiting<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly commit: (items: I[]) => Promise<O[]>,
    private readonly options: GroupCommitOptions,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // The rest of this turn's callers join the batch before it starts.
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxItems);
      this.inFlight++;
      this.run(batch).finally(() => {
        this.inFlight--;
        this.flush();
      });
    }
  }

  private async run(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.commit(batch.map((w) => w.item));
      if (results.length !== batch.length) {
        throw new Error(`group commit answered ${results.length} results for ${batch.length} items`);
      }
      for (const [i, w] of batch.entries()) w.resolve(results[i] as O);
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
