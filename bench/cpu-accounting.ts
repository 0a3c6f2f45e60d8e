import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { join } from "node:path";

/**
 * CPU time by process role, read from /proc: every Parley process and real server whose working
 * folder is inside the repository (Parley runs there; deps/*.sh run each server in .deps/<name>).
 * Sampled before and after a measured step, it says what one operation costs each role — the
 * figure that bounds throughput on 2 cores, whatever the latency under contention.
 */

/** Linux reports utime/stime in clock ticks: 100 per second on every x86-64 kernel config in use. */
const TICKS_PER_SECOND = 100;

/** The role of the benchmark process itself. */
export const LOAD_GENERATOR = "load generator";

export type CpuSample = Map<string, number>;

/** `servers`: count the real servers of .deps too (a mesh uses them; all-in-one leaves them idle). */
export function sampleCpu(repoDir: string, servers: boolean): CpuSample {
  const byRole: CpuSample = new Map();
  // PARLEY_BENCH_PIDS (comma-separated): count only these Parley processes, when other meshes
  // (other sessions' tests) run from the same folder at the same time.
  const only = process.env.PARLEY_BENCH_PIDS?.split(",").filter(Boolean);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    if (only && !only.includes(entry) && !isServer(join("/proc", entry), repoDir)) continue;
    const role = roleOf(join("/proc", entry), repoDir);
    if (!role || (!servers && !role.startsWith("parley"))) continue;
    const seconds = cpuSecondsOf(join("/proc", entry));
    if (seconds !== undefined) byRole.set(role, (byRole.get(role) ?? 0) + seconds);
  }
  const self = process.cpuUsage();
  byRole.set(LOAD_GENERATOR, (self.user + self.system) / 1e6);
  return byRole;
}

/** CPU seconds each role used between two samples, largest first. */
export function cpuBetween(before: CpuSample, after: CpuSample): [string, number][] {
  return [...after]
    .map(([role, seconds]): [string, number] => [role, seconds - (before.get(role) ?? 0)])
    .filter(([, seconds]) => seconds > 0)
    .sort((a, b) => b[1] - a[1]);
}

function isServer(proc: string, repoDir: string): boolean {
  try {
    return readlinkSync(join(proc, "cwd")).startsWith(`${depsDir(repoDir)}/`);
  } catch {
    return false;
  }
}

/**
 * Where the servers run, as their working folders show it: a worktree made for an A/B links its
 * .deps to the main checkout's, where the servers really are.
 */
function depsDir(repoDir: string): string {
  try {
    return realpathSync(join(repoDir, ".deps"));
  } catch {
    return join(repoDir, ".deps");
  }
}

function roleOf(proc: string, repoDir: string): string | undefined {
  let cwd: string;
  let cmdline: string[];
  try {
    cwd = readlinkSync(join(proc, "cwd"));
    cmdline = readFileSync(join(proc, "cmdline"), "utf8").split("\0");
  } catch {
    return undefined; // gone, or not ours to read
  }
  const deps = depsDir(repoDir);
  if (cwd.startsWith(`${deps}/`)) return cwd.slice(deps.length + 1).split("/")[0];
  // From source (tsx), or the compiled build that `--compiled` runs (scripts/compiled-build.ts).
  const fromSource = cwd === repoDir && cmdline.includes("services/main.ts");
  const compiled = cwd === join(repoDir, ".bench", "build") && cmdline.includes("services/main.js");
  if (!fromSource && !compiled) return undefined;
  const target = cmdline.find((arg) => arg.startsWith("--target="));
  return target ? `parley ${target.slice("--target=".length)}` : "parley all-in-one";
}

export function cpuSecondsOf(proc: string): number | undefined {
  try {
    const stat = readFileSync(join(proc, "stat"), "utf8");
    // Fields after the command name (which may hold spaces) start at state, field 3: utime, stime,
    // then cutime, cstime — the children it has reaped. Those count too: PostgreSQL's backends come
    // and go with the pools, and an exited one's CPU would otherwise vanish from the sum.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
    return ((utime ?? 0) + (stime ?? 0) + (cutime ?? 0) + (cstime ?? 0)) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
