import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { sharedRedisUrl } from "../redis.fixture.js";
import { openRedis } from "../redis.js";
import { RedisOnlineSessions } from "./sessions.redis.js";

describe("RedisOnlineSessions keys", () => {
  let redis: Redis;
  beforeAll(() => {
    redis = openRedis(sharedRedisUrl(), createLogger({ level: "silent" }));
  });
  afterAll(() => redis?.quit());

  it("keeps a user's index alive as long as their longest session, and leaves nothing once all expire", async () => {
    const sessions = new RedisOnlineSessions(redis);
    const userId = `u-${randomUUID()}`;
    const index = `parley:presence:{${userId}}`;
    await sessions.register([{ userId, sessionId: "long", node: "gw-1" }], 30);
    await sessions.register([{ userId, sessionId: "short", node: "gw-1" }], 1);
    expect(await redis.pttl(index)).toBeGreaterThan(25_000);
    expect(await redis.get(`${index}:long`)).toBe("gw-1");

    await sessions.unregister([{ userId, sessionId: "long" }]);
    await sessions.register([{ userId, sessionId: "short", node: "gw-1" }], 1);
    const deadline = performance.now() + 5000;
    while ((await redis.exists(index, `${index}:short`)) > 0) {
      if (performance.now() > deadline) throw new Error("presence keys outlived every session");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await sessions.list([userId]))[0]).toEqual([]);
  });

  it("keeps deployments with different key prefixes apart on one Redis", async () => {
    const userId = `u-${randomUUID()}`;
    const staging = new RedisOnlineSessions(redis, "staging:");
    const production = new RedisOnlineSessions(redis, "production:");
    await staging.register([{ userId, sessionId: "s1", node: "gw-staging" }], 30);
    await production.register([{ userId, sessionId: "p1", node: "gw-production" }], 30);
    expect((await staging.list([userId]))[0]).toEqual([{ userId, sessionId: "s1", node: "gw-staging" }]);
    expect((await production.list([userId]))[0]).toEqual([
      { userId, sessionId: "p1", node: "gw-production" },
    ]);
    expect(await redis.get(`staging:presence:{${userId}}:s1`)).toBe("gw-staging");
    expect(await redis.exists(`parley:presence:{${userId}}`)).toBe(0);
    await staging.unregister([{ userId, sessionId: "s1" }]);
    expect((await staging.list([userId]))[0]).toEqual([]);
    expect((await production.list([userId]))[0]).toHaveLength(1);
    await production.unregister([{ userId, sessionId: "p1" }]);
  });
});
