import { describe, expect, it } from "vitest";
import { parseReplication, replicationCql } from "./history.cql.replication.js";

describe("history keyspace replication settings", () => {
  it("reads a number as SimpleStrategy and dc:n pairs as NetworkTopologyStrategy", () => {
    expect(replicationCql(parseReplication("1") as never)).toBe(
      "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    );
    expect(replicationCql(parseReplication("dc1:3, eu-west_2:2") as never)).toBe(
      "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'eu-west_2': 2}",
    );
  });

  it("refuses what is neither, naming the bad part", () => {
    expect(parseReplication("0")).toMatch(/at least 1/);
    expect(parseReplication("dc1:3,dc2")).toMatch(/"dc2" is not dc:factor/);
    expect(parseReplication("dc1:3'}; DROP")).toMatch(/is not dc:factor/);
  });
});
