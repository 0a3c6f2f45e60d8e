import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openPglite } from "../kit/sql/database.pglite.js";
import { migrate } from "../kit/sql/migrations.js";
import { SqlAuthStore } from "./store.sql.js";

/** A real SQL store on a fresh embedded database, for tests; close() removes it. */
export async function openTestStore() {
  const root = mkdtempSync(join(tmpdir(), "parley-auth-"));
  const db = await openPglite(join(root, "auth"), "auth", process.env.PARLEY_PGLITE_TEMPLATE);
  await migrate(db, fileURLToPath(new URL("./migrations", import.meta.url)));
  return {
    db,
    store: new SqlAuthStore(db),
    async close() {
      await db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
