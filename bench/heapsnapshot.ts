/**
 * What a V8 heap snapshot (.heapsnapshot, from `--heapsnapshot-signal`) holds, by constructor:
 * self size and count, and the difference between two snapshots.
 *   npx tsx bench/heapsnapshot.ts BEFORE.heapsnapshot AFTER.heapsnapshot [per=1]
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export type HeapCensus = Map<string, { count: number; bytes: number }>;

/** Self size and count of every (node type, constructor or name) in the snapshot. */
export function census(file: string): HeapCensus {
  const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const out: HeapCensus = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? "?";
    let name = type;
    if (type === "object" || type === "native" || type === "closure") {
      name = `${type}:${snap.strings[snap.nodes[i + nameAt] as number] ?? "?"}`;
    }
    const entry = out.get(name) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + sizeAt] as number;
    out.set(name, entry);
  }
  return out;
}

/** The kinds that grew most from `before` to `after`, per `per` units (e.g. per stream opened). */
export function growth(before: HeapCensus, after: HeapCensus, per = 1, top = 15) {
  const rows: { name: string; count: number; bytes: number }[] = [];
  for (const [name, a] of after) {
    const b = before.get(name) ?? { count: 0, bytes: 0 };
    rows.push({ name, count: (a.count - b.count) / per, bytes: (a.bytes - b.bytes) / per });
  }
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  return { total, rows: rows.sort((x, y) => y.bytes - x.bytes).slice(0, top) };
}

export function growthMarkdown(g: ReturnType<typeof growth>, unit: string): string {
  return [
    `JS heap growth ${unit}: **${(g.total / 1024).toFixed(1)} KiB** (live objects in the snapshots), largest kinds:`,
    "",
    `| kind (constructor) | objects ${unit} | bytes ${unit} |`,
    "|---|---|---|",
    ...g.rows.map(
      (r) =>
        `| \`${r.name.replace(/\|/g, "\\|").slice(0, 60)}\` | ${r.count.toFixed(1)} | ${Math.round(r.bytes)} |`,
    ),
  ].join("\n");
}

if (process.argv[1]?.endsWith("heapsnapshot.ts") && process.argv[3]) {
  const per = Number(process.argv[4] ?? 1);
  console.log(
    growthMarkdown(growth(census(process.argv[2] as string), census(process.argv[3]), per), "per unit"),
  );
}
