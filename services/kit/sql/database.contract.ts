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
