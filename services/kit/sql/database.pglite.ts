import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { storeDuration } from "../metrics.js";
import type { SqlDatabase, SqlExecutor } from "./database.js";

const TEMPLATE = ".pglite-template";

/**
 * Opens (creating if needed) an embedded PostgreSQL in `dir`. A fresh cluster costs ~3 s of
 * initdb, so the first one made under a data folder is kept as a template and copied for the
 * others (~0.3 s each).
 */
export async function openPglite(dir: string, store: string, templateDir?: string): Promise<SqlDatabase> {
  if (!existsSync(dir)) {
    const template = templateDir ?? join(dirname(dir), TEMPLATE);
    if (!existsSync(template)) {
      mkdirSync(dirname(template), { recursive: true });
      const building = `${template}.building`;
      rmSync(building, { recursive: true, force: true });
      await (await PGlite.create(building)).close();
      renameSync(building, template);
    }
    mkdirSync(dirname(dir), { recursive: true });
    cpSync(template, dir, { recursive: true });
  }
  const db = await PGlite.create(dir);
  return wrap(db, store);
}

function timed<T>(store: string, operation: string, run: () => Promise<T>): Promise<T> {
  const end = storeDuration.startTimer({ store, operation });
  return run().finally(() => end());
}

function wrap(db: PGlite, store: string): SqlDatabase {
  const executor = (target: Pick<PGlite, "query">): SqlExecutor => ({
    query: async <T>(sql: string, params?: unknown[]) => (await target.query<T>(sql, params)).rows,
  });
  return {
    query: <T>(sql: string, params?: unknown[]) =>
      timed(store, "query", async () => (await db.query<T>(sql, params)).rows),
    exec: async (sql) => {
      await db.exec(sql);
    },
    transaction: (fn) => timed(store, "transaction", () => db.transaction((tx) => fn(executor(tx)))),
    close: () => db.close(),
  };
}
