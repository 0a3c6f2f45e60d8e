import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { type ResourceLimits, Worker } from "node:worker_threads";
import type { SqlExecutor } from "./database.js";
import type { Reply, Request, WireError } from "./pglite.protocol.js";

// Beside this file: pglite.worker.ts from source (tsx, vitest), pglite.worker.js once compiled.
const WORKER = new URL(`./pglite.worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * Options a worker refuses (Node: "V8 options and options that affect the process are not
 * supported"); with any of them in execArgv the thread would not even start. Its heap is set by
 * resourceLimits instead.
 */
const REFUSED_BY_WORKERS = new Set([
  "--input-type",
  "--max-old-space-size",
  "--max-old-space-size-percentage",
  "--max-semi-space-size",
  "--max-heap-size",
  "--stack-size",
  "--title",
]);

/** The process's Node options (a TS loader, --cpu-prof, …) less those a worker refuses. */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const args: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    const [name, value] = arg.split("=", 2) as [string, string | undefined];
    const refused = REFUSED_BY_WORKERS.has(name) || REFUSED_BY_WORKERS.has(name.replaceAll("_", "-"));
    if (!refused) args.push(arg);
    else if (value === undefined) i++; // its value is the next argument
  }
  return args;
}

/** An error PostgreSQL raised in the worker; the class name is how dependencyOf() knows it. */
class DatabaseError extends Error {}

function fromWire(wire: WireError): Error {
  const err = wire.kind === "DatabaseError" ? new DatabaseError(wire.message) : new Error(wire.message);
  err.name = wire.name;
  if (wire.stack) err.stack = wire.stack;
  return Object.assign(err, wire.fields);
}

/**
 * A Buffer is often a view into Node's shared 8 KiB pool, and structured clone would copy the whole
 * pool: such bytes cross as a Uint8Array of their own (Buffer's slice() would be another view).
 */
function own(params: unknown[] | undefined): unknown[] | undefined {
  return params?.map((p) =>
    p instanceof Uint8Array && p.byteLength !== p.buffer.byteLength ? new Uint8Array(p) : p,
  );
}

type WithoutId<R> = R extends unknown ? Omit<R, "id"> : never;
/** A request that is answered, before it is given its id. */
type Call = WithoutId<Exclude<Request, { op: "begin" }>>;

/**
 * One worker thread running PGlite databases (pglite.worker.ts), and calls to it. It keeps the
 * process alive only while a call is waiting for its answer, as PGlite on the main thread did.
 * If the thread dies, every waiting call and every later one fails with the reason.
 */
export class PgliteThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  private lastCall = 0;
  private lastTransaction = 0;
  private stopped: Error | undefined;

  /**
   * `resourceLimits`: the thread's V8 heap limits; a thread over them stops (its calls fail).
   * `name`: the thread's, as profilers and /proc show it (Linux keeps 15 characters).
   */
  constructor(resourceLimits?: ResourceLimits, name = "pglite") {
    this.worker = new Worker(WORKER, { name, resourceLimits, execArgv: workerExecArgv() });
    this.worker.unref();
    this.worker.on("message", (reply: Reply) => this.settle(reply));
    this.worker.on("error", (err) =>
      this.stop(new Error(`the PGlite worker thread failed: ${err.message}`, { cause: err })),
    );
    this.worker.on("exit", (code) => this.stop(new Error(`the PGlite worker thread exited (code ${code})`)));
  }

  /** Opens (creating from the template if needed) the database in `dir`; resolves to its handle. */
  open(dir: string, templateDir: string | undefined, sharedBuffersMb?: number): Promise<number> {
    return this.call({ op: "open", dir, templateDir, sharedBuffersMb }) as Promise<number>;
  }

  query<T>(db: number, sql: string, params?: unknown[]): Promise<T[]> {
    return this.call({ op: "query", db, sql, params: own(params) }) as Promise<T[]>;
  }

  async exec(db: number, sql: string): Promise<void> {
    await this.call({ op: "exec", db, sql });
  }

  /**
   * Runs `fn` in one transaction: the worker holds the database for it and runs its statements in
   * order; it commits when `fn` resolves and rolls back (then rethrows) when `fn` throws.
   */
  async transaction<T>(db: number, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const tx = ++this.lastTransaction;
    // Not answered: the first statement follows at once, and the worker runs it after BEGIN.
    if (!this.stopped) this.worker.postMessage({ op: "begin", db, tx } satisfies Request);
    let open = true;
    const executor: SqlExecutor = {
      query: <R>(sql: string, params?: unknown[]) =>
        open
          ? (this.call({ op: "txQuery", tx, sql, params: own(params) }) as Promise<R[]>)
          : Promise.reject(new Error("Transaction is closed")),
    };
    let result: T;
    try {
      result = await fn(executor);
    } catch (err) {
      open = false;
      // The caller's error is the one that matters; a failed rollback is the worker's to report.
      await this.call({ op: "end", tx, commit: false }).catch(() => {});
      throw err;
    }
    open = false;
    await this.call({ op: "end", tx, commit: true });
    return result;
  }

  async close(db: number): Promise<void> {
    await this.call({ op: "close", db });
  }

  /** Ends the thread (every database in it should be closed first). */
  async terminate(): Promise<void> {
    this.stop(new Error("the PGlite worker thread was stopped"));
    await this.worker.terminate();
  }

  private call(request: Call): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = ++this.lastCall;
    return new Promise((resolve, reject) => {
      // Data a worker cannot receive (a function, say) throws here, failing this call only.
      this.worker.postMessage({ ...request, id } as Request);
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
    });
  }

  private settle(reply: Reply): void {
    const call = this.waiting.get(reply.id);
    if (!call) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker.unref();
    if (reply.ok) call.resolve(reply.value);
    else call.reject(fromWire(reply.error));
  }

  private stop(reason: Error): void {
    if (this.stopped) return;
    this.stopped = reason;
    for (const call of this.waiting.values()) call.reject(reason);
    this.waiting.clear();
  }
}
