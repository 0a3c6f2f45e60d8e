import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../logger.js";
import type { SqlDatabase } from "../sql/database.js";
import { openPglite } from "../sql/database.pglite.js";
import { logContract } from "./log.contract.js";
import { EmbeddedLog } from "./log.embedded.js";
import type { MessageLog } from "./log.js";

logContract("embedded (PGlite)", async () => {
  const root = mkdtempSync(join(tmpdir(), "parley-log-"));
  const dir = join(root, "log");
  const logger = createLogger({ level: "silent" });
  const openLog = async () => {
    const db = await openPglite(dir, "log", process.env.PARLEY_PGLITE_TEMPLATE);
    return { db, log: await EmbeddedLog.open(db, logger) };
  };
  let current: { db: SqlDatabase; log: MessageLog } = await openLog();
  const close = async () => {
    await current.log.close();
    await current.db.close();
  };
  return {
    log: current.log,
    async reopen() {
      await close();
      current = await openLog();
      return current.log;
    },
    async cleanup() {
      await close();
      rmSync(root, { recursive: true, force: true });
    },
  };
});
