/** A keyspace's replication: SimpleStrategy (one data centre, tests) or NetworkTopologyStrategy. */
export type Replication =
  | { class: "SimpleStrategy"; replicationFactor: number }
  | { class: "NetworkTopologyStrategy"; dataCentres: Record<string, number> };

/** "3" → SimpleStrategy RF 3; "dc1:3,dc2:2" → NetworkTopologyStrategy; otherwise the reason it is not. */
export function parseReplication(value: string): Replication | string {
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const replicationFactor = Number(text);
    if (replicationFactor < 1) return "the replication factor must be at least 1";
    return { class: "SimpleStrategy", replicationFactor };
  }
  const dataCentres: Record<string, number> = {};
  for (const entry of text.split(",")) {
    const match = /^\s*([A-Za-z0-9_.-]+)\s*:\s*(\d+)\s*$/.exec(entry);
    if (!match?.[1] || !match[2] || Number(match[2]) < 1) {
      return `"${entry.trim()}" is not dc:factor (e.g. dc1:3); use a number for SimpleStrategy`;
    }
    dataCentres[match[1]] = Number(match[2]);
  }
  return { class: "NetworkTopologyStrategy", dataCentres };
}

/** The replication map of CREATE KEYSPACE. Data-centre names are checked above, so quoting is safe. */
export function replicationCql(replication: Replication): string {
  if (replication.class === "SimpleStrategy") {
    return `{'class': 'SimpleStrategy', 'replication_factor': ${replication.replicationFactor}}`;
  }
  const dcs = Object.entries(replication.dataCentres).map(([dc, n]) => `'${dc}': ${n}`);
  return `{'class': 'NetworkTopologyStrategy', ${dcs.join(", ")}}`;
}
