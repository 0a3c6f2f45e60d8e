import { describe, expect, it } from "vitest";
import { MemoryRateLimiter } from "./limiter.memory.js";

describe("MemoryRateLimiter", () => {
  it("allows `limit` hits per window per key, then says when to retry", async () => {
    let now = 1_000_000;
    const limiter = new MemoryRateLimiter({ limit: 3, windowSeconds: 60 }, () => now);
    for (let i = 0; i < 3; i++) expect((await limiter.hit("alice")).allowed).toBe(true);
    now += 15_000;
    expect(await limiter.hit("alice")).toEqual({ allowed: false, retryAfterSeconds: 45 });
    expect((await limiter.hit("bob")).allowed).toBe(true);
    now += 45_000;
    expect((await limiter.hit("alice")).allowed).toBe(true);
  });
});
