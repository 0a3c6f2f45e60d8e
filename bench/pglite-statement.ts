/**
 * One statement on PGlite, two ways: PGlite's own query() (Parse, Describe, Bind, Describe,
 * Execute, Sync as six calls, the statement parsed and planned every time) against Parley's
 * PreparedStatements (parsed once, then one call per statement; bytea as binary). A fresh
 * database, the all-in-one's INSERT shape (a text key, 1,200 bytes of bytea, a bigint, a
 * timestamp, RETURNING two columns; bytea as hex text for query(), as Parley sent it), alternating rounds. Prints µs of wall and CPU per statement.
 *   npx tsx bench/pglite-statement.ts [statements per round=3000] [rounds=2]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PreparedStatements } from "../services/kit/sql/pglite.prepared.js";
import { openCluster } from "../services/kit/sql/pglite.template.js";

const perRound = Number(process.argv[2] ?? 3000);
const rounds = Number(process.argv[3] ?? 2);
const root = mkdtempSync(join(tmpdir(), "parley-bench-statement-"));
const db = await openCluster(join(root, "db"), undefined);
try {
  await db.exec("CREATE TABLE records (id text PRIMARY KEY, value bytea NOT NULL, n int8, at timestamptz)");
  const body = new Uint8Array(1200).fill(7);
  const sql =
    "INSERT INTO records (id, value, n, at) VALUES ($1, $2, $3, now()) ON CONFLICT (id) DO NOTHING RETURNING n, at";
  const statements = new PreparedStatements(db);
  // bytea as the worker sent it before: Buffer's hex codec (PGlite's own builds a string per byte).
  const hex = (value: Uint8Array) => `\\x${Buffer.from(value).toString("hex")}`;
  const ways = {
    "PGlite query()": async (n: number) =>
      (await db.query(sql, [`q${n}`, body, n], { serializers: { 17: hex as (value: unknown) => string } }))
        .rows,
    PreparedStatements: (n: number) => statements.query(sql, [`p${n}`, body, n]),
  };
  let n = 0;
  for (let round = 1; round <= rounds; round++) {
    for (const [name, run] of Object.entries(ways)) {
      const started = performance.now();
      const cpu = process.cpuUsage();
      for (let i = 0; i < perRound; i++) await run(++n);
      const used = process.cpuUsage(cpu);
      const wall = ((performance.now() - started) * 1000) / perRound;
      const cpuPer = (used.user + used.system) / perRound;
      console.log(
        `round ${round} ${name.padEnd(20)} ${wall.toFixed(0)} µs wall, ${cpuPer.toFixed(0)} µs CPU per statement`,
      );
    }
  }
} finally {
  await db.close();
  rmSync(root, { recursive: true, force: true });
}
