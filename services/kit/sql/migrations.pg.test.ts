import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlDatabase } from "./database.js";
import { type FreshPostgres, openFreshPostgres, openTestPostgres } from "./database.pg.fixture.js";
import { migrate } from "./migrations.js";

describe("migrate on PostgreSQL", () => {
  let fresh: FreshPostgres;
  const replicas: SqlDatabase[] = [];
  beforeAll(async () => {
    fresh = await openFreshPostgres("migrations");
  });
  afterAll(async () => {
    for (const replica of replicas) await replica.close();
    await fresh?.close();
  });

  it("runs each file exactly once when several replicas start at the same moment", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sql-"));
    writeFileSync(join(dir, "001_create.sql"), "CREATE TABLE things (id text PRIMARY KEY);\n");
    // Not idempotent: a second run of this file would fail on the duplicate key.
    writeFileSync(join(dir, "002_seed.sql"), "INSERT INTO things (id) VALUES ('only-once');\n");
    for (let i = 0; i < 6; i++) replicas.push(await openTestPostgres(fresh.url, "migrations", 2));
    const ran = await Promise.all(replicas.map((replica) => migrate(replica, dir)));
    expect(ran.flat().sort()).toEqual([1, 2]);
    expect(await fresh.db.query("SELECT id FROM things")).toEqual([{ id: "only-once" }]);
    expect(await fresh.db.query("SELECT version FROM schema_migrations ORDER BY version")).toEqual([
      { version: 1 },
      { version: 2 },
    ]);
  });

  it("rolls back a failing migration entirely and keeps the SQLSTATE of the error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sql-"));
    writeFileSync(join(dir, "010_bad.sql"), "CREATE TABLE half (id int);\nSELECT * FROM missing_table;\n");
    await expect(migrate(fresh.db, dir)).rejects.toMatchObject({ code: "42P01" });
    expect(await fresh.db.query("SELECT to_regclass('half') AS t")).toEqual([{ t: null }]);
  });
});
