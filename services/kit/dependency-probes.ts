import type cassandra from "cassandra-driver";
import { Redis } from "ioredis";
import type { Admin } from "kafkajs";
import type { ReadinessCheck } from "./readiness.js";
import type { SqlDatabase } from "./sql/database.js";

/**
 * Readiness checks that ask each real server directly, on a small connection of their own, so a
 * check says whether the server answers without depending on how an adapter manages its pool.
 * Each keeps its connection between checks and drops it after a failure, so the next check starts
 * clean instead of waiting on a broken one.
 */
export interface Probe {
  check: ReadinessCheck;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 1_000;

/** `select 1` through the store's own database handle (opening it first, if it is still opening). */
export function sqlProbe(database: () => Promise<SqlDatabase>): Probe {
  return {
    check: async () => {
      await (await database()).query("select 1");
    },
    close: async () => {},
  };
}

export function kafkaProbe(brokers: string[]): Probe {
  let admin: Admin | undefined;
  const drop = async () => {
    const stale = admin;
    admin = undefined;
    await stale?.disconnect().catch(() => {});
  };
  return {
    async check() {
      try {
        if (!admin) {
          // Imported on first check, like the CQL driver: only a process that uses Kafka loads it.
          const { Kafka, logLevel } = await import("kafkajs");
          (await import("./log/kafkajs-idle-loop.js")).fixKafkajsIdleLoop();
          admin = new Kafka({
            clientId: "parley-readiness",
            brokers,
            connectionTimeout: CONNECT_TIMEOUT_MS,
            retry: { retries: 0 },
            logLevel: logLevel.NOTHING,
          }).admin();
          await admin.connect();
        }
        const { brokers: live } = await admin.describeCluster();
        if (live.length === 0) throw new Error("no broker in the cluster");
      } catch (err) {
        await drop();
        throw err;
      }
    },
    close: drop,
  };
}

export function redisProbe(url: string): Probe {
  let redis: Redis | undefined;
  const drop = async () => {
    const stale = redis;
    redis = undefined;
    stale?.disconnect();
  };
  return {
    async check() {
      try {
        if (!redis) {
          redis = new Redis(url, {
            lazyConnect: true,
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            connectTimeout: CONNECT_TIMEOUT_MS,
            retryStrategy: () => null,
          });
          redis.on("error", () => {});
          await redis.connect();
        }
        const pong = await redis.ping();
        if (pong !== "PONG") throw new Error(`PING answered ${pong}`);
      } catch (err) {
        await drop();
        throw err;
      }
    },
    close: drop,
  };
}

export function cqlProbe(contactPoints: string[], localDataCenter: string): Probe {
  let client: cassandra.Client | undefined;
  const drop = async () => {
    const stale = client;
    client = undefined;
    await stale?.shutdown().catch(() => {});
  };
  return {
    async check() {
      try {
        if (!client) {
          // Loaded by the first check: only a process that talks to Cassandra pays for the driver.
          const driver = (await import("cassandra-driver")).default;
          client = new driver.Client({
            contactPoints,
            localDataCenter,
            socketOptions: { connectTimeout: CONNECT_TIMEOUT_MS },
            pooling: { coreConnectionsPerHost: { [driver.types.distance.local]: 1 } },
          });
          await client.connect();
        }
        await client.execute("SELECT now() FROM system.local");
      } catch (err) {
        await drop();
        throw err;
      }
    },
    close: drop,
  };
}

/** host:port of a URL, for messages that must never carry its credentials. */
export function endpointOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "default port"}${parsed.pathname.length > 1 ? parsed.pathname : ""}`;
  } catch {
    return "(unparsable URL)";
  }
}
