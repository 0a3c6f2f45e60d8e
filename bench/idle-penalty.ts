/**
 * What a pause costs the work after it: the same piece of work timed back to back and after an
 * idle gap of 1 and 10 ms (a timer), in one process on an otherwise quiet machine. Two pieces: a
 * JavaScript loop over 2 MiB of memory, and one PGlite INSERT through PreparedStatements (the
 * all-in-one's statement shape). On these virtual machines the work after a 10 ms pause takes
 * 2–3.5× the CPU it takes back to back (caches, TLBs and the core's state are lost while idle),
 * which is why a message costs ~10 ms of CPU at 100 msg/s and ~1 ms at 1,000/s (docs/benchmarks.md).
 *   npx tsx bench/idle-penalty.ts [samples per gap=400]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PreparedStatements } from "../services/kit/sql/pglite.prepared.js";
import { openCluster } from "../services/kit/sql/pglite.template.js";

const samples = Number(process.argv[2] ?? 400);
const GAPS_MS = [0, 1, 10];
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Mean wall and CPU µs of `work` over `samples` runs, each after `gapMs` of idle (0: none). */
async function measure(work: () => unknown, gapMs: number): Promise<{ wall: number; cpu: number }> {
  let wall = 0;
  let cpu = 0;
  for (let i = 0; i < samples; i++) {
    if (gapMs > 0) await pause(gapMs);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await work();
    wall += performance.now() - started;
    const used = process.cpuUsage(cpuBefore);
    cpu += used.user + used.system;
  }
  return { wall: (wall * 1000) / samples, cpu: cpu / samples };
}

const memory = new Float64Array(262_144); // 2 MiB
const loop = () => {
  let sum = 0;
  for (let round = 0; round < 3; round++)
    for (let i = 0; i < memory.length; i += 8) sum += memory[i] = (memory[i] as number) + i;
  return sum;
};

const root = mkdtempSync(join(tmpdir(), "parley-bench-idle-"));
const db = await openCluster(join(root, "db"), undefined);
try {
  await db.exec("CREATE TABLE records (id text PRIMARY KEY, value bytea NOT NULL, n int8, at timestamptz)");
  const statements = new PreparedStatements(db);
  const body = new Uint8Array(1200).fill(7);
  const sql =
    "INSERT INTO records (id, value, n, at) VALUES ($1, $2, $3, now()) ON CONFLICT (id) DO NOTHING RETURNING n, at";
  let n = 0;
  const insert = () => statements.query(sql, [`r${++n}`, body, n]);
  const works = { "JS loop over 2 MiB": loop, "PGlite INSERT": insert };
  for (let i = 0; i < 2000; i++) {
    loop();
    await insert();
  }
  console.log("| work | gap ms | wall µs | CPU µs | CPU vs back to back |\n|---|---|---|---|---|");
  for (const [name, work] of Object.entries(works)) {
    let base = 0;
    for (const gap of GAPS_MS) {
      const { wall, cpu } = await measure(work, gap);
      if (gap === 0) base = cpu;
      console.log(
        `| ${name} | ${gap} | ${wall.toFixed(0)} | ${cpu.toFixed(0)} | ${(cpu / base).toFixed(2)}× |`,
      );
    }
  }
} finally {
  await db.close();
  rmSync(root, { recursive: true, force: true });
}
