import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { migrate } from "../kit/sql/migrations.js";
import { SqlAuthStore } from "./store.sql.js";

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

export interface TestStore {
  db: SqlDatabase;
  store: SqlAuthStore;
  /** Closes the store and removes its database. */
  close(): Promise<void>;
}

/** A real SQL store on a fresh embedded database, for tests; close() removes it. */
export async function openTestStore(): Promise<TestStore> {
  const root = mkdtempSync(join(tmpdir(), "parley-auth-"));
  const db = await openPglite(join(root, "auth"), "auth", process.env.PARLEY_PGLITE_TEMPLATE);
  await migrate(db, MIGRATIONS);
  return {
    db,
    store: new SqlAuthStore(db),
    async close() {
      await db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The same store on a fresh database of the real PostgreSQL server; close() drops it. */
export async function openPostgresTestStore(): Promise<TestStore> {
  const fresh = await openFreshPostgres("auth");
  await migrate(fresh.db, MIGRATIONS);
  return { db: fresh.db, store: new SqlAuthStore(fresh.db), close: fresh.close };
}

/** Every backend the auth store runs on: suites that take one of these run on each. */
export const AUTH_BACKENDS = [
  { backend: "PGlite", openStore: openTestStore },
  { backend: "PostgreSQL", openStore: openPostgresTestStore },
];
