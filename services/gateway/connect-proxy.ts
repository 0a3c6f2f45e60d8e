import { type DescMethod, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextKey,
  type HandlerContext,
} from "@connectrpc/connect";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import { CLIENT_ADDRESS_HEADER } from "../kit/grpc/server.js";
import { rpcDuration } from "../kit/metrics.js";
import { injectTraceContext, inSpan } from "../kit/tracing.js";
import { extractHttpTraceContext } from "./request-context.js";
import type { Upstreams } from "./upstreams.js";

/** The caller's address as the listener saw it, handed to every Connect handler. */
export const clientAddressKey = createContextKey<string | undefined>(undefined, {
  description: "client address",
});

const identity = (bytes: Buffer) => bytes;

/**
 * Registers every unary method of every public service as one generic proxy: the request is
 * re-encoded to protobuf bytes and sent over gRPC to the owning service, which verifies the
 * caller's token itself; the reply bytes are decoded back. No per-method code, so a new RPC in
 * the schema is served as soon as the owning service implements it.
 */
export function connectProxyRoutes(
  services: DescService[],
  upstreams: Upstreams,
  timeoutMs: number,
): (router: ConnectRouter) => void {
  return (router) => {
    for (const service of services) {
      for (const method of service.methods) {
        if (method.methodKind !== "unary") continue;
        router.rpc(method, ((request: unknown, ctx: HandlerContext) =>
          proxyUnary(method, request, ctx, upstreams, timeoutMs)) as never);
      }
    }
  };
}

async function proxyUnary(
  method: DescMethod,
  request: unknown,
  ctx: HandlerContext,
  upstreams: Upstreams,
  timeoutMs: number,
) {
  const path = `/${method.parent.typeName}/${method.name}`;
  const client = upstreams.owning(method.parent.typeName);
  const started = performance.now();
  const parent = extractHttpTraceContext(Object.fromEntries(ctx.requestHeader));
  const bytes = await inSpan(
    path.slice(1),
    { kind: SpanKind.SERVER, parent, attributes: { "rpc.system": ctx.protocolName } },
    () =>
      new Promise<Buffer>((resolve, reject) => {
        const metadata = new Metadata();
        const authorization = ctx.requestHeader.get("authorization");
        if (authorization) metadata.set("authorization", authorization);
        const clientAddress = ctx.values.get(clientAddressKey);
        if (clientAddress) metadata.set(CLIENT_ADDRESS_HEADER, clientAddress);
        injectTraceContext(metadata);
        const remaining = ctx.timeoutMs();
        const deadline = Date.now() + Math.min(timeoutMs, remaining ?? timeoutMs);
        const call = client.makeUnaryRequest(
          path,
          identity,
          identity,
          Buffer.from(toBinary(method.input, request as never)),
          metadata,
          { deadline },
          (err, reply) => {
            ctx.signal.removeEventListener("abort", cancel);
            rpcDuration.observe(
              {
                service: method.parent.typeName,
                method: method.name,
                code: err ? String(err.code) : "OK",
                side: "client",
              },
              (performance.now() - started) / 1000,
            );
            if (err) reject(toConnectError(err));
            else resolve(reply as Buffer);
          },
        );
        const cancel = () => call.cancel();
        ctx.signal.addEventListener("abort", cancel, { once: true });
      }),
  );
  return fromBinary(method.output, bytes);
}

/** gRPC and Connect share numeric codes; messages of internal failures stay in the logs. */
export function toConnectError(err: ServiceError): ConnectError {
  const hidden = err.code === status.INTERNAL || err.code === status.UNKNOWN || err.code === status.DATA_LOSS;
  const code = err.code >= 1 && err.code <= 16 ? (err.code as number as Code) : Code.Internal;
  const headers = new Headers();
  const retryAfter = err.metadata?.get("retry-after")[0];
  if (retryAfter !== undefined) headers.set("retry-after", String(retryAfter));
  const message = code === Code.Unavailable ? "service unavailable" : hidden ? "internal error" : err.details;
  return new ConnectError(message, hidden ? Code.Internal : code, headers, undefined, err);
}
