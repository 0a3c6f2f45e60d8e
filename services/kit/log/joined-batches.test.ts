import { describe, expect, it } from "vitest";
import { joinedBatches } from "./joined-batches.js";
import type { LogRecord } from "./log.js";

const record = (partition: number, offset: number): LogRecord => ({
  topic: "t",
  partition,
  offset: BigInt(offset),
  key: `k${partition}`,
  value: new Uint8Array(),
  headers: {},
  timestamp: 0,
});

describe("joinedBatches", () => {
  it("hands batches given at the same time to one call, each partition's records together and in order", async () => {
    const calls: string[][] = [];
    const handle = joinedBatches(async (records) => {
      calls.push(records.map((r) => `${r.partition}:${r.offset}`));
    }, 3);
    await Promise.all([
      handle([record(0, 1), record(0, 2)]),
      handle([record(3, 7)]),
      handle([record(5, 4), record(5, 5)]),
      handle([record(1, 9)]),
    ]);
    // Three join (the most allowed); the fourth goes in a call of its own.
    expect(calls).toEqual([["0:1", "0:2", "3:7", "5:4", "5:5"], ["1:9"]]);
    await handle([record(0, 3)]);
    expect(calls.at(-1)).toEqual(["0:3"]);
  });

  it("fails every batch of a call that fails, and only those", async () => {
    const handle = joinedBatches(async (records) => {
      if (records.some((r) => r.partition === 2)) throw new Error("store down");
    }, 2);
    const results = await Promise.allSettled([
      handle([record(1, 1)]),
      handle([record(2, 1)]),
      handle([record(4, 1)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "fulfilled"]);
  });
});
