import pg from "pg";
import type { Logger } from "../logger.js";
import { sqlPools as pools, storeDuration } from "../metrics.js";
import type { SqlDatabase, SqlExecutor } from "./database.js";

export interface PostgresOptions {
  /** Most connections this process opens to the database. */
  poolMax: number;
  /** The server cancels a statement running longer than this, so a stuck query frees its client. */
  statementTimeoutMs: number;
  logger: Logger;
}

const INT8 = 20;
const INT8_ARRAY = 1016;

// PGlite returns int8 as a number; pg's default is a string. The role must read the same on both,
// and nothing Parley stores in int8 comes near 2^53.
// pg's own int8[] parser (strings), each turned into a number.
const int8Strings: (value: string) => (string | null)[] = pg.types.getTypeParser(
  INT8_ARRAY as number,
  "text",
);
const sameTypesAsPglite = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8) return (value: string) => Number(value);
    if (oid === INT8_ARRAY)
      return (value: string) => int8Strings(value).map((item) => (item === null ? null : Number(item)));
    return pg.types.getTypeParser(oid, format);
  },
};

function timed<T>(store: string, operation: string, run: () => Promise<T>): Promise<T> {
  const end = storeDuration.startTimer({ store, operation });
  return run().finally(() => end());
}

/**
 * A service's own PostgreSQL database through a pool. Errors are pg's own, so the SQLSTATE stays
 * in `code` (isUniqueViolation works as on PGlite). Connects once before returning, so a wrong
 * URL or password fails at start-up rather than on the first request.
 */
export async function openPostgres(
  url: string,
  store: string,
  options: PostgresOptions,
): Promise<SqlDatabase> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolMax,
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: 10_000,
    types: sameTypesAsPglite,
    application_name: `parley-${store}`,
  });
  // An idle client whose connection dies is dropped by the pool; without a listener it would
  // crash the process.
  pool.on("error", (err) => options.logger.warn({ err, store }, "idle PostgreSQL connection failed"));
  try {
    await pool.query("SELECT 1");
  } catch (err) {
    await pool.end();
    throw err;
  }
  const entry = { store, pool };
  pools.add(entry);

  /**
   * A transaction's statements, one at a time in the order issued (the contract lets callers not
   * await each): node-postgres's own queue of concurrent queries on one client is deprecated.
   */
  const executor = (client: pg.PoolClient): SqlExecutor => {
    let previous: Promise<unknown> = Promise.resolve();
    return {
      query: <T>(sql: string, params?: unknown[]) => {
        const result = previous.then(() => client.query(sql, params));
        // A failed statement fails only its own caller; the next still runs (and PostgreSQL
        // refuses it in an aborted transaction, as it would have).
        previous = result.catch(() => {});
        return result.then((r) => r.rows as T[]);
      },
    };
  };

  return {
    query: <T>(sql: string, params?: unknown[]) =>
      timed(store, "query", async () => (await pool.query(sql, params)).rows as T[]),
    exec: async (sql) => {
      // No parameters: the simple protocol runs every statement in `sql`.
      await pool.query(sql);
    },
    transaction: (fn) =>
      timed(store, "transaction", async () => {
        const client = await pool.connect();
        let broken: Error | undefined;
        try {
          await client.query("BEGIN");
          const result = await fn(executor(client));
          await client.query("COMMIT");
          return result;
        } catch (err) {
          try {
            await client.query("ROLLBACK");
          } catch (rollbackErr) {
            // The connection is unusable; releasing it with the error makes the pool discard it.
            broken = rollbackErr as Error;
          }
          throw err;
        } finally {
          client.release(broken);
        }
      }),
    async close() {
      pools.delete(entry);
      await pool.end();
    },
  };
}
