import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { SqlDatabase } from "./database.js";
import { openPglite } from "./database.pglite.js";
import { autovacuumPass, maintenanceOf } from "./pglite.autovacuum.js";

const template = process.env.PARLEY_PGLITE_TEMPLATE;
const root = mkdtempSync(join(tmpdir(), "parley-pglite-autovacuum-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const quiet = { name: "t", live: 10_000, dead: 0, modifiedSinceAnalyze: 0, insertedSinceVacuum: 0 };

interface Stats {
  dead: string;
  modified: string;
  vacuumed: Date | null;
  analyzed: Date | null;
  tuples: number;
}
const stats = async (db: SqlDatabase, table: string): Promise<Stats> => {
  await db.query("SELECT pg_stat_force_next_flush()");
  const [row] = await db.query<Stats>(
    `SELECT s.n_dead_tup AS dead, s.n_mod_since_analyze AS modified, s.last_vacuum AS vacuumed,
            s.last_analyze AS analyzed, c.reltuples AS tuples
     FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = $1`,
    [table],
  );
  return row as Stats;
};

describe("autovacuum for PGlite", () => {
  it("decides as PostgreSQL's autovacuum does by default", () => {
    expect(maintenanceOf(quiet)).toBeUndefined();
    // Dead rows past 50 + 20 % of the live ones.
    expect(maintenanceOf({ ...quiet, dead: 2_050 })).toBeUndefined();
    expect(maintenanceOf({ ...quiet, dead: 2_051 })).toBe("VACUUM");
    // Inserts past 1,000 + 20 % (so insert-only tables get their visibility map set).
    expect(maintenanceOf({ ...quiet, insertedSinceVacuum: 3_001 })).toBe("VACUUM");
    // Changes past 50 + 10 %.
    expect(maintenanceOf({ ...quiet, modifiedSinceAnalyze: 1_050 })).toBeUndefined();
    expect(maintenanceOf({ ...quiet, modifiedSinceAnalyze: 1_051 })).toBe("ANALYZE");
    expect(maintenanceOf({ ...quiet, dead: 5_000, modifiedSinceAnalyze: 5_000 })).toBe("VACUUM (ANALYZE)");
    // A table that was never analyzed gets statistics after its first 51 changes.
    expect(maintenanceOf({ ...quiet, live: 0, modifiedSinceAnalyze: 51 })).toBe("ANALYZE");
  });

  it("vacuums and analyzes the tables that need it, and only those, one statement each", async () => {
    const db = await openPglite(join(root, "pass"), "autovacuum-test", template, { thread: true });
    try {
      await db.exec(`
        CREATE TABLE busy (id int PRIMARY KEY, v int);
        CREATE TABLE calm (id int PRIMARY KEY);
        INSERT INTO busy SELECT g, 0 FROM generate_series(1, 2000) AS g;
        UPDATE busy SET v = 1 WHERE id <= 600;`);
      const before = await stats(db, "busy");
      expect(Number(before.dead)).toBe(600);
      expect(before.analyzed).toBeNull();
      // Never analyzed: the planner has no row count (-1), which is what kept bad plans.
      expect(Number(before.tuples)).toBe(-1);

      expect(await autovacuumPass(db)).toEqual(["VACUUM (ANALYZE) public.busy"]);
      const after = await stats(db, "busy");
      expect(Number(after.dead)).toBe(0);
      expect(Number(after.modified)).toBe(0);
      expect(after.vacuumed).not.toBeNull();
      expect(after.analyzed).not.toBeNull();
      expect(Number(after.tuples)).toBe(2000);
      expect((await stats(db, "calm")).analyzed).toBeNull();

      // Nothing changed since: the next pass runs nothing.
      expect(await autovacuumPass(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it("runs by itself every interval once the database is open, and stops with it", async () => {
    const db = await openPglite(join(root, "timer"), "autovacuum-test", template, {
      thread: true,
      autovacuumIntervalMs: 50,
    });
    try {
      await db.exec(`
        CREATE TABLE grows (id int PRIMARY KEY);
        INSERT INTO grows SELECT g FROM generate_series(1, 500) AS g;`);
      await vi.waitFor(async () => expect((await stats(db, "grows")).analyzed).not.toBeNull(), {
        timeout: 10_000,
      });
    } finally {
      await db.close();
    }
  });
});
