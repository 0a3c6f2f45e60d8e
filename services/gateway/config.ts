import { z } from "zod";
import { defineConfig, flag } from "../kit/config.js";

export const gatewayConfig = defineConfig({
  maxBodyBytes: {
    env: "PARLEY_GATEWAY_MAX_BODY_BYTES",
    schema: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    help: "Largest request body: REST JSON (larger gets 413) and Connect/gRPC messages (resource_exhausted).",
  },
  trustProxy: {
    env: "PARLEY_GATEWAY_TRUST_PROXY",
    schema: flag().default(false),
    help: "Take the client address from the first X-Forwarded-For hop (only behind a proxy that sets it).",
  },
  upstreamTimeoutMs: {
    env: "PARLEY_GATEWAY_UPSTREAM_TIMEOUT_MS",
    schema: z.coerce.number().int().positive().default(10_000),
    help: "Deadline of each call from the gateway to a service (a shorter client deadline wins).",
  },
  readinessTimeoutMs: {
    env: "PARLEY_GATEWAY_READINESS_TIMEOUT_MS",
    schema: z.coerce.number().int().positive().default(1_000),
    help: "Deadline of each health check /readyz makes.",
  },
  jwksMaxAgeSeconds: {
    env: "PARLEY_GATEWAY_JWKS_MAX_AGE_SECONDS",
    schema: z.coerce.number().int().min(0).default(60),
    help: "Cache-Control max-age of /.well-known/jwks.json; short so rotated keys show up soon.",
  },
  headersTimeoutSeconds: {
    env: "PARLEY_GATEWAY_HEADERS_TIMEOUT_SECONDS",
    schema: z.coerce.number().int().positive().default(30),
    help: "A connection that sends no request within this time is closed.",
  },
});

export type GatewayConfig = ReturnType<typeof gatewayConfig.load>;
