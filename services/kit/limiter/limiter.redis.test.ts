import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { type PrivateRedis, sharedRedisUrl, startPrivateRedis } from "../redis.fixture.js";
import { openRedis } from "../redis.js";
import { HITS_PER_CALL, RedisRateLimiter, rateLimiterDegraded } from "./limiter.redis.js";

const silent = createLogger({ level: "silent" });

async function degradedHits(limiter: string): Promise<number> {
  const metric = await rateLimiterDegraded.get();
  return metric.values.find((v) => v.labels.limiter === limiter)?.value ?? 0;
}

describe("RedisRateLimiter", () => {
  it("keeps its counters under parley:rl:<name>: and lets them expire with the window", async () => {
    const redis = openRedis(sharedRedisUrl(), silent);
    try {
      const name = `keys-${randomUUID()}`;
      await new RedisRateLimiter(redis, name, { limit: 5, windowSeconds: 30 }, silent).hit("alice");
      const key = `parley:rl:${name}:alice`;
      expect(await redis.get(key)).toBe("1");
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(25_000);
      expect(ttl).toBeLessThanOrEqual(30_000);
    } finally {
      await redis.quit();
    }
  });

  it("counts hits made together in one call per 256 keys, each hit answered as if alone", async () => {
    const redis = openRedis(sharedRedisUrl(), silent);
    try {
      const name = `together-${randomUUID()}`;
      const limiter = new RedisRateLimiter(redis, name, { limit: 1, windowSeconds: 30 }, silent);
      await limiter.hit("warm-up");
      const calls: number[] = [];
      const counted = redis as Redis & { parleyRateLimitHits(keyCount: number, ...rest: unknown[]): unknown };
      const count = counted.parleyRateLimitHits.bind(redis);
      counted.parleyRateLimitHits = (keyCount, ...rest) => {
        calls.push(keyCount);
        return count(keyCount, ...rest);
      };
      // 300 users hit twice each in one turn: 600 hits, each user's first allowed and second refused.
      const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);
      const results = await Promise.all([...users, ...users].map((user) => limiter.hit(user)));
      expect(calls).toEqual([HITS_PER_CALL, HITS_PER_CALL, 600 - 2 * HITS_PER_CALL]);
      expect(results.slice(0, 300).every((r) => r.allowed)).toBe(true);
      expect(results.slice(300).every((r) => !r.allowed && r.retryAfterSeconds === 30)).toBe(true);
      expect(await redis.get(`parley:rl:${name}:user-299`)).toBe("2");
      expect(await degradedHits(name)).toBe(0);
      // A lone hit later is a call of its own.
      expect((await limiter.hit("late")).allowed).toBe(true);
      expect(calls.at(-1)).toBe(1);
    } finally {
      await redis.quit();
    }
  });

  it("counts apart for deployments with different key prefixes on one Redis", async () => {
    const redis = openRedis(sharedRedisUrl(), silent);
    try {
      const name = `prefix-${randomUUID()}`;
      const rate = { limit: 1, windowSeconds: 30 };
      const staging = new RedisRateLimiter(redis, name, rate, silent, "staging:");
      const production = new RedisRateLimiter(redis, name, rate, silent, "production:");
      expect((await staging.hit("alice")).allowed).toBe(true);
      expect((await staging.hit("alice")).allowed).toBe(false);
      expect((await production.hit("alice")).allowed).toBe(true);
      expect(await redis.get(`staging:rl:${name}:alice`)).toBe("2");
      expect(await redis.get(`production:rl:${name}:alice`)).toBe("1");
      expect(await redis.exists(`parley:rl:${name}:alice`)).toBe(0);
    } finally {
      await redis.quit();
    }
  });
});

describe("RedisRateLimiter when Redis goes away", () => {
  let server: PrivateRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = openRedis(server.url, silent);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.kill();
  });

  it("never throws or hangs, limits per process while Redis is down, and shares again once it is back", async () => {
    const name = `fault-${randomUUID()}`;
    const limiter = new RedisRateLimiter(redis, name, { limit: 3, windowSeconds: 60 }, silent);
    expect((await limiter.hit("alice")).allowed).toBe(true);
    expect(await degradedHits(name)).toBe(0);

    await server.kill();
    const started = performance.now();
    const whileDown = [];
    for (let i = 0; i < 5; i++) whileDown.push(await limiter.hit("alice"));
    // Each hit answered at once from this process's own counts: 3 allowed, then refused.
    expect(performance.now() - started).toBeLessThan(2000);
    expect(whileDown.map((r) => r.allowed)).toEqual([true, true, true, false, false]);
    expect(whileDown[3]?.retryAfterSeconds).toBeGreaterThan(0);
    expect(await degradedHits(name)).toBe(5);

    await server.start();
    // The connection comes back by itself; wait until hits are counted in Redis again.
    const deadline = performance.now() + 10_000;
    while ((await redis.get(`parley:rl:${name}:bob`).catch(() => null)) === null) {
      if (performance.now() > deadline) throw new Error("hits never reached Redis again");
      await limiter.hit("bob");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const before = await degradedHits(name);
    // The restarted Redis is empty, so shared counting starts over for alice.
    expect((await limiter.hit("alice")).allowed).toBe(true);
    expect(await redis.get(`parley:rl:${name}:alice`)).toBe("1");
    expect(await degradedHits(name)).toBe(before);
  });
});
