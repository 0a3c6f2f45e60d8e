import FindMyWay from "find-my-way";
import { bearerToken, type TokenVerifier } from "../../kit/auth-verifier.js";
import { DomainError, notFound, unauthenticated } from "../../kit/errors.js";
import type { Logger } from "../../kit/logger.js";
import { inSpan, SpanKind } from "../../kit/tracing.js";
import { readJsonBody } from "../body.js";
import { clientAddressOf, extractHttpTraceContext, type GatewayRequest } from "../request-context.js";
import { type GatewayResponse, sendError, sendJson } from "./respond.js";
import type { HttpMethod, RestRoute } from "./route.js";
import { parse } from "./validate.js";

const METHODS: HttpMethod[] = ["GET", "POST", "PUT", "DELETE"];

export interface RestRouterOptions {
  routes: RestRoute[];
  verifier: TokenVerifier;
  logger: Logger;
  maxBodyBytes: number;
  trustProxy: boolean;
  upstreamTimeoutMs: number;
}

export interface RestRouter {
  handle(req: GatewayRequest, res: GatewayResponse): void;
  /** The matched route pattern, for metrics (bounded label values). */
  patternOf(req: GatewayRequest): string | undefined;
}

export function createRestRouter(options: RestRouterOptions): RestRouter {
  const router = FindMyWay({ caseSensitive: true, ignoreTrailingSlash: false });
  for (const route of options.routes) router.on(route.method, route.path, () => {}, route);

  const lookup = (method: string, path: string) => {
    if (!METHODS.includes(method as HttpMethod)) return null;
    return router.find(method as HttpMethod, path);
  };
  const pathOf = (req: GatewayRequest) => (req.url ?? "/").split("?")[0] ?? "/";

  return {
    patternOf(req) {
      return (lookup(req.method ?? "", pathOf(req))?.store as RestRoute | undefined)?.path;
    },
    handle(req, res) {
      const path = pathOf(req);
      const found = lookup(req.method ?? "", path);
      if (!found) {
        const allowed = METHODS.filter((m) => router.find(m, path));
        if (allowed.length > 0) res.setHeader("allow", allowed.join(", "));
        const err =
          allowed.length === 0
            ? notFound(`no route for ${req.method} ${path}`)
            : new DomainError("method_not_allowed", `${req.method} is not allowed on ${path}`);
        sendError(req, res, err, options.logger);
        return;
      }
      const route = found.store as RestRoute;
      const parent = extractHttpTraceContext(req.headers);
      void inSpan(
        `${route.method} ${route.path}`,
        { kind: SpanKind.SERVER, parent, attributes: { "http.route": route.path } },
        async () => {
          const token = bearerToken(headerValue(req.headers.authorization));
          if (route.auth) {
            if (!token) throw unauthenticated();
            await options.verifier.verify(token);
          }
          const reply = await route.handle({
            params: found.params,
            query: new URLSearchParams((req.url ?? "").split("?")[1] ?? ""),
            body: async (schema) => parse(schema, await readJsonBody(req, options.maxBodyBytes)),
            call: {
              token: route.auth ? token : undefined,
              clientAddress: clientAddressOf(req, options.trustProxy),
              timeoutMs: options.upstreamTimeoutMs,
            },
            http: { req, res },
          });
          if (reply) sendJson(res, reply.status, reply.body, reply.headers);
        },
      ).catch((err: unknown) => sendError(req, res, err, options.logger));
    },
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
