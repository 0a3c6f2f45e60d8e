/**
 * What deleting the embedded log's records past retention costs PGlite's thread (which every store
 * of the all-in-one shares): a backlog of committed records deleted TRIM_BATCH per statement, the
 * VACUUM after it, and a pass with nothing to delete (what every minute costs before retention
 * is reached). Records of 1.2 KB, about a sealed message's.
 *   npx tsx bench/log-trim.ts [records=20000]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedLog, TRIM_BATCH } from "../services/kit/log/log.embedded.js";
import { createLogger } from "../services/kit/logger.js";
import { openPglite } from "../services/kit/sql/database.pglite.js";

const records = Number(process.argv[2] ?? 20_000);
const DAY_MS = 86_400_000;
const root = mkdtempSync(join(tmpdir(), "parley-log-trim-"));
const db = await openPglite(join(root, "log"), "log", undefined, { thread: true });
const log = await EmbeddedLog.open(db, createLogger({ level: "silent" }));
try {
  for (let i = 0; i < records; i += 500) {
    const n = Math.min(500, records - i);
    await log.append(
      "t",
      Array.from({ length: n }, (_, j) => ({ key: `d:${j % 300}`, value: randomBytes(1200) })),
    );
  }
  // One group commits them all, so every record is past what it must keep.
  let consumed = 0;
  let allConsumed: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    allConsumed = resolve;
  });
  const subscription = await log.subscribe({
    group: "g",
    topic: "t",
    handler: async (batch) => {
      consumed += batch.length;
      if (consumed >= records) allConsumed();
    },
  });
  await all;
  await subscription.stop();

  const ms = (since: number) => (performance.now() - since).toFixed(1);
  let started = performance.now();
  const removed = await log.trim(Date.now() + 8 * DAY_MS);
  const statements = Math.ceil(removed / TRIM_BATCH);
  const total = performance.now() - started;
  console.log(
    `deleted ${removed} records in ${total.toFixed(0)} ms: ${statements} statements of up to ${TRIM_BATCH}, ${(total / statements).toFixed(1)} ms each`,
  );
  started = performance.now();
  await db.exec("VACUUM log_records");
  console.log(`VACUUM after it: ${ms(started)} ms`);
  await log.append("t", [{ key: "k", value: randomBytes(1200) }]);
  started = performance.now();
  await log.trim();
  console.log(`a pass with nothing to delete: ${ms(started)} ms`);
} finally {
  await log.close();
  await db.close();
  rmSync(root, { recursive: true, force: true });
}
