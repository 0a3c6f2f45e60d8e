import { join } from "node:path";
import type { Redis } from "ioredis";
import { z } from "zod";
import { defineConfig, list } from "./config.js";
import type { RateLimit, RateLimiter } from "./limiter/limiter.js";
import { MemoryRateLimiter } from "./limiter/limiter.memory.js";
import { RedisRateLimiter } from "./limiter/limiter.redis.js";
import type { MessageLog } from "./log/log.js";
import { kafkaLogConfig } from "./log/log.kafka.config.js";
import type { Logger } from "./logger.js";
import type { ServiceName } from "./module.js";
import { openRedis } from "./redis.js";
import { DEFAULT_REDIS_KEY_PREFIX } from "./redis-keys.js";
import type { SqlDatabase } from "./sql/database.js";

/**
 * Which implementation backs each shared role: the production component when it is configured,
 * else the embedded default. The one place that decides; modules only ask for a role.
 * Implementations are imported when first opened: a gateway never loads kafkajs, pg or PGlite.
 */
export const infraConfig = defineConfig({
  authDatabaseUrl: {
    env: "PARLEY_AUTH_DATABASE_URL",
    schema: z.string().optional(),
    help: "PostgreSQL URL of the auth service's own database. Unset: PGlite under the data folder.",
  },
  groupsDatabaseUrl: {
    env: "PARLEY_GROUPS_DATABASE_URL",
    schema: z.string().optional(),
    help: "PostgreSQL URL of the groups service's own database. Unset: PGlite under the data folder.",
  },
  messagesDatabaseUrl: {
    env: "PARLEY_MESSAGES_DATABASE_URL",
    schema: z.string().optional(),
    help: "PostgreSQL URL of the messages service's own database (idempotency keys; history when no CQL store is set). Unset: PGlite.",
  },
  deliveryDatabaseUrl: {
    env: "PARLEY_DELIVERY_DATABASE_URL",
    schema: z.string().optional(),
    help: "PostgreSQL URL of the delivery service's own database (inboxes, markers, settings). Unset: PGlite.",
  },
  mediaDatabaseUrl: {
    env: "PARLEY_MEDIA_DATABASE_URL",
    schema: z.string().optional(),
    help: "PostgreSQL URL of the media service's own database (attachment metadata). Unset: PGlite.",
  },
  kafkaBrokers: {
    env: "PARLEY_KAFKA_BROKERS",
    schema: list().default([]),
    help: "Kafka bootstrap brokers (comma-separated host:port). Unset: the embedded log (single process only).",
  },
  embeddedLogRetentionHours: {
    env: "PARLEY_EMBEDDED_LOG_RETENTION_HOURS",
    schema: z.coerce.number().positive().default(168),
    help: "Hours the embedded log keeps a record once every consumer has committed it (Kafka's default retention). With Kafka, the topics' own retention applies.",
  },
  pgPoolMax: {
    env: "PARLEY_PG_POOL_MAX",
    schema: z.coerce.number().int().positive().default(10),
    help: "Most PostgreSQL connections each service's pool opens, per process.",
  },
  pgStatementTimeoutMs: {
    env: "PARLEY_PG_STATEMENT_TIMEOUT_MS",
    schema: z.coerce.number().int().positive().default(5000),
    help: "PostgreSQL cancels a statement running longer than this (milliseconds).",
  },
  pgliteThread: {
    env: "PARLEY_PGLITE_THREAD",
    schema: z.enum(["on", "off"]).default("on"),
    help: "on: the embedded PGlite databases run in worker threads, off the event loop (~3× the all-in-one send throughput): delivery's in one of its own, the others in one. off: on the event loop (two threads fewer).",
  },
  pgliteSharedBuffersMb: {
    env: "PARLEY_PGLITE_SHARED_BUFFERS_MB",
    schema: z.coerce.number().int().min(1).max(65536).default(16),
    help: "Shared buffers of each embedded PGlite database, MiB (PostgreSQL's shared_buffers; its own default, 128, costs that much memory per database at start-up).",
  },
  redisUrl: {
    env: "PARLEY_REDIS_URL",
    schema: z.string().optional(),
    help: "Redis URL for rate limits shared across replicas (and presence). Unset: in-process.",
  },
  redisKeyPrefix: {
    env: "PARLEY_REDIS_KEY_PREFIX",
    schema: z.string().min(1).max(64).default(DEFAULT_REDIS_KEY_PREFIX),
    help: "Prefix of every Redis key Parley writes (presence, stream sessions, tickets, rate limits), so several deployments (or test runs) can share one Redis.",
  },
});

