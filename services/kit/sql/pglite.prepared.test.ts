import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PGlite, protocol } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PreparedStatements } from "./pglite.prepared.js";
import { openCluster } from "./pglite.template.js";

const root = mkdtempSync(join(tmpdir(), "parley-pglite-prepared-"));
let db: PGlite;
beforeAll(async () => {
  db = await openCluster(join(root, "db"), process.env.PARLEY_PGLITE_TEMPLATE);
  await db.exec("CREATE TABLE items (id int PRIMARY KEY, body bytea, note text)");
});
afterAll(async () => {
  await db.close();
  rmSync(root, { recursive: true, force: true });
});

/** The statements PostgreSQL holds prepared in this session, by their text. */
async function prepared(): Promise<string[]> {
  const result = await db.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements WHERE NOT from_sql ORDER BY statement",
  );
  return result.rows.map((row) => row.statement);
}

describe("prepared statements on PGlite", () => {
  it("parses a statement once and runs every later call on the same prepared statement", async () => {
    const statements = new PreparedStatements(db);
    const insert = "INSERT INTO items (id, body, note) VALUES ($1, $2, $3) RETURNING id, body, note";
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    for (let id = 1; id <= 3; id++) {
      expect(await statements.query(insert, [id, bytes, `n${id}`])).toEqual([
        { id, body: bytes, note: `n${id}` },
      ]);
    }
    expect((await prepared()).filter((text) => text === insert)).toHaveLength(1);
    // The bytes arrived as they were (sent as binary), not as text.
    const [row] = await statements.query<{ length: number }>(
      "SELECT length(body) AS length FROM items WHERE id = $1",
      [1],
    );
    expect(row?.length).toBe(6);
  });

  it("sends bytea[] as binary: bytes, empty, null and views into a larger buffer arrive as they were", async () => {
    const statements = new PreparedStatements(db);
    const backing = new Uint8Array([9, 8, 7, 6, 5, 92, 34, 44, 123, 125]);
    const values = [new Uint8Array([0, 255, 92, 34]), new Uint8Array(0), null, backing.subarray(5, 10)];
    const rows = await statements.query<{ i: number; v: Uint8Array | null }>(
      "SELECT i::int AS i, v FROM unnest($1::bytea[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
      [values],
    );
    expect(rows.map((row) => row.v)).toEqual([
      values[0],
      new Uint8Array(0),
      null,
      new Uint8Array([92, 34, 44, 123, 125]),
    ]);
    await expect(statements.query("SELECT $1::bytea[]", [["not bytes"]])).rejects.toThrow(/bytea/);
  });

  it("sends text[] as binary: unicode, empty strings, nulls and empty arrays arrive as they were", async () => {
    const statements = new PreparedStatements(db);
    const values = ["plain", "", null, "ünïcødé ✓ 😀", 'quote " comma , brace { } backslash \\'];
    const rows = await statements.query<{ i: number; v: string | null }>(
      "SELECT i::int AS i, v FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
      [values],
    );
    expect(rows.map((row) => row.v)).toEqual(values);
    // Bytes in the Bind, not a text literal built and escaped per call.
    const bind = vi.spyOn(protocol.serialize, "bind");
    await statements.query("SELECT cardinality($1::text[]) AS n, cardinality($2::bytea[]) AS m", [
      values,
      [new Uint8Array([1])],
    ]);
    expect(bind.mock.calls[0]?.[0]?.values?.every((value) => value instanceof Uint8Array)).toBe(true);
    bind.mockRestore();
    const [counts] = await statements.query<{ n: number; nulls: number }>(
      "SELECT cardinality($1::text[]) AS n, cardinality(array_positions($1::text[], NULL)) AS nulls",
      [values],
    );
    expect(counts).toEqual({ n: 5, nulls: 1 });
    expect(await statements.query("SELECT cardinality($1::text[]) AS n", [[]])).toEqual([{ n: 0 }]);
    expect(await statements.query("SELECT cardinality($1::bytea[]) AS n", [[]])).toEqual([{ n: 0 }]);
    // What the binary format does not take goes as PGlite's text: numbers, nested arrays.
    expect(await statements.query("SELECT $1::text[] AS v", [[1, 2]])).toEqual([{ v: ["1", "2"] }]);
    expect(
      await statements.query("SELECT $1::text[] AS v", [
        [
          ["a", "b"],
          ["c", "d"],
        ],
      ]),
    ).toEqual([
      {
        v: [
          ["a", "b"],
          ["c", "d"],
        ],
      },
    ]);
  });

  it("closes the least recently used statement past its limit, and still runs it when asked again", async () => {
    const statements = new PreparedStatements(db, { maxStatements: 3 });
    const select = (n: number) => `SELECT ${n}::int AS n, count(*)::int AS c FROM items WHERE id > $1`;
    for (let n = 100; n < 110; n++) expect(await statements.query(select(n), [0])).toEqual([{ n, c: 3 }]);
    const mine = (await prepared()).filter((text) => /^SELECT 1\d\d::int/.test(text));
    // Each prepare closes what the cache let go before it: at most the limit plus the one let go.
    expect(mine.length).toBeLessThanOrEqual(4);
    expect(mine).toContain(select(109));
    expect(mine).not.toContain(select(100));
    expect(await statements.query(select(100), [0])).toEqual([{ n: 100, c: 3 }]);
  });

  it("prepares a statement afresh when its table changed under it", async () => {
    const statements = new PreparedStatements(db);
    await db.exec("CREATE TABLE shapes (id int PRIMARY KEY)");
    await statements.query("INSERT INTO shapes (id) VALUES ($1)", [1]);
    expect(await statements.query("SELECT * FROM shapes")).toEqual([{ id: 1 }]);
    await db.exec("ALTER TABLE shapes ADD COLUMN name text DEFAULT 'square'");
    expect(await statements.query("SELECT * FROM shapes")).toEqual([{ id: 1, name: "square" }]);
  });

  it("fails a bad statement with PostgreSQL's error and its text, and keeps working", async () => {
    const statements = new PreparedStatements(db);
    const duplicate = "INSERT INTO items (id) VALUES ($1)";
    await expect(statements.query(duplicate, [1])).rejects.toMatchObject({ code: "23505", query: duplicate });
    await expect(statements.query("SELEC 1")).rejects.toMatchObject({ code: "42601" });
    await expect(statements.query("SELECT $1::bytea", ["not bytes"])).rejects.toThrow(/bytea/);
    expect(await statements.query("SELECT count(*)::int AS c FROM items")).toEqual([{ c: 3 }]);
  });

  it("runs statements inside PGlite's transaction, and a plain query waits for it to end", async () => {
    const statements = new PreparedStatements(db);
    let outside: Promise<unknown> | undefined;
    await db.transaction(async () => {
      await statements.queryInTransaction("INSERT INTO items (id, note) VALUES ($1, $2)", [50, "in tx"]);
      outside = statements.query("SELECT note FROM items WHERE id = $1", [50]);
      await statements.queryInTransaction("UPDATE items SET note = $1 WHERE id = $2", ["committed", 50]);
    });
    expect(await outside).toEqual([{ note: "committed" }]);
  });
});
