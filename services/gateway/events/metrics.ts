import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../../kit/metrics.js";

export type Transport = "connect" | "ws" | "sse";

/** The names the chart's alerts and dashboards use (docs/delivery.md). */
export const openStreams = new Gauge({
  name: "parley_events_open_streams",
  help: "Event streams open on this gateway, by transport.",
  labelNames: ["transport"] as const,
  registers: [registry],
});

export const sendToDeliver = new Histogram({
  name: "parley_events_send_to_deliver_seconds",
  help: "From the durable append of a message or receipt to its write to a client stream, by transport.",
  labelNames: ["transport"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const slowClientDisconnects = new Counter({
  name: "parley_events_slow_client_disconnects_total",
  help: "Streams closed with RECONNECT because the client did not keep up with its buffer, by transport.",
  labelNames: ["transport"] as const,
  registers: [registry],
});

export const resumeReplayed = new Counter({
  name: "parley_events_resume_replayed_total",
  help: "Events replayed from delivery to streams that resumed from a cursor (or filled a gap).",
  registers: [registry],
});

for (const transport of ["connect", "ws", "sse"] as const) openStreams.set({ transport }, 0);
