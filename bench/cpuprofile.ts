/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per package.
 *   npx tsx bench/cpuprofile.ts FILE.cpuprofile [top=15]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  functions: { name: string; where: string; ms: number; share: number }[];
  packages: { name: string; ms: number; share: number }[];
}

/** Where a script is: its package under node_modules, "node:" internals, or Parley's own folder. */
function packageOf(url: string): string {
  if (!url) return "(native/VM)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith("node:")) return "node (core)";
  const services = url.indexOf("/services/");
  if (services >= 0) {
    const parts = url.slice(services + 1).split("/");
    return parts[1] === "gen" ? "services/gen" : `${parts[0]}/${parts[1]}`;
  }
  return url;
}

/**
 * `window`: only samples taken between these two instants, in microseconds of the monotonic clock
 * V8 stamps profiles with (on Linux the same as `process.hrtime.bigint() / 1000n` in any process).
 */
export function summarise(file: string, top = 15, window?: [number, number]): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window[0] || at > window[1])) continue;
    self.set(id, (self.get(id) ?? 0) + delta);
  }
  let total = 0;
  let idle = 0;
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const packages = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    if (functionName === "(idle)") {
      idle += us;
      continue;
    }
    const where = url ? `${url.replace(/^.*\/(node_modules|services)\//, "$1/")}:${lineNumber + 1}` : "";
    const key = `${functionName}@${where}`;
    const entry = functions.get(key) ?? { name: functionName || "(anonymous)", where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const pkg = ["(garbage collector)", "(program)"].includes(functionName) ? functionName : packageOf(url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const busy = total - idle || 1;
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: f.us / busy })),
    packages: [...packages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / busy })),
  };
}

/** Markdown: the busiest packages and functions by self time (shares of non-idle time). */
export function summaryMarkdown(label: string, s: ProfileSummary, top = 10): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return [
    `**${label}** — ${(s.totalMs / 1000).toFixed(1)} s profiled, ${pct((s.totalMs - s.idleMs) / (s.totalMs || 1))} busy. Self time by package: ` +
      s.packages
        .slice(0, 8)
        .map((p) => `${p.name} ${pct(p.share)}`)
        .join(", ") +
      ".",
    "",
    "| function | where | self ms | share of busy |",
    "|---|---|---|---|",
    ...s.functions
      .slice(0, top)
      .map((f) => `| \`${f.name}\` | ${f.where} | ${f.ms.toFixed(0)} | ${pct(f.share)} |`),
  ].join("\n");
}

if (process.argv[1]?.endsWith("cpuprofile.ts") && process.argv[2]) {
  console.log(summaryMarkdown(process.argv[2], summarise(process.argv[2], Number(process.argv[3] ?? 15))));
}
