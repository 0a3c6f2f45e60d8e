import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { openPglite } from "../sql/database.pglite.js";
import { countStatements } from "../testing/counted-sql.js";
import { eventually } from "../testing/eventually.js";
import { statisticsTargets } from "../testing/statistics-targets.js";
import { EmbeddedLog, TRIM_BATCH } from "./log.embedded.js";
import type { LogRecord } from "./log.js";

const logger = createLogger({ level: "silent" });

describe("the embedded log's statements", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function open(
    dir: string,
    commitIntervalMs: number,
    retention: { retentionMs?: number; trimIntervalMs?: number } = {},
  ) {
    const db = await openPglite(dir, "log", process.env.PARLEY_PGLITE_TEMPLATE);
    const { db: wrapped, count } = countStatements(db);
    const log = await EmbeddedLog.open(wrapped, logger, { commitIntervalMs, ...retention });
    cleanups.push(async () => {
      await log.close();
      await db.close();
    });
    return { db, log, count };
  }

  it("hands a consumer that keeps up the records it appended, and commits its offset once per interval and at stop", async () => {
    const root = mkdtempSync(join(tmpdir(), "parley-log-"));
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    const { log, count } = await open(join(root, "log"), 60_000);
    const seen: LogRecord[] = [];
    let arrived: () => void = () => {};
    const subscription = await log.subscribe({
      group: "g",
      topic: "t",
      handler: async (records) => {
        seen.push(...records);
        arrived();
      },
    });
    for (let i = 0; i < 20; i++) {
      const next = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      await log.append("t", [
        { key: "k", value: new TextEncoder().encode(String(i)), headers: { n: String(i) } },
      ]);
      await next;
    }
    expect(seen.map((r) => [Number(r.offset), new TextDecoder().decode(r.value), r.headers.n])).toEqual(
      Array.from({ length: 20 }, (_, i) => [i, String(i), String(i)]),
    );
    // No record was read back from the database, and no offset committed within the interval.
    expect(count('SELECT topic, "offset"')).toBe(0);
    expect(count("INSERT INTO log_consumer_offsets")).toBe(0);
    expect(await log.readUncommitted("t", "g")).toHaveLength(20);
    await subscription.stop();
    expect(count("INSERT INTO log_consumer_offsets")).toBe(1);
    expect(await log.readUncommitted("t", "g")).toHaveLength(0);
  });

  it("reads from the database what a reopened log no longer holds in memory, in order", async () => {
    const root = mkdtempSync(join(tmpdir(), "parley-log-"));
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    const first = await open(join(root, "log"), 60_000);
    for (let i = 0; i < 5; i++) {
      await first.log.append("t", [{ key: "k", value: new TextEncoder().encode(String(i)) }]);
    }
    await first.log.close();
    const { log, count } = await open(join(root, "log"), 10);
    await log.append("t", [{ key: "k", value: new TextEncoder().encode("5") }]);
    const seen: string[] = [];
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    const subscription = await log.subscribe({
      group: "g",
      topic: "t",
      handler: async (records) => {
        for (const r of records) seen.push(new TextDecoder().decode(r.value));
        if (seen.length === 6) done();
      },
    });
    await all;
    await subscription.stop();
    expect(seen).toEqual(["0", "1", "2", "3", "4", "5"]);
    expect(count('SELECT topic, "offset"')).toBeGreaterThan(0);
  });

  it("keeps ANALYZE's sample of its records small: targets of 10, none for values and headers", async () => {
    const root = mkdtempSync(join(tmpdir(), "parley-log-"));
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    const { db } = await open(join(root, "log"), 60_000);
    const targets = await statisticsTargets(db, "log_records");
    expect(Math.max(...Object.values(targets))).toBe(10);
    expect([targets.value, targets.headers]).toEqual([0, 0]);
  });

  /** Consumes `topic` as `group` until it has `n` records, then stops (committing them). */
  async function consume(log: EmbeddedLog, group: string, topic: string, n: number): Promise<bigint[]> {
    const seen: bigint[] = [];
    let enough: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      enough = resolve;
    });
    const subscription = await log.subscribe({
      group,
      topic,
      maxBatch: n,
      handler: async (records) => {
        // Past n, a batch is refused (offered again, never committed) until the stop.
        if (seen.length >= n) throw new Error("enough");
        seen.push(...records.map((r) => r.offset));
        if (seen.length >= n) enough();
      },
    });
    await done;
    await subscription.stop();
    return seen;
  }

  it("deletes records past retention once every group on their topic has committed them, and only those", async () => {
    const root = mkdtempSync(join(tmpdir(), "parley-log-"));
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    const { log } = await open(join(root, "log"), 60_000, { retentionMs: 60_000 });
    const value = new TextEncoder().encode("v");
    await log.append(
      "t",
      Array.from({ length: 5 }, () => ({ key: "k", value })),
    );
    await log.append("other", [{ key: "k", value }]);
    expect(await consume(log, "fast", "t", 5)).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(await consume(log, "slow", "t", 3)).toEqual([0n, 1n, 2n]);

    // Within retention nothing goes, committed or not.
    expect(await log.trim(Date.now())).toBe(0);
    // Past it: what both groups committed (offsets 0-2), and the record of a topic no group reads.
    expect(await log.trim(Date.now() + 120_000)).toBe(4);
    expect(await consume(log, "new", "t", 2)).toEqual([3n, 4n]);
    expect((await log.readUncommitted("t", "slow")).map((r) => r.offset)).toEqual([3n, 4n]);
    expect(await consume(log, "slow", "t", 2)).toEqual([3n, 4n]);
    expect(await log.trim(Date.now() + 120_000)).toBe(2);
  });

  it("deletes a long backlog a batch per statement, and on its own every interval", async () => {
    const root = mkdtempSync(join(tmpdir(), "parley-log-"));
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    const { db, log, count } = await open(join(root, "log"), 60_000, { retentionMs: 60_000 });
    const value = new TextEncoder().encode("v");
    const total = 2 * TRIM_BATCH + 500;
    await log.append(
      "t",
      Array.from({ length: total }, () => ({ key: "k", value })),
    );
    await consume(log, "g", "t", total);
    const deletes = count("WITH oldest");
    expect(await log.trim(Date.now() + 120_000)).toBe(total);
    expect(count("WITH oldest") - deletes).toBe(3);

    const timed = await open(join(root, "timed"), 60_000, { retentionMs: 1, trimIntervalMs: 20 });
    await timed.log.append("t", [{ key: "k", value }]);
    await consume(timed.log, "g", "t", 1);
    await eventually(async () => (await timed.db.query("SELECT 1 FROM log_records")).length === 0, 5_000);
    expect(await db.query("SELECT 1 FROM log_records")).toEqual([]);
  });
});
