import { describe, expect, it } from "vitest";
import { UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";
import { chunkBySize } from "./push-chunks.js";

const event = (userId: string, padding: string): UserEvent => ({
  userId,
  seq: "1",
  event: undefined,
  appendedAt: undefined,
  traceContext: { padding },
});

describe("splitting a push by size", () => {
  it("keeps every event, in order, with no chunk's request over the budget", () => {
    const events = Array.from({ length: 100 }, (_, i) => event(`u${i}`, "x".repeat(1000 + i * 37)));
    const chunks = chunkBySize(events, 20_000);
    expect(chunks.flat()).toEqual(events);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      const requestSize = chunk.reduce((sum, e) => sum + UserEvent.encode(e).finish().length + 4, 0);
      expect(requestSize).toBeLessThanOrEqual(20_000);
    }
  });

  it("sends an event larger than the budget on its own, and a small push as one request", () => {
    const big = event("big", "x".repeat(50_000));
    const small = event("small", "y");
    expect(chunkBySize([small, big, small], 20_000)).toEqual([[small], [big], [small]]);
    expect(chunkBySize([small, small])).toEqual([[small, small]]);
    expect(chunkBySize([])).toEqual([]);
  });
});
