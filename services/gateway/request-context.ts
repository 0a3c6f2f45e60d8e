import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { type Context, context, defaultTextMapGetter, propagation } from "@opentelemetry/api";

export type GatewayRequest = IncomingMessage | Http2ServerRequest;

/**
 * The end user's address: the socket's peer, or — only when the gateway is told it sits behind
 * a proxy — the first X-Forwarded-For hop, since any client can write that header.
 */
export function clientAddressOf(req: GatewayRequest, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = req.headers["x-forwarded-for"];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
    if (first) return first;
  }
  return req.socket?.remoteAddress;
}

/** The caller's trace context (W3C traceparent), so the gateway's spans join the caller's trace. */
export function extractHttpTraceContext(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers, defaultTextMapGetter);
}
