// Test fixture (imported by *.test.ts only): a fresh database on the real PostgreSQL server that
// test/global-setup.ts started, dropped again on close.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { realServerSetting } from "../../../test/real-servers.js";
import { createLogger } from "../logger.js";
import type { SqlDatabase } from "./database.js";
import { openPostgres } from "./database.pg.js";

export interface FreshPostgres {
  db: SqlDatabase;
  /** The URL of the fresh database, for opening more pools on it (replicas). */
  url: string;
  close(): Promise<void>;
}

const silent = createLogger({ level: "silent" });

export function openTestPostgres(url: string, store: string, poolMax = 10): Promise<SqlDatabase> {
  return openPostgres(url, store, { poolMax, statementTimeoutMs: 30_000, logger: silent });
}

/** CREATE DATABASE parley_test_<random> with the superuser, a pool on it, DROP on close. */
export async function openFreshPostgres(store: string): Promise<FreshPostgres> {
  const admin = realServerSetting("PARLEY_TEST_PG_URL");
  const name = `parley_test_${store}_${randomBytes(6).toString("hex")}`;
  await superuser(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const db = await openTestPostgres(url.toString(), store);
  return {
    db,
    url: url.toString(),
    async close() {
      await db.close();
      // FORCE: a test that failed midway may have left a pool of its own open.
      await superuser(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function superuser(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
