/**
 * A/B of the live-delivery latency ladder: the working tree against a base revision, run after run
 * alternating (base first in even pairs, the change first in odd ones, so a drift of the machine
 * falls on both), then per rate each side's runs, medians and an exact rank-sum p-value — of the
 * latencies, the CPU per message, and each process's CPU per message (in a mesh, the servers'
 * too: the change's cost shows where it falls). On these
 * 2-core machines one run's p99 moves by up to 2× from the next, so a single before/after pair
 * proves nothing; the p-value says whether the runs of one side sit apart from the other's.
 *   npm run bench:ab -- --base <rev> [--pairs 4] [-- <bench/delivery.ts arguments>]
 * The base is checked out as a git worktree under .bench/ab/ (sharing this tree's node_modules).
 * Arguments after `--` replace the default ladder (all-in-one, compiled, 768 MiB heap, 100, 400,
 * 1,200 and 2,000 msg/s); `--no-write` is always added. With fewer than 3 pairs no p-value can be
 * small (four runs of each side, wholly apart: p = 0.029; three: 0.1).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { comparisonTable, type LadderRow, ladderRows } from "./ab-compare.js";

const REPO = join(import.meta.dirname, "..");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    base: { type: "string" },
    pairs: { type: "string", default: "4" },
  },
});
if (!values.base) {
  console.error("usage: npx tsx bench/ab.ts --base <rev> [--pairs N] [-- <bench/delivery.ts arguments>]");
  process.exit(2);
}
const pairs = Number(values.pairs);
if (!Number.isInteger(pairs) || pairs < 1) {
  console.error(`--pairs ${values.pairs}: a whole number of at least 1`);
  process.exit(2);
}
const benchArgs = positionals.length
  ? positionals
  : [
      "--mode",
      "aio",
      "--sections",
      "latency",
      "--compiled",
      "--heap-mib",
      "768",
      "--rates",
      "100,400,1200,2000",
    ];

const git = (...args: string[]) => execFileSync("git", args, { cwd: REPO, encoding: "utf8" }).trim();
const baseSha = git("rev-parse", "--verify", `${values.base}^{commit}`);
const baseTree = join(REPO, ".bench", "ab", baseSha.slice(0, 12));
if (!existsSync(baseTree)) {
  mkdirSync(join(REPO, ".bench", "ab"), { recursive: true });
  git("worktree", "add", "--detach", baseTree, baseSha);
  symlinkSync(join(REPO, "node_modules"), join(baseTree, "node_modules"), "dir");
  // A mesh ladder (--mode mesh) reads the running servers' addresses from .deps/env.
  if (existsSync(join(REPO, ".deps"))) symlinkSync(join(REPO, ".deps"), join(baseTree, ".deps"), "dir");
}

const log = (message: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

/** One ladder in `tree`; its rows, or none (the run's output is kept for a look). */
function ladder(tree: string, label: string): LadderRow[] {
  log(`${label}: bench/delivery.ts ${benchArgs.join(" ")} (in ${tree})`);
  const run = spawnSync(
    process.execPath,
    [join(REPO, "node_modules", "tsx", "dist", "cli.mjs"), "bench/delivery.ts", ...benchArgs, "--no-write"],
    { cwd: tree, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 1024 * 1024 },
  );
  const rows = ladderRows(run.stdout ?? "");
  if (run.status !== 0 || rows.length === 0) {
    const kept = join(REPO, ".bench", `ab-failed-${Date.now().toString(36)}.log`);
    writeFileSync(kept, run.stdout ?? "");
    log(`${label}: exit ${run.status ?? run.signal}, ${rows.length} rows; its output is in ${kept}`);
  } else {
    log(
      `${label}: ${rows.map((r) => `${r.rate}/s p99 ${r.deliverP99} ms, ${r.cpuMsPerMessage} ms CPU`).join("; ")}`,
    );
  }
  return rows;
}

const base: LadderRow[][] = [];
const change: LadderRow[][] = [];
for (let pair = 0; pair < pairs; pair++) {
  const order = pair % 2 === 0 ? (["base", "change"] as const) : (["change", "base"] as const);
  for (const side of order) {
    const rows = ladder(side === "base" ? baseTree : REPO, `pair ${pair + 1}, ${side}`);
    if (rows.length) (side === "base" ? base : change).push(rows);
  }
}

const table = comparisonTable(base, change, ["deliverP99", "deliverP50", "cpuMsPerMessage"]);
const summary = [
  `A/B of bench/delivery.ts ${benchArgs.join(" ")}: base ${values.base} (${baseSha.slice(0, 12)}), ${base.length} runs; change = the working tree at ${git("rev-parse", "--short=12", "HEAD")}${git("status", "--porcelain") ? " with uncommitted changes" : ""}, ${change.length} runs; ${new Date().toISOString()}.`,
  "",
  table,
].join("\n");
console.log(`\n${summary}`);
const out = join(REPO, ".bench", `ab-${Date.now().toString(36)}.md`);
writeFileSync(out, `${summary}\n`);
log(`written to ${out}`);
