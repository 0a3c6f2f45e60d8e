import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runModuleScript } from "../testing/module-script.js";
import type { SqlDatabase } from "./database.js";
import { openPglite } from "./database.pglite.js";
import { PgliteThread, workerExecArgv } from "./pglite.thread.js";

const template = process.env.PARLEY_PGLITE_TEMPLATE;
const root = mkdtempSync(join(tmpdir(), "parley-pglite-thread-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("PGlite in a worker thread", () => {
  let db: SqlDatabase;
  beforeAll(async () => {
    db = await openPglite(join(root, "main"), "thread-test", template, { thread: true });
    await db.exec("CREATE TABLE items (id text PRIMARY KEY, detail text)");
  });
  afterAll(() => db.close());

  it("keeps the main event loop turning while it runs a long statement", async () => {
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const started = performance.now();
    // A statement that keeps PostgreSQL busy for a while (a second or so).
    await db.query("SELECT count(*) FROM generate_series(1, 3000000) AS g WHERE g % 7 = 3");
    counting = false;
    const busyMs = performance.now() - started;
    // On the main thread PGlite ran the statement in one synchronous WebAssembly call: no turns.
    expect(busyMs).toBeGreaterThan(50);
    expect(turns).toBeGreaterThan(10);
  });

  it("makes other callers of the database wait for an open transaction, then see its commit", async () => {
    let outside: Promise<unknown[]> | undefined;
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO items VALUES ('during', 'x')");
      outside = db.query("SELECT id FROM items WHERE id = 'during'");
      // Issued while the transaction holds the database: it runs after the commit.
      await tx.query("UPDATE items SET detail = 'y' WHERE id = 'during'");
    });
    expect(await outside).toEqual([{ id: "during" }]);
  });

  it("refuses a statement on a transaction that has ended", async () => {
    let kept: { query(sql: string): Promise<unknown[]> } | undefined;
    await db.transaction(async (tx) => {
      kept = tx;
    });
    await expect(kept?.query("SELECT 1")).rejects.toThrow(/Transaction is closed/);
  });

  it("keeps PostgreSQL's error fields across the thread boundary", async () => {
    await db.query("INSERT INTO items VALUES ('taken', NULL)");
    const err = await db.query("INSERT INTO items VALUES ('taken', NULL)").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      code: "23505",
      constraint: "items_pkey",
      table: "items",
      severity: "ERROR",
      message: expect.stringMatching(/duplicate key/),
    });
    // dependencyOf() tells a database's errors by this class name, as it did with PGlite's own.
    expect((err as Error).constructor.name).toBe("DatabaseError");
    expect(err).not.toHaveProperty("params");
  });

  it("fails the commit of a transaction whose statement failed and was swallowed (25P02)", async () => {
    const err = await db
      .transaction(async (tx) => {
        await tx.query("INSERT INTO items VALUES ('taken', NULL)").catch(() => {});
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "25P02" });
    expect(await db.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });
});

describe("PGlite worker thread lifecycle", () => {
  it("refuses a transaction on a closed database instead of hanging", async () => {
    const thread = new PgliteThread();
    try {
      const id = await thread.open(join(root, "closed"), template);
      await thread.close(id);
      let ran = false;
      await expect(
        thread.transaction(id, async (tx) => {
          ran = true;
          await tx.query("SELECT 1");
        }),
      ).rejects.toThrow(/not open/);
      expect(ran).toBe(true);
      await expect(thread.query(id, "SELECT 1")).rejects.toThrow(/not open/);
    } finally {
      await thread.terminate();
    }
  });

  it("fails waiting and later calls with the reason when the thread dies", async () => {
    // A heap too small for the rows asked for: V8 stops the thread, as any crash would.
    const thread = new PgliteThread({ maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 });
    try {
      const id = await thread.open(join(root, "crash"), template);
      const huge = "SELECT repeat(md5(g::text), 20000) AS text FROM generate_series(1, 200) AS g";
      // The statement dies with the thread, inside a transaction the thread was holding.
      await expect(thread.transaction(id, (tx) => tx.query(huge))).rejects.toThrow(
        /PGlite worker thread (failed|exited)/,
      );
      await expect(thread.query(id, "SELECT 1")).rejects.toThrow(/PGlite worker thread (failed|exited)/);
      await expect(thread.transaction(id, (tx) => tx.query("SELECT 1"))).rejects.toThrow(
        /PGlite worker thread (failed|exited)/,
      );
    } finally {
      await thread.terminate();
    }
  });

  it("lets the process exit once its databases are closed, and when one is left open", async () => {
    const script = (close: boolean) => `
      import { openPglite } from "./services/kit/sql/database.pglite.ts";
      const db = await openPglite(${JSON.stringify(join(root, `exit-${close}`))}, "exit", ${JSON.stringify(template)}, { thread: true });
      const [row] = await db.query("SELECT 41 + 1 AS answer");
      ${close ? "await db.close();" : ""}
      console.log(row.answer);
    `;
    for (const close of [true, false]) {
      const { code, stdout } = await runModuleScript(script(close));
      expect({ close, code, out: stdout.trim() }).toEqual({ close, code: 0, out: "42" });
    }
  });

  it("starts in a process run with V8 heap options, which a worker refuses", async () => {
    const script = `
      import { openPglite } from "./services/kit/sql/database.pglite.ts";
      const db = await openPglite(${JSON.stringify(join(root, "heap-flags"))}, "flags", ${JSON.stringify(template)}, { thread: true });
      const [row] = await db.query("SELECT 6 * 7 AS answer");
      await db.close();
      console.log(row.answer);
    `;
    const flags = ["--max-old-space-size=300", "--max-semi-space-size=16", "--stack-size=2000"];
    const { code, stdout, stderr } = await runModuleScript(script, flags);
    const out = stdout + stderr;
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: "42" });
  });

  it("passes the process's options on to the thread, less those a worker refuses", () => {
    expect(
      workerExecArgv([
        "--import",
        "tsx",
        "--max-old-space-size=300",
        "--max_semi_space_size",
        "16",
        "--input-type",
        "module",
        "--cpu-prof",
        "--title=parley",
        "--max-old-space-size-percentage=75",
      ]),
    ).toEqual(["--import", "tsx", "--cpu-prof"]);
  });
});

describe("PGlite's worker threads", () => {
  const dbs: SqlDatabase[] = [];
  afterAll(() => Promise.all(dbs.map((db) => db.close())));
  const open = async (store: string) => {
    const db = await openPglite(join(root, `store-${store}`), store, template, { thread: true });
    dbs.push(db);
    return db;
  };

  /** Which ends first: a 2 s sleep in `sleeping`'s database, or a statement sent after it to `other`. */
  async function order(sleeping: SqlDatabase, other: SqlDatabase): Promise<string[]> {
    const ended: string[] = [];
    await Promise.all([
      sleeping.query("SELECT pg_sleep(2)").then(() => ended.push("sleep")),
      other.query("SELECT 1").then(() => ended.push("other")),
    ]);
    return ended;
  }

  it("give delivery's database a thread of its own and the other stores one between them", async () => {
    const [delivery, messages, auth] = await Promise.all([open("delivery"), open("messages"), open("auth")]);
    // Delivery's inbox append never waits behind another store's statement, nor they behind it…
    expect(await order(delivery, messages)).toEqual(["other", "sleep"]);
    expect(await order(messages, delivery)).toEqual(["other", "sleep"]);
    // …while the other stores share one thread (an isolate and a core's worth of contention less).
    expect(await order(auth, messages)).toEqual(["sleep", "other"]);
  });
});
