import type { DescService } from "@bufbuild/protobuf";
import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import cors from "cors";
import { httpDuration } from "../kit/metrics.js";
import { clientAddressKey, connectProxyRoutes } from "./connect-proxy.js";
import type { Handler } from "./listener.js";
import { clientAddressOf } from "./request-context.js";
import type { GatewayResponse } from "./rest/respond.js";
import type { RestRouter } from "./rest/router.js";
import { PUBLIC_SERVICES, type Upstreams } from "./upstreams.js";

// What Connect, gRPC-Web and gRPC clients send and need to read from a browser.
const ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "connect-protocol-version",
  "connect-timeout-ms",
  "grpc-timeout",
  "x-grpc-web",
  "x-user-agent",
  "traceparent",
  "tracestate",
  "last-event-id",
];
const EXPOSED_HEADERS = ["grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after"];

export interface EdgeOptions {
  rest: RestRouter;
  upstreams: Upstreams;
  corsOrigins: string[];
  trustProxy: boolean;
  upstreamTimeoutMs: number;
  /** Largest request message Connect, gRPC-Web and gRPC may send (their default is 4 GiB). */
  maxBodyBytes: number;
  /** Services the gateway serves itself (EventsService), never proxied. */
  local?: { services: DescService[]; routes: (router: ConnectRouter) => void };
}

/**
 * The edge's one request handler: CORS, then Connect/gRPC-Web/gRPC for the public services,
 * and everything else (REST, probes) to the REST router.
 */
export function createEdgeHandler(options: EdgeOptions): Handler {
  const local = options.local?.services ?? [];
  const rpcPaths = new Set(
    [...PUBLIC_SERVICES.map(({ descriptor }) => descriptor), ...local].flatMap((descriptor) =>
      descriptor.methods.map((method) => `/${descriptor.typeName}/${method.name}`),
    ),
  );
  const proxied = connectProxyRoutes(
    PUBLIC_SERVICES.map((s) => s.descriptor).filter((d) => !local.includes(d)),
    options.upstreams,
    options.upstreamTimeoutMs,
  );
  const connect = connectNodeAdapter({
    routes: (router) => {
      proxied(router);
      options.local?.routes(router);
    },
    // connect-node's response type narrows write()'s callback; the router only uses the common part.
    readMaxBytes: options.maxBodyBytes,
    fallback: (req, res) => options.rest.handle(req, res as unknown as GatewayResponse),
    contextValues: (req) =>
      createContextValues().set(clientAddressKey, clientAddressOf(req, options.trustProxy)),
  });
  const withCors =
    options.corsOrigins.length === 0
      ? undefined
      : cors({
          origin: options.corsOrigins.includes("*") ? "*" : options.corsOrigins,
          methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
          allowedHeaders: ALLOWED_HEADERS,
          exposedHeaders: EXPOSED_HEADERS,
          maxAge: 7200,
        });

  return (req, res) => {
    const started = performance.now();
    res.once("close", () => {
      const path = (req.url ?? "").split("?")[0] ?? "";
      const route = rpcPaths.has(path) ? path : (options.rest.patternOf(req) ?? "unmatched");
      httpDuration.observe(
        { route, method: req.method ?? "", status: String(res.statusCode) },
        (performance.now() - started) / 1000,
      );
    });
    if (!withCors) {
      connect(req, res);
      return;
    }
    withCors(req as never, res as never, () => connect(req, res));
  };
}
