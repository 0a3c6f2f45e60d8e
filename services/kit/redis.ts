import { Redis } from "ioredis";
import type { Logger } from "./logger.js";

export interface RedisOptions {
  /** A command without a reply by then fails, so a stalled Redis never stalls a request. */
  commandTimeoutMs?: number;
}

/**
 * The process's one Redis connection. Callers treat Redis as optional at request time and decide
 * how to degrade; no command waits long for it: every command fails after the command timeout,
 * and commands queued while a lost connection is being re-established fail at each failed attempt
 * (maxRetriesPerRequest 0). The offline queue stays on so the first commands, sent while the
 * connection is first being made, wait the few milliseconds that takes instead of failing.
 */
export function openRedis(url: string, logger: Logger, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 250,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    connectionName: "parley",
  });
  // One warning per outage, not one per reconnect attempt; without a listener ioredis prints each.
  let down = false;
  redis.on("error", (err) => {
    if (down) return;
    down = true;
    logger.warn({ err, component: "redis" }, "Redis unreachable; reconnecting in the background");
  });
  redis.on("ready", () => {
    if (down) logger.info({ component: "redis" }, "Redis reachable again");
    down = false;
  });
  return redis;
}

/** True while a connection that was made has been lost: commands now would only wait to fail. */
export function isRedisLost(redis: Redis): boolean {
  return redis.status === "reconnecting" || redis.status === "close" || redis.status === "end";
}
