/**
 * Reading and comparing latency ladders of bench/delivery.ts for bench/ab.ts: the rows of a run's
 * printed table, and per rate whether two sets of runs differ by more than their spread.
 */

/** One step of a latency ladder, as bench/delivery.ts prints it. */
export interface LadderRow {
  rate: number;
  acked: number;
  deliverP50: number;
  deliverP99: number;
  deliverP999: number;
  cpuMsPerMessage: number;
  /** CPU ms per message of each process and server (its table "by process"), when printed. */
  cpuByProcess: Record<string, number>;
}

// | offered | acked | ack p50 / p99 | deliver p50 | **p99** | p99.9 | delivered/expected | failed | gateway | CPU |
const ROW =
  /^(?:\[[\d:]+\] )?\| (\d+) \| (\d+) \| [\d.]+ \/ [\d.]+ \| ([\d.]+) \| \*\*([\d.]+)\*\* \| ([\d.]+) \| \d+\/\d+ \| \d+ \| [^|]+ \| ([\d.]+) \|$/;

// | step | **total** | parley gateway | parley messages | kafka | ... |, then | 400/s | **3.02** | 1.28 | ...
const PROCESS_HEADER = /^\| step \| \*\*total\*\* \|(.*)\|$/;
const PROCESS_ROW = /^\| (\d+)\/s \| \*\*[\d.]+\*\* \|(.*)\|$/;

/** The ladder's rows found in a run's output, one per rate (a rate printed twice: the last). */
export function ladderRows(output: string): LadderRow[] {
  const byRate = new Map<number, LadderRow>();
  const processesByRate = new Map<number, Record<string, number>>();
  let processes: string[] | undefined;
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    const header = PROCESS_HEADER.exec(line);
    if (header) {
      processes = (header[1] as string).split("|").map((name) => name.trim());
      continue;
    }
    const perProcess = processes && PROCESS_ROW.exec(line);
    if (processes && perProcess) {
      const values = (perProcess[2] as string).split("|").map((v) => Number(v.trim()));
      processesByRate.set(
        Number(perProcess[1]),
        Object.fromEntries(processes.map((name, i) => [name, values[i] as number])),
      );
      continue;
    }
    const m = ROW.exec(line);
    if (!m) continue;
    const [rate, acked, p50, p99, p999, cpu] = m.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    byRate.set(rate, {
      rate,
      acked,
      deliverP50: p50,
      deliverP99: p99,
      deliverP999: p999,
      cpuMsPerMessage: cpu,
      cpuByProcess: {},
    });
  }
  for (const [rate, cpu] of processesByRate) {
    const row = byRate.get(rate);
    if (row) row.cpuByProcess = cpu;
  }
  return [...byRate.values()].sort((a, b) => a.rate - b.rate);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Two-sided exact p-value of the Wilcoxon rank-sum (Mann–Whitney) test: the share of all ways to
 * split the pooled values into groups of these sizes whose rank sum lies at least as far from its
 * mean as the observed one. Exact (every split enumerated), so meant for the few runs of an A/B.
 */
export function rankSumP(a: number[], b: number[]): number {
  const pooled = [...a, ...b];
  const n = pooled.length;
  if (a.length === 0 || b.length === 0) return 1;
  const order = pooled.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const ranks = new Array<number>(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && order[j + 1]?.[0] === order[i]?.[0]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]?.[1] as number] = (i + j) / 2 + 1; // ties: mid-ranks
    i = j + 1;
  }
  const mean = (a.length * (n + 1)) / 2;
  const observed = Math.abs(ranks.slice(0, a.length).reduce((s, r) => s + r, 0) - mean);
  let extreme = 0;
  let total = 0;
  const pick = (from: number, left: number, sum: number): void => {
    if (left === 0) {
      total++;
      if (Math.abs(sum - mean) >= observed - 1e-9) extreme++;
      return;
    }
    for (let i = from; i <= n - left; i++) pick(i + 1, left - 1, sum + (ranks[i] as number));
  };
  pick(0, a.length, 0);
  return extreme / total;
}

/** Three significant digits: a median of two runs is their mean, with the float's noise. */
const rounded = (value: number) => Number(value.toPrecision(3));

type Metric = "deliverP99" | "deliverP50" | "cpuMsPerMessage";

/**
 * A markdown table: per rate and metric, each side's runs, medians, their ratio and the p-value;
 * then the CPU per message of each process both sides printed, the costliest first.
 */
export function comparisonTable(base: LadderRow[][], change: LadderRow[][], metrics: Metric[]): string {
  const rates = [...new Set([...base, ...change].flat().map((r) => r.rate))].sort((x, y) => x - y);
  const lines = [
    "| rate/s | metric | base runs | change runs | base median | change median | change ÷ base | p (rank-sum) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  type Value = (row: LadderRow) => number | undefined;
  for (const rate of rates) {
    const valuesOf = (runs: LadderRow[][], value: Value) =>
      runs.flatMap((rows) =>
        rows.flatMap((row) => {
          const v = row.rate === rate ? value(row) : undefined;
          return v === undefined ? [] : [v];
        }),
      );
    const cpuOf =
      (name: string): Value =>
      (row) =>
        row.cpuByProcess[name];
    const processes = (runs: LadderRow[][]) =>
      new Set(runs.flat().flatMap((r) => Object.keys(r.cpuByProcess)));
    const inBoth = [...processes(base)].filter((name) => processes(change).has(name));
    inBoth.sort((x, y) => median(valuesOf(base, cpuOf(y))) - median(valuesOf(base, cpuOf(x))));
    const columns: [string, Value][] = [
      ...metrics.map((metric): [string, Value] => [metric, (row) => row[metric]]),
      ...inBoth.map((name): [string, Value] => [`CPU ms/msg ${name}`, cpuOf(name)]),
    ];
    for (const [metric, value] of columns) {
      const a = valuesOf(base, value);
      const b = valuesOf(change, value);
      if (a.length === 0 || b.length === 0) continue;
      const ratio = median(a) ? median(b) / median(a) : Number.NaN;
      lines.push(
        `| ${rate} | ${metric} | ${a.join(", ")} | ${b.join(", ")} | ${rounded(median(a))} | ${rounded(median(b))} | ${ratio.toFixed(2)} | ${rankSumP(a, b).toFixed(3)} |`,
      );
    }
  }
  return lines.join("\n");
}
