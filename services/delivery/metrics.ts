import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../kit/metrics.js";

export const fanoutSize = new Histogram({
  name: "parley_delivery_fanout_size",
  help: "Recipients per durable event fanned out by delivery.",
  buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
  registers: [registry],
});

export const deliveryEvents = new Counter({
  name: "parley_delivery_events_total",
  help: "Events fanned out by delivery, by kind (message, receipt, group, typing, presence).",
  labelNames: ["kind"] as const,
  registers: [registry],
});

export const pushFailures = new Counter({
  name: "parley_delivery_push_failures_total",
  help: "Pushes to a gateway node that failed or timed out (the events stay in the inboxes).",
  registers: [registry],
});

export const pushRetries = new Counter({
  name: "parley_delivery_push_retries_total",
  help:
    "Users whose failed push delivery retried, by how it ended: delivered, offline (no open stream any " +
    "more), given_up (the retry window closed) or dropped_over_cap (too many users held).",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

export const pushRetryUsers = new Gauge({
  name: "parley_delivery_push_retry_users",
  help: "Users whose latest event's push failed and is being retried.",
  registers: [registry],
});
