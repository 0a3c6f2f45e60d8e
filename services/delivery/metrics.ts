import { Counter, Histogram } from "prom-client";
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
