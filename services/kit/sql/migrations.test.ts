import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openPglite } from "./database.pglite.js";
import { migrate } from "./migrations.js";

describe("migrate", async () => {
  const root = mkdtempSync(join(tmpdir(), "migrations-"));
  const db = await openPglite(join(root, "db"), "test", process.env.PARLEY_PGLITE_TEMPLATE);
  afterAll(() => db.close());

  it("applies numbered files once, in order, and records them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sql-"));
    writeFileSync(join(dir, "002_add_column.sql"), "ALTER TABLE things ADD COLUMN size integer;\n");
    writeFileSync(
      join(dir, "001_create.sql"),
      "-- the first table\nCREATE TABLE things (id text PRIMARY KEY);\n",
    );
    writeFileSync(join(dir, "README.md"), "not a migration");
    expect(await migrate(db, dir)).toEqual([1, 2]);
    expect(await migrate(db, dir)).toEqual([]);
    await db.query("INSERT INTO things (id, size) VALUES ($1, $2)", ["a", 3]);
    expect(await db.query("SELECT id, size FROM things")).toEqual([{ id: "a", size: 3 }]);
  });

  it("runs a function whose body has statements of its own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sql-"));
    writeFileSync(
      join(dir, "020_function.sql"),
      [
        "CREATE TABLE counters (n integer NOT NULL);",
        "-- counts twice",
        "CREATE FUNCTION bump() RETURNS integer LANGUAGE plpgsql AS $$",
        "BEGIN",
        "  INSERT INTO counters VALUES (1);",
        "  INSERT INTO counters VALUES (2);",
        "  RETURN (SELECT sum(n) FROM counters);",
        "END;",
        "$$;",
        "INSERT INTO counters VALUES (10);",
        "",
      ].join("\n"),
    );
    expect(await migrate(db, dir)).toEqual([20]);
    expect(await db.query("SELECT bump() AS total")).toEqual([{ total: 13 }]);
  });

  it("rolls back a failing migration entirely", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sql-"));
    writeFileSync(join(dir, "010_bad.sql"), "CREATE TABLE half (id int);\nSELECT * FROM missing_table;\n");
    await expect(migrate(db, dir)).rejects.toThrow();
    expect(await db.query("SELECT to_regclass('half') AS t")).toEqual([{ t: null }]);
  });
});
