import type { Redis } from "ioredis";
import { createLogger } from "../logger.js";
import { sharedRedisUrl } from "../redis.fixture.js";
import { openRedis } from "../redis.js";
import { onlineSessionsContract } from "./sessions.contract.js";
import { MemoryOnlineSessions } from "./sessions.memory.js";
import { RedisOnlineSessions } from "./sessions.redis.js";

onlineSessionsContract("in-process", async () => ({
  open: () => new MemoryOnlineSessions(),
  sharedAcrossNodes: false,
  cleanup: async () => {},
}));

onlineSessionsContract("Redis", async () => {
  const connections: Redis[] = [];
  return {
    open: () => {
      const redis = openRedis(sharedRedisUrl(), createLogger({ level: "silent" }));
      connections.push(redis);
      return new RedisOnlineSessions(redis);
    },
    sharedAcrossNodes: true,
    async cleanup() {
      await Promise.all(connections.map((redis) => redis.quit()));
    },
  };
});
