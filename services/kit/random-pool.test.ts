import { describe, expect, it } from "vitest";
import { randomBytesFromPool } from "./random-pool.js";

describe("random bytes from the pool", () => {
  it("hands out bytes of the asked length, never the same run twice across refills", () => {
    const seen = new Set<string>();
    // 16 + 12 bytes per round, 2,000 rounds: ~14 refills of the 4 KiB pool, at every offset.
    for (let i = 0; i < 2_000; i++) {
      for (const n of [16, 12]) {
        const bytes = randomBytesFromPool(n);
        expect(bytes.length).toBe(n);
        seen.add(bytes.toString("hex"));
      }
    }
    expect(seen.size).toBe(4_000);
  });

  it("gives each caller its own copy, not a view the next call overwrites", () => {
    const first = randomBytesFromPool(4096);
    const copy = Buffer.from(first);
    randomBytesFromPool(4096);
    expect(first.equals(copy)).toBe(true);
  });

  it("refuses lengths the pool cannot serve", () => {
    expect(() => randomBytesFromPool(4097)).toThrow(RangeError);
    expect(() => randomBytesFromPool(-1)).toThrow(RangeError);
    expect(() => randomBytesFromPool(1.5)).toThrow(RangeError);
  });
});
