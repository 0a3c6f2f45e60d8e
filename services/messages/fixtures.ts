// Test fixtures (imported by *.test.ts only): real stores in temporary folders and the real
// data-key logic of the crypto service, without its transport.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataKeyHandlers } from "../crypto/handlers.js";
import { EmbeddedLog } from "../kit/log/log.embedded.js";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { migrate } from "../kit/sql/migrations.js";
import type { DataKeys } from "./envelope.js";
import { MIGRATIONS_DIR } from "./history.sql.js";

export const silentLogger = createLogger({ level: "silent" });

export interface TestStores {
  /** The messages service's database, migrated. */
  db: SqlDatabase;
  log: EmbeddedLog;
  close(): Promise<void>;
}

export async function openTestStores(): Promise<TestStores> {
  const root = mkdtempSync(join(tmpdir(), "parley-messages-"));
  const [db, logDb] = await Promise.all([
    openPglite(join(root, "messages"), "messages", process.env.PARLEY_PGLITE_TEMPLATE),
    openPglite(join(root, "log"), "log", process.env.PARLEY_PGLITE_TEMPLATE),
  ]);
  await migrate(db, MIGRATIONS_DIR);
  const log = await EmbeddedLog.open(logDb, silentLogger);
  return {
    db,
    log,
    async close() {
      await log.close();
      await Promise.all([db.close(), logDb.close()]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Crypto's data-key handlers under a fresh KEK, counting the calls made to them. */
export function testDataKeys(): DataKeys & { calls: { generate: number; unwrap: number } } {
  const handlers = dataKeyHandlers(randomBytes(32));
  const calls = { generate: 0, unwrap: 0 };
  return {
    calls,
    async generate(context) {
      calls.generate++;
      return handlers.generateDataKey({ context });
    },
    async unwrap(wrappedKey, context) {
      calls.unwrap++;
      return (await handlers.unwrapDataKey({ wrappedKey, context })).plaintextKey;
    },
  };
}
