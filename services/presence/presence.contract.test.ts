import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { createLogger } from "../kit/logger.js";
import { MemoryOnlineSessions } from "../kit/presence/sessions.memory.js";
import { RedisOnlineSessions } from "../kit/presence/sessions.redis.js";
import { sharedRedisUrl } from "../kit/redis.fixture.js";
import { openRedis } from "../kit/redis.js";
import { presenceContract } from "./presence.contract.js";
import { Presence } from "./presence.js";
import { MemoryPresenceState } from "./state.memory.js";
import { RedisPresenceState } from "./state.redis.js";

presenceContract("in-process", async () => ({
  open: () => new Presence(new MemoryOnlineSessions(), new MemoryPresenceState()),
  sharedAcrossInstances: false,
  cleanup: async () => {},
}));

presenceContract("Redis", async () => {
  const connections: Redis[] = [];
  // This run's keys: a test's nodes, tickets and last-seen times are invisible to every other run.
  const prefix = `test:${randomUUID()}:`;
  return {
    open: () => {
      const redis = openRedis(sharedRedisUrl(), createLogger({ level: "silent" }));
      connections.push(redis);
      return new Presence(new RedisOnlineSessions(redis), new RedisPresenceState(redis, prefix));
    },
    sharedAcrossInstances: true,
    async cleanup() {
      const [redis] = connections;
      if (redis) {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      await Promise.all(connections.map((redis) => redis.quit()));
    },
  };
});
