import type { Logger } from "../logger.js";
import { storeDuration } from "../metrics.js";
import type { SqlDatabase, SqlExecutor } from "./database.js";
import { startAutovacuum } from "./pglite.autovacuum.js";
import { PreparedStatements } from "./pglite.prepared.js";
import { openCluster } from "./pglite.template.js";
import { PgliteThread } from "./pglite.thread.js";

/**
 * The one worker thread of this process that runs every PGlite database (PostgreSQL in
 * WebAssembly) off the event loop, and how many databases are open in it. One thread, not one per
 * database: with two cores the main thread needs one of them, and one thread per database would
 * only add isolates and context switches for work that comes one message at a time anyway.
 */
let shared: { thread: PgliteThread; open: number } | undefined;

function acquire(): PgliteThread {
  shared ??= { thread: new PgliteThread(), open: 0 };
  shared.open++;
  return shared.thread;
}

/** When the last database of the thread closes, the thread ends (the process can exit). */
async function release(thread: PgliteThread): Promise<void> {
  if (shared?.thread !== thread || --shared.open > 0) return;
  shared = undefined;
  await thread.terminate();
}

/**
 * Opens (creating if needed) an embedded PostgreSQL in `dir`. With `thread` (the default of
 * PARLEY_PGLITE_THREAD), it runs in the process's PGlite worker thread, off the event loop;
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
  const thread = acquire();
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
