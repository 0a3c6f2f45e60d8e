import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { databaseContract } from "./database.contract.js";
import { openFreshPostgres, openTestPostgres } from "./database.pg.fixture.js";
import { openPostgres } from "./database.pg.js";
import { openPglite } from "./database.pglite.js";

for (const thread of [false, true]) {
  databaseContract(thread ? "PGlite in its worker thread" : "PGlite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-sql-"));
    const db = await openPglite(join(dir, "db"), "contract", process.env.PARLEY_PGLITE_TEMPLATE, { thread });
    return {
      db,
      async cleanup() {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

databaseContract("PostgreSQL", async () => {
  const fresh = await openFreshPostgres("contract");
  // A small pool, so a client not given back after a transaction shows as a hang.
  const db = await openTestPostgres(fresh.url, "contract", 2);
  return {
    db,
    async cleanup() {
      await db.close();
      await fresh.close();
    },
  };
});

describe("PostgreSQL pool", () => {
  it("cancels a statement that runs past the statement timeout", async () => {
    const fresh = await openFreshPostgres("timeout");
    try {
      const db = await openPostgres(fresh.url, "timeout", {
        poolMax: 1,
        statementTimeoutMs: 200,
        logger: createLogger({ level: "silent" }),
      });
      try {
        const started = performance.now();
        await expect(db.query("SELECT pg_sleep(5)")).rejects.toMatchObject({ code: "57014" });
        expect(performance.now() - started).toBeLessThan(2000);
        expect(await db.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
      } finally {
        await db.close();
      }
    } finally {
      await fresh.close();
    }
  });

  it("refuses to open with a wrong password, naming the cause", async () => {
    const url = new URL(process.env.PARLEY_TEST_PG_URL ?? "");
    url.password = "wrong";
    await expect(openTestPostgres(url.toString(), "refused")).rejects.toThrow(
      /password authentication failed/,
    );
  });
});
