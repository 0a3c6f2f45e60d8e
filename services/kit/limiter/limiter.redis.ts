import type { Redis } from "ioredis";
import { Counter } from "prom-client";
import { GroupCommit } from "../group-commit.js";
import type { Logger } from "../logger.js";
import { registry } from "../metrics.js";
import { isRedisLost } from "../redis.js";
import { DEFAULT_REDIS_KEY_PREFIX } from "../redis-keys.js";
import type { RateLimit, RateLimiter } from "./limiter.js";
import { MemoryRateLimiter } from "./limiter.memory.js";

export const rateLimiterDegraded = new Counter({
  name: "parley_rate_limiter_degraded_total",
  help: "Hits counted in this process only because Redis did not answer, by limiter.",
  labelNames: ["limiter"] as const,
  registers: [registry],
});

// Fixed window per key, started by its first hit: INCR and the window's expiry in one atomic step,
// so no crash between them can leave a counter that never expires. Counts each key in KEYS (a key
// twice counts twice) and answers, per key in order, its count and the milliseconds left in its
// window.
const HITS = `
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    left = tonumber(ARGV[1])
  end
  out[2 * i - 1] = count
  out[2 * i] = left
end
return out`;

/** Keys one script call counts at most; concurrent hits beyond it go in further calls. */
export const HITS_PER_CALL = 256;

type WithHits = Redis & {
  parleyRateLimitHits(keyCount: number, ...keysThenWindowMs: (string | number)[]): Promise<number[]>;
};

/**
 * Counts in Redis, so every replica sharing the Redis shares the limit. When Redis does not answer
 * (down, or slower than the connection's command timeout) the hit is counted by a limiter in this
 * process instead: limits then hold per replica rather than across replicas, requests are neither
 * all refused nor all let through, and nothing waits for Redis to come back. Each degraded hit
 * counts in parley_rate_limiter_degraded_total; the first of an outage logs a warning. Hits made
 * together (in one event-loop turn, or while two calls are out) are counted in one script call.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: WithHits;
  private readonly hits: GroupCommit<string, [number, number]>;
  private readonly prefix: string;
  private readonly fallback: MemoryRateLimiter;
  private degraded = false;

  constructor(
    redis: Redis,
    private readonly name: string,
    private readonly rate: RateLimit,
    private readonly logger: Logger,
    keyPrefix = DEFAULT_REDIS_KEY_PREFIX,
  ) {
    if (!("parleyRateLimitHits" in redis)) redis.defineCommand("parleyRateLimitHits", { lua: HITS });
    this.redis = redis as WithHits;
    this.hits = new GroupCommit((keys) => this.countInRedis(keys), {
      maxItems: HITS_PER_CALL,
      maxInFlight: 2,
    });
    this.prefix = `${keyPrefix}rl:${name}:`;
    this.fallback = new MemoryRateLimiter(rate);
  }

  async hit(key: string): Promise<{ allowed: boolean; retryAfterSeconds: number }> {
    let count: number;
    let leftMs: number;
    try {
      if (isRedisLost(this.redis)) throw new Error(`Redis connection ${this.redis.status}`);
      [count, leftMs] = await this.hits.add(this.prefix + key);
    } catch (err) {
      rateLimiterDegraded.inc({ limiter: this.name });
      if (!this.degraded) {
        this.degraded = true;
        this.logger.warn({ err }, "Redis did not answer; rate limits count in this process until it does");
      }
      return this.fallback.hit(key);
    }
    if (this.degraded) {
      this.degraded = false;
      this.logger.info("Redis answers again; rate limits are shared across replicas again");
    }
    if (count <= this.rate.limit) return { allowed: true, retryAfterSeconds: 0 };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(leftMs / 1000)) };
  }

  private async countInRedis(keys: string[]): Promise<[number, number][]> {
    const answer = await this.redis.parleyRateLimitHits(keys.length, ...keys, this.rate.windowSeconds * 1000);
    return keys.map((_, i) => [answer[2 * i] as number, answer[2 * i + 1] as number]);
  }
}
