import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivateRedis, startPrivateRedis } from "../services/kit/redis.fixture.js";
import { type FreshPostgres, openFreshPostgres } from "../services/kit/sql/database.pg.fixture.js";
import { restClient } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";
import { restScenarios } from "./rest.scenarios.js";

/**
 * The foundation's REST walk, unchanged, on all-in-one Parley whose auth, groups and messages
 * databases are PostgreSQL (each its own, migrated at start) and whose rate limits are in Redis.
 * A private redis-server keeps these counts away from other tests' limiters.
 */
describe("Parley on PostgreSQL and Redis", () => {
  let parley: TestParley;
  let redis: PrivateRedis;
  const databases: Record<string, FreshPostgres> = {};

  beforeAll(async () => {
    redis = await startPrivateRedis();
    for (const service of ["auth", "groups", "messages"])
      databases[service] = await openFreshPostgres(service);
    parley = await startTestParley({
      env: {
        PARLEY_AUTH_DATABASE_URL: databases.auth?.url ?? "",
        PARLEY_GROUPS_DATABASE_URL: databases.groups?.url ?? "",
        PARLEY_MESSAGES_DATABASE_URL: databases.messages?.url ?? "",
        PARLEY_REDIS_URL: redis.url,
      },
    });
  });
  afterAll(async () => {
    await parley?.cleanup();
    for (const db of Object.values(databases)) await db.close();
    await redis?.kill();
  });

  restScenarios(() => ({ url: parley.url, adminUrl: `http://127.0.0.1:${parley.parley.adminPort}` }));

  it("keeps each service's rows in its own PostgreSQL database", async () => {
    const user = await restClient(parley.url).post("/auth/register", {
      username: `pg${Date.now().toString(36)}`,
      password: "correct horse battery",
    });
    expect(user.status).toBe(201);
    const count = async (service: string, table: string) => {
      const client = new pg.Client({ connectionString: databases[service]?.url });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT to_regclass('${table}') IS NOT NULL AS present`);
        if (!rows[0]?.present) return -1;
        return Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
      } finally {
        await client.end();
      }
    };
    expect(await count("auth", "users")).toBeGreaterThan(0);
    expect(await count("groups", "groups")).toBeGreaterThan(0);
    expect(await count("groups", "users")).toBe(-1);
    expect(await count("messages", "client_messages")).toBeGreaterThan(0);
  });

  it("counts logins and sends in Redis", async () => {
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys("parley:rl:*");
      expect(keys.some((k) => k.startsWith("parley:rl:login-address:"))).toBe(true);
      expect(keys.some((k) => k.startsWith("parley:rl:send:"))).toBe(true);
    } finally {
      await client.quit();
    }
  });

  it("reports its pools on /metrics", async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${parley.parley.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/parley_sql_pool_clients\{store="auth",state="total"\} [1-9]/);
    expect(metrics).toMatch(
      /parley_store_duration_seconds_count\{store="groups",operation="transaction"\} [1-9]/,
    );
  });
});
