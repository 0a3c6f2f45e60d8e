import type { Redis } from "ioredis";
import { createLogger } from "../logger.js";
import { sharedRedisUrl } from "../redis.fixture.js";
import { openRedis } from "../redis.js";
import { limiterContract } from "./limiter.contract.js";
import { MemoryRateLimiter } from "./limiter.memory.js";
import { RedisRateLimiter } from "./limiter.redis.js";

const silent = createLogger({ level: "silent" });

limiterContract("in-process", async () => ({
  open: (_name, rate) => new MemoryRateLimiter(rate),
  sharedAcrossReplicas: false,
  cleanup: async () => {},
}));

limiterContract("Redis", async () => {
  // One connection per replica, as each process holds its own.
  const connections: Redis[] = [];
  return {
    open: (name, rate) => {
      const redis = openRedis(sharedRedisUrl(), silent);
      connections.push(redis);
      return new RedisRateLimiter(redis, name, rate, silent);
    },
    sharedAcrossReplicas: true,
    async cleanup() {
      await Promise.all(connections.map((redis) => redis.quit()));
    },
  };
});
