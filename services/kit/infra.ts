import { join } from "node:path";
import { z } from "zod";
import { defineConfig, list } from "./config.js";
import type { RateLimit, RateLimiter } from "./limiter/limiter.js";
import { MemoryRateLimiter } from "./limiter/limiter.memory.js";
import { EmbeddedLog } from "./log/log.embedded.js";
import type { MessageLog } from "./log/log.js";
import type { Logger } from "./logger.js";
import type { ServiceName } from "./module.js";
import type { SqlDatabase } from "./sql/database.js";
import { openPglite } from "./sql/database.pglite.js";

/**
 * Which implementation backs each shared role: the production component when it is configured,
 * else the embedded default. The one place that decides; modules only ask for a role.
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
  kafkaBrokers: {
    env: "PARLEY_KAFKA_BROKERS",
    schema: list().default([]),
    help: "Kafka bootstrap brokers (comma-separated host:port). Unset: the embedded log (single process only).",
  },
  redisUrl: {
    env: "PARLEY_REDIS_URL",
    schema: z.string().optional(),
    help: "Redis URL for rate limits shared across replicas (and presence). Unset: in-process.",
  },
});

export type InfraConfig = ReturnType<typeof infraConfig.load>;

export interface Infra {
  sql(service: ServiceName): Promise<SqlDatabase>;
  messageLog(): Promise<MessageLog>;
  rateLimiter(name: string, rate: RateLimit): RateLimiter;
  close(): Promise<void>;
}

export function createInfra(options: { env: NodeJS.ProcessEnv; dataDir: string; logger: Logger }): Infra {
  const _config = infraConfig.load(options.env);
  const databases = new Map<string, Promise<SqlDatabase>>();
  const openDatabase = (name: ServiceName | "log"): Promise<SqlDatabase> => {
    let db = databases.get(name);
    if (!db) {
      db = openPglite(join(options.dataDir, name), name, options.env.PARLEY_PGLITE_TEMPLATE);
      databases.set(name, db);
    }
    return db;
  };
  let log: Promise<MessageLog> | undefined;

  return {
    sql: (service) => openDatabase(service),
    messageLog: () => {
      log ??= openDatabase("log").then((db) =>
        EmbeddedLog.open(db, options.logger.child({ component: "log" })),
      );
      return log;
    },
    rateLimiter: (_name, rate) => new MemoryRateLimiter(rate),
    async close() {
      if (log) await (await log).close();
      for (const db of databases.values()) await (await db).close();
    },
  };
}
