/**
 * What this process depends on and whether each answers right now. Infra registers one named check
 * per store or server it opens ("postgres:auth", "kafka", "redis", "cassandra"); the admin server's
 * /readyz runs them all, so a process that is not ready says which dependency is the reason.
 */

/** Resolves when the dependency answers; throws (with a reason worth reading) when it does not. */
export type ReadinessCheck = () => Promise<void>;

export interface ReadinessReport {
  ready: boolean;
  /** Each registered check: "ok", or why it failed. */
  checks: Record<string, string>;
}

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly closers: (() => Promise<void>)[] = [];

  /** Registers a check once; a second registration under the same name is ignored. */
  register(name: string, check: ReadinessCheck, close?: () => Promise<void>): void {
    if (this.checks.has(name)) return;
    this.checks.set(name, check);
    if (close) this.closers.push(close);
  }

  names(): string[] {
    return [...this.checks.keys()];
  }

  /** Runs every check at once, each bounded by `timeoutMs`. */
  async report(timeoutMs: number): Promise<ReadinessReport> {
    const results = await Promise.all(
      [...this.checks].map(async ([name, check]) => [name, await runCheck(check, timeoutMs)] as const),
    );
    return { ready: results.every(([, result]) => result === "ok"), checks: Object.fromEntries(results) };
  }

  /** The checks that fail now, with their reasons (empty when every one answers). */
  async failures(timeoutMs: number): Promise<[name: string, reason: string][]> {
    const { checks } = await this.report(timeoutMs);
    return Object.entries(checks).filter(([, result]) => result !== "ok");
  }

  /** Closes the connections the checks opened of their own. */
  async close(): Promise<void> {
    await Promise.allSettled(this.closers.map((close) => close()));
  }
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return "ok";
  } catch (err) {
    return describeFailure(err);
  } finally {
    clearTimeout(timer);
  }
}

/** One line: the error's message (and its cause's), never a stack; AggregateErrors name their parts. */
export function describeFailure(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return [...new Set(err.errors.map(describeFailure))].join(", ");
  }
  if (err instanceof Error) {
    // Only the first line: some drivers append inspected inner errors, stacks included.
    const message = (err.message.split("\n")[0] ?? "").trim() || err.name || "failed";
    const cause = err.cause instanceof Error ? describeFailure(err.cause) : undefined;
    return cause && !message.includes(cause) ? `${message} (${cause})` : message;
  }
  return String(err);
}
