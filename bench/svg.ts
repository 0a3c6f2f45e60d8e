/**
 * A small SVG writer for latency-over-time plots: one panel per run, side by side on a shared
 * time axis; each sample a dot, with per-second p50 and p99 lines, on a log latency axis.
 */

export interface LatencyRun {
  label: string;
  /** [seconds since the run started, latency ms] */
  samples: [number, number][];
}

const W = 1100;
const H = 380;
const M = { left: 60, right: 20, top: 40, bottom: 50 };
const COLORS = { dot: "#9bb7d4", p50: "#1f5fa8", p99: "#c0392b" };

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export function latencySvg(title: string, runs: LatencyRun[], maxDots = 6000): string {
  const durations = runs.map((r) => Math.max(1, Math.ceil(Math.max(0, ...r.samples.map((s) => s[0])))));
  const totalSeconds = durations.reduce((a, b) => a + b, 0) || 1;
  const all = runs.flatMap((r) => r.samples.map((s) => s[1]));
  const maxMs = Math.max(10, ...all);
  const yMin = 0.5;
  const yMax = 10 ** Math.ceil(Math.log10(maxMs));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const y = (ms: number) =>
    M.top +
    plotH -
    ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
  // Latency grid: 1, 10, 100 … ms.
  for (let v = 1; v <= yMax; v *= 10) {
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v} ms</text>`,
    );
  }
  const every = Math.max(1, Math.ceil(all.length / maxDots));
  let offset = 0;
  for (const [i, run] of runs.entries()) {
    const seconds = durations[i] as number;
    const x0 = M.left + (offset / totalSeconds) * plotW;
    const x = (t: number) => x0 + (t / totalSeconds) * plotW;
    const panelW = (seconds / totalSeconds) * plotW;
    out.push(
      `<line x1="${x0.toFixed(1)}" x2="${x0.toFixed(1)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#888" stroke-dasharray="3,3"/>`,
      `<text x="${(x0 + panelW / 2).toFixed(1)}" y="${M.top + plotH + 30}" text-anchor="middle">${escapeXml(run.label)}</text>`,
    );
    const dots: string[] = [];
    run.samples.forEach(([t, ms], k) => {
      if (k % every === 0) dots.push(`M${x(t).toFixed(1)},${y(ms).toFixed(1)}h0.1`);
    });
    if (dots.length) {
      out.push(`<path d="${dots.join("")}" stroke="${COLORS.dot}" stroke-width="2" stroke-linecap="round"/>`);
    }
    // Per-second quantiles.
    const perSecond = new Map<number, number[]>();
    for (const [t, ms] of run.samples) {
      const s = Math.floor(t);
      const bucket = perSecond.get(s) ?? [];
      bucket.push(ms);
      perSecond.set(s, bucket);
    }
    const seconds_ = [...perSecond.keys()].sort((a, b) => a - b);
    for (const [q, color] of [
      [0.5, COLORS.p50],
      [0.99, COLORS.p99],
    ] as const) {
      const points = seconds_.map((s) => {
        const sorted = (perSecond.get(s) as number[]).sort((a, b) => a - b);
        return `${x(s + 0.5).toFixed(1)},${y(quantile(sorted, q)).toFixed(1)}`;
      });
      if (points.length) {
        out.push(`<polyline points="${points.join(" ")}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      }
    }
    offset += seconds;
  }
  out.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#333"/>`,
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + plotH}" stroke="#333"/>`,
    `<text x="${M.left}" y="${H - 6}">time →  (each panel one run, ${totalSeconds} s in all)</text>`,
    `<text x="${W - M.right - 250}" y="${M.top - 8}" fill="${COLORS.p50}">— p50 per second</text>`,
    `<text x="${W - M.right - 140}" y="${M.top - 8}" fill="${COLORS.p99}">— p99 per second</text>`,
    `<text x="${W - M.right - 40}" y="${M.top - 8}" fill="${COLORS.dot}">• sample</text>`,
    "</svg>",
  );
  return `${out.join("\n")}\n`;
}
