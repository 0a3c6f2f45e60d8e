/** Prometheus histograms read from a process's /metrics, compared before and after a step. */

export async function metricsText(admin: string): Promise<string> {
  return (await fetch(`${admin}/metrics`)).text();
}

/** Cumulative bucket counts by upper bound (s) of one histogram, summed over series matching `labels`. */
export function histogramBuckets(text: string, name: string, labels = ""): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`) || !line.includes(labels)) continue;
    const m = /le="([^"]+)"[^}]*\} (\d+)/.exec(line);
    if (!m) continue;
    const le = m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]);
    out.set(le, (out.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}

/** A quantile of what was observed between two readings: the upper bound of its bucket (ms). */
export function bucketQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return Number.NaN;
  for (const le of les) {
    if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= q * total) return le * 1000;
  }
  return Number.NaN;
}

/** The `_sum` (s) and `_count` of one histogram, summed over series matching `labels`. */
export function histogramTotals(text: string, name: string, labels = ""): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of text.split("\n")) {
    if (!line.includes(labels)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (line.startsWith(`${name}_sum{`)) sum += value;
    else if (line.startsWith(`${name}_count{`)) count += value;
  }
  return { sum, count };
}
