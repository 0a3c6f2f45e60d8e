import { describe, expect, it } from "vitest";
import { pacedLoad, quantiles } from "./paced.js";

describe("pacedLoad", () => {
  it("issues request k no earlier than k ÷ rate after the start, and every one that is due", async () => {
    const issuedAt: number[] = [];
    const before = performance.now();
    const step = await pacedLoad({
      rate: 400,
      seconds: 0.25,
      maxInFlight: 1000,
      send: async (k) => {
        issuedAt[k] = performance.now();
        return true;
      },
    });
    // No burst ahead of schedule (autocannon's overallRate sends a second's quota at once).
    issuedAt.forEach((at, k) => {
      expect(at).toBeGreaterThanOrEqual(before + (k * 1000) / 400);
    });
    // The step's quota, each once.
    expect(issuedAt.length).toBe(100);
    expect(step.ok).toBe(100);
    expect(step.seconds).toBeGreaterThanOrEqual(0.25);
    expect(step.latenciesMs).toHaveLength(step.ok);
  });

  it("issues the whole quota when the generator falls behind, and says how late it was", async () => {
    let issued = 0;
    const step = await pacedLoad({
      rate: 400,
      seconds: 0.1,
      maxInFlight: 1000,
      send: async (k) => {
        issued++;
        // The generator's own event loop stalls for 120 ms, past the step's end.
        if (k === 10) for (const until = performance.now() + 120; performance.now() < until; );
        return true;
      },
    });
    expect(issued).toBe(40);
    expect(step.ok).toBe(40);
    expect(step.seconds).toBeGreaterThan(0.12);
    expect(step.lateP99Ms).toBeGreaterThan(50);
  });

  it("counts failures, and skips what is due while maxInFlight requests wait", async () => {
    let waiting = 0;
    let mostWaiting = 0;
    const issued: number[] = [];
    const step = await pacedLoad({
      rate: 1000,
      seconds: 0.1,
      maxInFlight: 3,
      send: async (k) => {
        issued.push(k);
        mostWaiting = Math.max(mostWaiting, ++waiting);
        // Each answer takes at least 20 ms: three at a time is far below 1,000/s.
        await new Promise((resolve) => setTimeout(resolve, 20));
        waiting--;
        return k % 2 === 0;
      },
    });
    expect(mostWaiting).toBe(3);
    expect(step.ok).toBe(issued.filter((k) => k % 2 === 0).length);
    expect(step.failed).toBe(issued.filter((k) => k % 2 === 1).length);
    expect(step.skipped).toBeGreaterThan(0);
    // Issued or skipped, every request of the step is accounted for once.
    expect(step.ok + step.failed + step.skipped).toBe(100);
  });
});

describe("quantiles", () => {
  it("takes nearest ranks, NaN when there is nothing", () => {
    const q = quantiles(Array.from({ length: 1000 }, (_, i) => 1000 - i));
    expect([q.p50, q.p99, q.p999, q.max]).toEqual([501, 991, 1000, 1000]);
    expect(quantiles([]).p99).toBeNaN();
  });
});
