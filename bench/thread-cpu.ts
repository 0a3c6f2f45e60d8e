/**
 * CPU time per thread of one process, over an interval, from /proc — for the real servers (a JVM
 * names its threads: Cassandra's `Native-Transport-Requests-7`, Kafka's `data-plane-kafka-…`), where
 * a whole-process figure cannot say which part of the server spends it. Threads are grouped by
 * name without trailing numbers; a thread's name is the kernel's (at most 15 characters).
 *   npx tsx bench/thread-cpu.ts cassandra|kafka|postgres|redis|PID [seconds=10]
 * (a server name reads .deps/<name>/pid). This is how Cassandra's request workers were found to
 * spend most of its CPU waiting for work (deps/README.md, "timer slack").
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Linux reports utime/stime in clock ticks: 100 per second on every x86-64 kernel config in use. */
const TICKS_PER_SECOND = 100;

const [target = "", secondsArg = "10"] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!target || !(seconds > 0)) {
  console.error("usage: tsx bench/thread-cpu.ts cassandra|kafka|postgres|redis|PID [seconds=10]");
  process.exit(2);
}
const pidFile = join(import.meta.dirname, "..", ".deps", target, "pid");
const pid = /^\d+$/.test(target) ? target : existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim() : "";
if (!pid || !existsSync(`/proc/${pid}/task`)) {
  console.error(
    /^\d+$/.test(target)
      ? `no process ${target}`
      : `no running ${target}: .deps/${target}/pid names none (npm run deps:up starts the servers)`,
  );
  process.exit(2);
}

/** Ticks used so far by each live thread, with its name. */
function sample(): Map<string, { name: string; ticks: number }> {
  const threads = new Map<string, { name: string; ticks: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // The name is in parentheses and may hold spaces; the fields after it are space-separated.
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
      threads.set(tid, { name, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return threads;
}

const before = sample();
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const after = sample();

const byGroup = new Map<string, { ms: number; threads: number }>();
for (const [tid, { name, ticks }] of after) {
  const used = ticks - (before.get(tid)?.ticks ?? 0);
  const group = name.replace(/[-:#]?\d+$/, "");
  const entry = byGroup.get(group) ?? { ms: 0, threads: 0 };
  entry.ms += (used * 1000) / TICKS_PER_SECOND;
  entry.threads += 1;
  byGroup.set(group, entry);
}
const rows = [...byGroup].filter(([, e]) => e.ms > 0).sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((sum, [, e]) => sum + e.ms, 0);
console.log(`pid ${pid}: ${(total / seconds).toFixed(0)} ms of CPU per second over ${seconds} s`);
console.log("| threads | count | ms/s |\n|---|---|---|");
for (const [group, e] of rows) console.log(`| ${group} | ${e.threads} | ${(e.ms / seconds).toFixed(0)} |`);
