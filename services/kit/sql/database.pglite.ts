import type { Logger } from "../logger.js";
import { storeDuration } from "../metrics.js";
import type { SqlDatabase, SqlExecutor } from "./database.js";
import { startAutovacuum } from "./pglite.autovacuum.js";
import { PreparedStatements } from "./pglite.prepared.js";
import { openCluster } from "./pglite.template.js";
import { PgliteThread } from "./pglite.thread.js";

/**
 * The worker threads of this process that run its PGlite databases (PostgreSQL in WebAssembly) off
 * the event loop, each with how many databases are open in it. Delivery's database has a thread of
 * its own and every other database shares one: delivery's inbox append is the heaviest statement
 * and sits on the send → deliver path, and behind the other stores' statements (and their thread's
 * garbage collection) it doubled the all-in-one's p99 at low rates (docs/architecture.md). Not one
 * thread per database: with two cores the main thread needs one of them, and idle isolates and
 * context switches buy nothing for stores off that path.
 */
const THREAD_OF_STORE: Readonly<Record<string, string>> = { delivery: "pglite-delivery" };
const SHARED_THREAD = "pglite";
const threads = new Map<string, { thread: PgliteThread; open: number }>();

/** The thread that runs `store`'s database (started on first use). */
function acquire(store: string): PgliteThread {
  const name = THREAD_OF_STORE[store] ?? SHARED_THREAD;
  let running = threads.get(name);
  if (!running) {
    running = { thread: new PgliteThread(undefined, name), open: 0 };
    threads.set(name, running);
  }
  running.open++;
  return running.thread;
}

/** When the last database of a thread closes, the thread ends (the process can exit). */
async function release(thread: PgliteThread): Promise<void> {
  for (const [name, running] of threads) {
    if (running.thread !== thread) continue;
    if (--running.open > 0) return;
    threads.delete(name);
    await thread.terminate();
    return;
  }
}

/**
 * Opens (creating if needed) an embedded PostgreSQL in `dir`. With `thread` (the default of
 * PARLEY_PGLITE_THREAD), it runs in one of the process's PGlite worker threads, off the event loop;
 * otherwise on the event loop. A new cluster is copied from a template and started with
 * `sharedBuffersMb` of shared buffers (pglite.template.ts). It is vacuumed and analyzed as
 * PostgreSQL's autovacuum would (pglite.autovacuum.ts).
 */
export async function openPglite(
  dir: string,
  store: string,
  templateDir?: string,
  options: {
    thread?: boolean;
    sharedBuffersMb?: number;
    logger?: Logger;
    autovacuumIntervalMs?: number;
  } = {},
): Promise<SqlDatabase> {
  const db = await (options.thread
    ? openInThread(dir, store, templateDir, options.sharedBuffersMb)
    : openOnEventLoop(dir, store, templateDir, options.sharedBuffersMb));
  const autovacuum = startAutovacuum(db, {
    store,
    logger: options.logger,
    intervalMs: options.autovacuumIntervalMs,
  });
  let closing: Promise<void> | undefined;
  return {
    ...db,
    close: () => {
      closing ??= autovacuum.stop().then(() => db.close());
      return closing;
    },
  };
}

async function openInThread(
  dir: string,
  store: string,
  templateDir: string | undefined,
  sharedBuffersMb: number | undefined,
): Promise<SqlDatabase> {
  const thread = acquire(store);
  let db: number;
  try {
    db = await thread.open(dir, templateDir, sharedBuffersMb);
  } catch (err) {
    await release(thread);
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    query: <T>(sql: string, params?: unknown[]) =>
      timed(store, "query", () => thread.query<T>(db, sql, params)),
    exec: (sql) => thread.exec(db, sql),
    transaction: (fn) => timed(store, "transaction", () => thread.transaction(db, fn)),
    close: () => {
      closing ??= thread.close(db).finally(() => release(thread));
      return closing;
    },
  };
}

async function openOnEventLoop(
  dir: string,
  store: string,
  templateDir: string | undefined,
  sharedBuffersMb: number | undefined,
): Promise<SqlDatabase> {
  const db = await openCluster(dir, templateDir, { sharedBuffersMb });
  const statements = new PreparedStatements(db);
  const inTransaction: SqlExecutor = {
    query: <T>(sql: string, params?: unknown[]) => statements.queryInTransaction<T>(sql, params),
  };
  return {
    query: <T>(sql: string, params?: unknown[]) =>
      timed(store, "query", () => statements.query<T>(sql, params)),
    exec: async (sql) => {
      await db.exec(sql);
    },
    transaction: (fn) => timed(store, "transaction", () => db.transaction(() => fn(inTransaction))),
    close: () => db.close(),
  };
}

function timed<T>(store: string, operation: string, run: () => Promise<T>): Promise<T> {
  const end = storeDuration.startTimer({ store, operation });
  return run().finally(() => end());
}