export type InfraConfig = ReturnType<typeof infraConfig.load>;

export interface Infra {
  sql(service: ServiceName): Promise<SqlDatabase>;
  messageLog(): Promise<MessageLog>;
  rateLimiter(name: string, rate: RateLimit): RateLimiter;
  /** The shared Redis connection when one is configured. */
  redis(): Redis | undefined;
  /** What every Redis key of this deployment starts with (PARLEY_REDIS_KEY_PREFIX). */
  redisKeyPrefix: string;
  close(): Promise<void>;
}

export function createInfra(options: { env: NodeJS.ProcessEnv; dataDir: string; logger: Logger }): Infra {
  const config = infraConfig.load(options.env);
  const databaseUrls: Partial<Record<ServiceName, string>> = {
    auth: config.authDatabaseUrl,
    groups: config.groupsDatabaseUrl,
    messages: config.messagesDatabaseUrl,
    delivery: config.deliveryDatabaseUrl,
    media: config.mediaDatabaseUrl,
  };
  const databases = new Map<string, Promise<SqlDatabase>>();
  const openDatabase = (name: ServiceName | "log"): Promise<SqlDatabase> => {
    let db = databases.get(name);
    if (!db) {
      const url = name === "log" ? undefined : databaseUrls[name];
      db = url
        ? import("./sql/database.pg.js").then(({ openPostgres }) =>
            openPostgres(url, name, {
              poolMax: config.pgPoolMax,
              statementTimeoutMs: config.pgStatementTimeoutMs,
              logger: options.logger.child({ component: "sql", store: name }),
            }),
          )
        : import("./sql/database.pglite.js").then(({ openPglite }) =>
            openPglite(join(options.dataDir, name), name, options.env.PARLEY_PGLITE_TEMPLATE, {
              thread: config.pgliteThread === "on",
              sharedBuffersMb: config.pgliteSharedBuffersMb,
              logger: options.logger.child({ component: "sql", store: name }),
            }),
          );
      databases.set(name, db);
      // A database that could not be opened is tried again by the next caller, not cached broken.
      db.catch(() => databases.delete(name));
    }
    return db;
  };
  const redis = config.redisUrl ? openRedis(config.redisUrl, options.logger) : undefined;
  // Read up front so a bad Kafka setting fails at start-up, with the others.
  const kafka = config.kafkaBrokers.length > 0 ? kafkaLogConfig.load(options.env) : undefined;
  let log: Promise<MessageLog> | undefined;

  return {
    sql: (service) => openDatabase(service),
    messageLog: () => {
      if (!log) {
        const logger = options.logger.child({ component: "log" });
        log = kafka
          ? import("./log/log.kafka.js").then(({ KafkaLog }) =>
              KafkaLog.open({ ...kafka, brokers: config.kafkaBrokers, logger }),
            )
          : Promise.all([openDatabase("log"), import("./log/log.embedded.js")]).then(
              ([db, { EmbeddedLog }]) =>
                EmbeddedLog.open(db, logger, {
                  retentionMs: config.embeddedLogRetentionHours * 3_600_000,
                }),
            );
        // A Kafka that could not be reached is tried again by the next caller, not cached broken.
        log.catch(() => {
          log = undefined;
        });
      }
      return log;
    },
    rateLimiter: (name, rate) =>
      redis
        ? new RedisRateLimiter(
            redis,
            name,
            rate,
            options.logger.child({ component: "rate-limiter", limiter: name }),
            config.redisKeyPrefix,
          )
        : new MemoryRateLimiter(rate),
    redis: () => redis,
    redisKeyPrefix: config.redisKeyPrefix,
    async close() {
      if (log) await (await log.catch(() => undefined))?.close();
      for (const db of databases.values()) await (await db.catch(() => undefined))?.close();
      // quit() waits for replies in flight; when Redis is down there are none to wait for.
      await redis?.quit().catch(() => redis.disconnect());
    },
  };
}
