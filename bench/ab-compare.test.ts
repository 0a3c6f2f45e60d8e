import { describe, expect, it } from "vitest";
import { comparisonTable, ladderRows, median, rankSumP } from "./ab-compare.js";

// Rows as bench/delivery.ts prints them: in its log (time-stamped) and again in the final table.
const OUTPUT = `
[17:51:50] | 100 | 100 | 1.4 / 7.3 | 3.5 | **10.0** | 32 | 2000/2000 | 0 | 5.0 / 10 | 4.35 |
| offered/s | acked/s | send ack p50/p99 ms | deliver p50 | **p99** | p99.9 ms | delivered/expected | failed sends | gateway p50/p99 ms | Parley CPU ms/msg |
| 100 | 100 | 1.4 / 7.3 | 3.5 | **10.0** | 32 | 2000/2000 | 0 | 5.0 / 10 | 4.35 |
| 2000 | 1995 | 25 / 190 | 62 | **285** | 322 | 40000/40000 | 12 | 50 / 250 | 0.73 |
| 100/s | **4.35** | 4.35 | 0.59 |

| step | **total** | parley gateway | kafka | load generator |
|---|---|---|---|---|
| 100/s | **5.1** | 2.1 | 0.9 | 0.6 |
| 2000/s | **1.2** | 0.5 | 0.25 | 0.1 |
`;

describe("ladderRows", () => {
  it("reads each rate's step once, from the log or the table, with each process's CPU", () => {
    expect(ladderRows(OUTPUT)).toEqual([
      {
        rate: 100,
        acked: 100,
        deliverP50: 3.5,
        deliverP99: 10,
        deliverP999: 32,
        cpuMsPerMessage: 4.35,
        cpuByProcess: { "parley gateway": 2.1, kafka: 0.9, "load generator": 0.6 },
      },
      {
        rate: 2000,
        acked: 1995,
        deliverP50: 62,
        deliverP99: 285,
        deliverP999: 322,
        cpuMsPerMessage: 0.73,
        cpuByProcess: { "parley gateway": 0.5, kafka: 0.25, "load generator": 0.1 },
      },
    ]);
  });

  it("finds no rows in output without a ladder", () => {
    expect(ladderRows("parley not ready in 120 s\n| step | **total** |")).toEqual([]);
  });
});

describe("rankSumP", () => {
  it("is 2 in C(8,4) = 70 for four runs wholly above four others, either way round", () => {
    expect(rankSumP([1, 2, 3, 4], [5, 6, 7, 8])).toBeCloseTo(2 / 70, 10);
    expect(rankSumP([50, 60, 70, 80], [1, 2, 3, 4])).toBeCloseTo(2 / 70, 10);
  });

  it("is 1 when the two sides interleave evenly or are the same values", () => {
    expect(rankSumP([1, 4, 5, 8], [2, 3, 6, 7])).toBe(1);
    expect(rankSumP([3, 3, 3], [3, 3, 3])).toBe(1);
  });

  it("counts ties by mid-ranks: one shared value between fully separated sides", () => {
    // Ranks 1, 2, 3.5 | 3.5, 5, 6: as extreme are the two splits with either 3.5 beside 1 and 2,
    // and their two mirrors (3.5, 5, 6), so 4 of C(6,3) = 20.
    expect(rankSumP([1, 2, 3], [3, 5, 6])).toBeCloseTo(4 / 20, 10);
  });
});

describe("comparisonTable", () => {
  it("puts each side's runs, medians, their ratio and the p-value in one row per rate and metric", () => {
    const run = (p99: number, cpu: number) => [
      {
        rate: 400,
        acked: 400,
        deliverP50: 4,
        deliverP99: p99,
        deliverP999: p99,
        cpuMsPerMessage: cpu,
        cpuByProcess: {},
      },
    ];
    const table = comparisonTable(
      [run(30, 3), run(34, 3.1), run(32, 2.9)],
      [run(20, 2.5), run(22, 2.6), run(21, 2.4)],
      ["deliverP99", "cpuMsPerMessage"],
    );
    expect(table.split("\n").slice(2)).toEqual([
      "| 400 | deliverP99 | 30, 34, 32 | 20, 22, 21 | 32 | 21 | 0.66 | 0.100 |",
      "| 400 | cpuMsPerMessage | 3, 3.1, 2.9 | 2.5, 2.6, 2.4 | 3 | 2.5 | 0.83 | 0.100 |",
    ]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    // Medians of an even count are means: printed to three significant digits.
    const even = comparisonTable(
      [run(30, 6.14), run(31, 6.42)],
      [run(30, 6), run(31, 6)],
      ["cpuMsPerMessage"],
    );
    expect(even.split("\n")[2]).toBe(
      "| 400 | cpuMsPerMessage | 6.14, 6.42 | 6, 6 | 6.28 | 6 | 0.96 | 0.333 |",
    );
  });

  it("adds each process's CPU per message that both sides printed, the costliest first", () => {
    const run = (cpuByProcess: Record<string, number>) => [
      {
        rate: 400,
        acked: 400,
        deliverP50: 4,
        deliverP99: 9,
        deliverP999: 9,
        cpuMsPerMessage: 1,
        cpuByProcess,
      },
    ];
    const table = comparisonTable(
      [run({ kafka: 0.3, cassandra: 0.5 }), run({ kafka: 0.2, cassandra: 0.6 })],
      [run({ kafka: 0.3, cassandra: 0.3, redis: 0.1 }), run({ kafka: 0.25, cassandra: 0.35 })],
      [],
    );
    expect(table.split("\n").slice(2)).toEqual([
      "| 400 | CPU ms/msg cassandra | 0.5, 0.6 | 0.3, 0.35 | 0.55 | 0.325 | 0.59 | 0.333 |",
      "| 400 | CPU ms/msg kafka | 0.3, 0.2 | 0.3, 0.25 | 0.25 | 0.275 | 1.10 | 1.000 |",
    ]);
  });
});
