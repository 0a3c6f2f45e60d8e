import { readFileSync, writeFileSync } from "node:fs";
import { LOAD_GENERATOR } from "./cpu-accounting.js";

export interface SendReport {
  section: string;
  machine: string;
  command: string;
  users: number;
  connections: number;
  duration: number;
  rows: {
    label: string;
    achieved: number;
    p50: number;
    p99: number;
    p999: number;
    failures: number;
    /** The persister's delay, "p50 / p99" ms, when measured. */
    persister?: string;
  }[];
  highestHeld: number;
  /** CPU milliseconds per acknowledged send, by process role, per step (bench/cpu-accounting.ts). */
  cpu?: { label: string; perSend: [string, number][] }[];
}

const FILE = "docs/benchmarks.md";

/**
 * Replaces this section of docs/benchmarks.md (between its markers) with a fresh table; with
 * `write` false, prints the section instead (a run to compare, not to keep).
 */
export function writeReport(report: SendReport, write = true): void {
  const begin = `<!-- bench:${report.section}:begin -->`;
  const end = `<!-- bench:${report.section}:end -->`;
  const persisted = report.rows.some((r) => r.persister !== undefined);
  const table = [
    begin,
    `Measured ${new Date().toISOString().slice(0, 10)} on ${report.machine}.`,
    "",
    `Command: \`${report.command}\` — ${report.users} users, ${report.duration} s per step. Fixed rates are open loop and`,
    "evenly paced (bench/paced.ts: send k is issued at k ÷ rate whether or not earlier ones answered; latency from issuing",
    `to the answer); "flat out" is autocannon, closed loop on ${report.connections} connections. The load generator runs in one process`,
    "and Parley in its own process(es), on the same 2 cores.",
    "",
    `| offered | achieved sends/s | p50 ms | p99 ms | p99.9 ms | failed |${persisted ? " persister delay p50 / p99 ms |" : ""}`,
    `|---|---|---|---|---|---|${persisted ? "---|" : ""}`,
    ...report.rows.map(
      (r) =>
        `| ${r.label} | ${r.achieved} | ${r.p50} | ${r.p99} | ${r.p999} | ${r.failures} |${persisted ? ` ${r.persister ?? "–"} |` : ""}`,
    ),
    ...(persisted
      ? [
          "",
          "The persister's delay is from a record's durable append to its batch written to history (its offset commit follows",
          "within 200 ms; `parley_log_consumer_delay_seconds` of the messages process, upper bounds of its buckets).",
        ]
      : []),
    "",
    `Highest fixed rate held (≥ 97 % achieved, no failures, p99 ≤ 100 ms): **${report.highestHeld || "none"}${report.highestHeld ? " sends/s" : ""}**.`,
    ...(report.cpu ? cpuTable(report.cpu) : []),
    end,
  ].join("\n");
  if (!write) {
    console.log(table);
    return;
  }
  let doc: string;
  try {
    doc = readFileSync(FILE, "utf8");
  } catch {
    doc = "# Benchmarks\n";
  }
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  doc =
    start >= 0 && stop > start
      ? doc.slice(0, start) + table + doc.slice(stop + end.length)
      : `${doc}\n${table}\n`;
  writeFileSync(FILE, doc);
}

/** CPU ms per send by role: the columns are the roles of the step that used the most in all. */
export function cpuTable(steps: NonNullable<SendReport["cpu"]>): string[] {
  const totals = new Map<string, number>();
  for (const step of steps)
    for (const [role, ms] of step.perSend) totals.set(role, (totals.get(role) ?? 0) + ms);
  const roles = [...totals].sort((a, b) => b[1] - a[1]).map(([role]) => role);
  const fixed = (ms: number | undefined) => (ms === undefined ? "–" : ms.toFixed(2));
  return [
    "",
    "CPU time per acknowledged send, by process (ms; from /proc, so it is what each send costs whatever the contention).",
    "The total is Parley and its servers, without the load generator: 2 cores give 2,000 ms of CPU per second, so with",
    "the load generator's share beside it the total bounds the rate at about 2,000 ÷ (total + load generator) sends/s.",
    "",
    `| step | **total** | ${roles.join(" | ")} |`,
    `|---|---|${roles.map(() => "---|").join("")}`,
    ...steps.map((step) => {
      const by = new Map(step.perSend);
      const total = step.perSend.reduce((sum, [role, ms]) => (role === LOAD_GENERATOR ? sum : sum + ms), 0);
      return `| ${step.label} | **${fixed(total)}** | ${roles.map((r) => fixed(by.get(r))).join(" | ")} |`;
    }),
  ];
}

/**
 * Replaces (or appends, under "## Live delivery") the markdown between this section's markers in
 * docs/benchmarks.md; for benchmarks whose figures are not a send table.
 */
export function writeSection(section: string, markdown: string): void {
  const begin = `<!-- bench:${section}:begin -->`;
  const end = `<!-- bench:${section}:end -->`;
  const block = `${begin}\n${markdown}\n${end}`;
  let doc: string;
  try {
    doc = readFileSync(FILE, "utf8");
  } catch {
    doc = "# Benchmarks\n";
  }
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (start >= 0 && stop > start) {
    doc = doc.slice(0, start) + block + doc.slice(stop + end.length);
  } else {
    if (!doc.includes("\n## Live delivery")) doc = `${doc.trimEnd()}\n\n## Live delivery\n`;
    doc = `${doc.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(FILE, doc);
}
