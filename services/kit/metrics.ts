import { createServer, type Server } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { COMMIT_INTERVAL_MS } from "./log/log.js";

/** The process's one registry: every target in the process reports here, labelled by service. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const rpcDuration = new Histogram({
  name: "parley_rpc_duration_seconds",
  help: "gRPC calls by service, method, status code and side (server or client).",
  labelNames: ["service", "method", "code", "side"] as const,
  buckets: latencyBuckets,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: "parley_http_request_duration_seconds",
  help: "Gateway HTTP requests by route, method and status.",
  labelNames: ["route", "method", "status"] as const,
  buckets: latencyBuckets,
  registers: [registry],
});

export const storeDuration = new Histogram({
  name: "parley_store_duration_seconds",
  help: "Storage operations by store and operation.",
  labelNames: ["store", "operation"] as const,
  buckets: latencyBuckets,
  registers: [registry],
});

export const logAppendDuration = new Histogram({
  name: "parley_log_append_duration_seconds",
  help: "Time for an append to be durable in the message log, by topic.",
  labelNames: ["topic"] as const,
  buckets: latencyBuckets,
  registers: [registry],
});

export const consumerLag = new Gauge({
  name: "parley_log_consumer_lag_records",
  help: "Records appended but not yet committed by a consumer group, by group and topic.",
  labelNames: ["group", "topic"] as const,
  registers: [registry],
});

/** Append → handled, per record: how far behind a consumer (e.g. the persister) runs. */
export const consumerDelay = new Histogram({
  name: "parley_log_consumer_delay_seconds",
  help: `Time from a record's durable append to its consumer group having handled it (its offset is committed within ${COMMIT_INTERVAL_MS} ms after), by group and topic.`,
  labelNames: ["group", "topic"] as const,
  buckets: [...latencyBuckets, 10, 30, 60],
  registers: [registry],
});

/** Observes each record's append → handled time once its batch is handled (its commit follows). */
export function observeConsumerDelay(group: string, topic: string, appendTimes: number[]): void {
  const now = Date.now();
  const histogram = consumerDelay.labels({ group, topic });
  for (const appended of appendTimes) histogram.observe(Math.max(0, now - appended) / 1000);
}

export const messagesSent = new Counter({
  name: "parley_messages_sent_total",
  help: "Messages durably accepted, by conversation kind (direct or group).",
  labelNames: ["kind"] as const,
  registers: [registry],
});

export const rateLimited = new Counter({
  name: "parley_rate_limited_total",
  help: "Requests refused by a rate limiter, by limiter.",
  labelNames: ["limiter"] as const,
  registers: [registry],
});

export const jwksFetches = new Counter({
  name: "parley_jwks_fetches_total",
  help: "Fetches of the auth service's signing keys (JWKS) by token verifiers, by result (ok or error).",
  labelNames: ["result"] as const,
  registers: [registry],
});

/**
 * Every open PostgreSQL pool (database.pg.ts adds and removes them), for the gauge below; pools
 * of the same store (tests open several) are summed. Defined here, not beside pg, so that every
 * process exports the gauge (dashboards name it) without loading pg.
 */
export const sqlPools = new Set<{
  store: string;
  pool: { totalCount: number; idleCount: number; waitingCount: number };
}>();

new Gauge({
  name: "parley_sql_pool_clients",
  help: "PostgreSQL pool connections by store and state (total, idle, waiting callers).",
  labelNames: ["store", "state"] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const { store, pool } of sqlPools) {
      this.inc({ store, state: "total" }, pool.totalCount);
      this.inc({ store, state: "idle" }, pool.idleCount);
      this.inc({ store, state: "waiting" }, pool.waitingCount);
    }
  },
});

/** What the admin port answers on /readyz: a status code and a JSON body. */
export type AdminProbe = () => Promise<{ status: number; body: unknown }>;

/**
 * Serves /metrics on the admin port, and this process's own probes when given: /healthz (alive)
 * and /readyz (its targets started and every dependency it registered answers).
 */
export async function startAdminServer(
  host: string,
  port: number,
  probes?: { ready: AdminProbe },
): Promise<{ port: number; stop(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    if (req.url === "/metrics") {
      res.setHeader("content-type", registry.contentType);
      res.end(await registry.metrics());
      return;
    }
    if (probes && (req.url === "/healthz" || req.url === "/readyz")) {
      const { status, body } =
        req.url === "/healthz" ? { status: 200, body: { status: "ok" } } : await probes.ready();
      res.statusCode = status;
      res.setHeader("content-type", "application/json");
      res.setHeader("cache-control", "no-store");
      res.end(JSON.stringify(body));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
