import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUniqueViolation, type SqlDatabase } from "./database.js";

/** One implementation of the SQL role, on a fresh, empty database. */
export interface DatabaseUnderTest {
  db: SqlDatabase;
  /** Closes the database and removes it. */
  cleanup(): Promise<void>;
}

/** The contract of the SQL role: what the stores rely on, the same on PGlite and PostgreSQL. */
export function databaseContract(name: string, open: () => Promise<DatabaseUnderTest>): void {
  describe(`SQL database contract: ${name}`, () => {
    let subject: DatabaseUnderTest;
    let db: SqlDatabase;
    beforeAll(async () => {
      subject = await open();
      db = subject.db;
      await db.exec(`
        CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL, opened timestamptz, secret bytea);
        CREATE TABLE audit (line text NOT NULL);
      `);
    });
    afterAll(() => subject?.cleanup());

    it("binds $n parameters and reads bigint as a number, timestamptz as a Date, bytea as bytes", async () => {
      const opened = new Date("2030-01-02T03:04:05.678Z");
      await db.query("INSERT INTO accounts VALUES ($1, $2, $3, $4)", [
        "a",
        42,
        opened,
        Buffer.from([1, 2, 3]),
      ]);
      const [row] = await db.query<{ id: string; balance: number; opened: Date; secret: Uint8Array }>(
        "SELECT id, balance, opened, secret FROM accounts WHERE id = $1",
        ["a"],
      );
      expect(row?.balance).toBe(42);
      expect(row?.opened).toEqual(opened);
      expect(Buffer.from(row?.secret ?? [])).toEqual(Buffer.from([1, 2, 3]));
      const [count] = await db.query<{ n: number }>("SELECT count(*) AS n FROM accounts");
      expect(count?.n).toBe(1);
    });

    it("binds null, booleans, bigint, JSON objects and arrays, and reads them back as the stores expect", async () => {
      await db.exec(
        "CREATE TABLE kinds (id int PRIMARY KEY, flag boolean, big bigint, doc jsonb, note text)",
      );
      const doc = { topic: "t", headers: { a: "1" }, list: [1, "two", null] };
      await db.query("INSERT INTO kinds VALUES ($1, $2, $3, $4, $5)", [1, true, 2n ** 40n, doc, null]);
      const [row] = await db.query("SELECT flag, big, doc, note FROM kinds WHERE id = $1", [1]);
      expect(row).toEqual({ flag: true, big: 2 ** 40, doc, note: null });
      const [arrays] = await db.query<{ texts: string[]; bigs: number[] }>(
        "SELECT $1::text[] AS texts, $2::int8[] AS bigs",
        [
          ["a", "b,c", 'd"e'],
          [1, 2 ** 40],
        ],
      );
      expect(arrays).toEqual({ texts: ["a", "b,c", 'd"e'], bigs: [1, 2 ** 40] });
    });

    it("round-trips bytea exactly: empty, large, arrays of it, and Buffers that are views into a larger one", async () => {
      const large = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256);
      const pooled = Buffer.from("a small Buffer, sliced from Node's shared pool");
      expect(pooled.byteLength).toBeLessThan(pooled.buffer.byteLength);
      const values = [new Uint8Array(0), large, pooled, Buffer.from([0, 255, 16])];
      const rows = await db.query<{ i: number; v: Uint8Array }>(
        "SELECT i::int AS i, v FROM unnest($1::bytea[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
        [values],
      );
      expect(rows.map((r) => Buffer.from(r.v))).toEqual(values.map((v) => Buffer.from(v)));
      await db.query("INSERT INTO accounts (id, balance, secret) VALUES ('bytes', 0, $1)", [pooled]);
      const [one] = await db.query<{ secret: Uint8Array }>("SELECT secret FROM accounts WHERE id = 'bytes'");
      expect(one?.secret).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(one?.secret ?? [])).toEqual(pooled);
    });

    it("runs a transaction's statements in the order they were issued, awaited or not", async () => {
      // Ordered by the implementation itself, not by a driver's deprecated queue of concurrent
      // queries on one connection (node-postgres warns, and removes it in pg 9).
      const warnings: Error[] = [];
      const onWarning = (warning: Error) => warnings.push(warning);
      process.on("warning", onWarning);
      try {
        await db.exec("CREATE TABLE steps (n serial PRIMARY KEY, label text NOT NULL)");
        const labels = await db.transaction(async (tx) => {
          const issued = ["one", "two", "three"].map((label) =>
            tx.query("INSERT INTO steps (label) VALUES ($1)", [label]),
          );
          await Promise.all(issued);
          return tx.query<{ label: string }>("SELECT label FROM steps ORDER BY n");
        });
        expect(labels.map((r) => r.label)).toEqual(["one", "two", "three"]);
        // Warnings are emitted on a later tick.
        await new Promise((resolve) => setImmediate(resolve));
        expect(warnings.map((w) => w.message)).toEqual([]);
      } finally {
        process.off("warning", onWarning);
      }
    });

    it("commits a transaction whose function resolves, with its result", async () => {
      const result = await db.transaction(async (tx) => {
        await tx.query("INSERT INTO audit VALUES ($1)", ["committed"]);
        return "done";
      });
      expect(result).toBe("done");
      expect(await db.query("SELECT line FROM audit WHERE line = 'committed'")).toHaveLength(1);
    });

    it("rolls back every statement of a transaction whose function throws, and rethrows", async () => {
      const boom = new Error("decided against it");
      await expect(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO audit VALUES ($1)", ["rolled back"]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await db.query("SELECT line FROM audit WHERE line = 'rolled back'")).toEqual([]);
    });

    it("keeps the SQLSTATE of a unique violation, in and out of transactions", async () => {
      await db.query("INSERT INTO accounts (id, balance) VALUES ('dup', 1)");
      const outside = await db.query("INSERT INTO accounts (id, balance) VALUES ('dup', 2)").catch((e) => e);
      expect(isUniqueViolation(outside)).toBe(true);
      const inside = await db
        .transaction((tx) => tx.query("INSERT INTO accounts (id, balance) VALUES ('dup', 3)"))
        .catch((e) => e);
      expect(isUniqueViolation(inside)).toBe(true);
      expect(isUniqueViolation(await db.query("SELECT * FROM missing_table").catch((e) => e))).toBe(false);
    });

    it("stays usable after many failed transactions (nothing leaks)", async () => {
      for (let i = 0; i < 25; i++) {
        await db.transaction((tx) => tx.query("SELECT * FROM missing_table")).catch(() => {});
      }
      expect(await db.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    });

    it("runs concurrent transactions without losing an update", async () => {
      await db.query("INSERT INTO accounts (id, balance) VALUES ('counter', 0)");
      await Promise.all(
        Array.from({ length: 20 }, () =>
          db.transaction(async (tx) => {
            const [row] = await tx.query<{ balance: number }>(
              "SELECT balance FROM accounts WHERE id = 'counter' FOR UPDATE",
            );
            await tx.query("UPDATE accounts SET balance = $1 WHERE id = 'counter'", [
              (row?.balance ?? 0) + 1,
            ]);
          }),
        ),
      );
      expect(await db.query("SELECT balance FROM accounts WHERE id = 'counter'")).toEqual([{ balance: 20 }]);
    });
  });
}
