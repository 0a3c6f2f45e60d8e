import { call } from "../../kit/grpc/client.js";
import { checkReadiness } from "../readiness.js";
import type { Upstreams } from "../upstreams.js";
import { ok, type RestRoute } from "./route.js";

export interface ProbeOptions {
  readinessTimeoutMs: number;
  jwksMaxAgeSeconds: number;
  /** True once stopping has begun: load balancers should stop sending new requests. */
  draining: () => boolean;
  /** True while other targets of this process are still starting (all-in-one). */
  starting: () => boolean;
}

/** Liveness, readiness and the public signing keys. */
export function probeRoutes(upstreams: Upstreams, options: ProbeOptions): RestRoute[] {
  return [
    {
      method: "GET",
      path: "/healthz",
      auth: false,
      async handle() {
        return ok({ status: "ok" });
      },
    },
    {
      method: "GET",
      path: "/readyz",
      auth: false,
      async handle() {
        if (options.draining()) return { status: 503, body: { status: "draining", services: {} } };
        if (options.starting()) return { status: 503, body: { status: "starting", services: {} } };
        const readiness = await checkReadiness(upstreams, options.readinessTimeoutMs);
        return {
          status: readiness.ready ? 200 : 503,
          body: { status: readiness.ready ? "ready" : "not ready", services: readiness.services },
        };
      },
    },
    {
      method: "GET",
      path: "/.well-known/jwks.json",
      auth: false,
      async handle(req) {
        const { keys } = await call(upstreams.auth, "getJwks", {}, req.call);
        return {
          status: 200,
          // Empty proto3 strings are absent members in a JWK, not "".
          body: {
            keys: keys.map((key) => Object.fromEntries(Object.entries(key).filter(([, v]) => v !== ""))),
          },
          headers: { "cache-control": `public, max-age=${options.jwksMaxAgeSeconds}` },
        };
      },
    },
  ];
}
