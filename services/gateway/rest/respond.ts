import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { asDomainError } from "../../kit/errors.js";
import type { Logger } from "../../kit/logger.js";

export type GatewayResponse = ServerResponse | Http2ServerResponse;

export function sendJson(
  res: GatewayResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = body === undefined ? "" : JSON.stringify(body);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (payload) {
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.setHeader("content-length", Buffer.byteLength(payload));
  }
  res.setHeader("cache-control", res.getHeader("cache-control") ?? "no-store");
  res.end(payload);
}

/**
 * Every failure leaves as `{"error":{code,message}}` with the kit table's status. Unexpected
 * errors are logged once and leave as `internal` with no detail.
 */
export function sendError(
  req: IncomingMessage | Http2ServerRequest,
  res: GatewayResponse,
  err: unknown,
  logger: Logger,
): void {
  const domain = asDomainError(err);
  if (domain.code === "internal")
    logger.error({ err, method: req.method, path: req.url?.split("?")[0] }, "request failed");
  const headers: Record<string, string> = {};
  if (domain.retryAfterSeconds !== undefined)
    headers["retry-after"] = String(Math.ceil(domain.retryAfterSeconds));
  // A refused body may still be arriving; close an HTTP/1.1 connection instead of draining it.
  if (domain.code === "payload_too_large" && req.httpVersionMajor === 1) headers.connection = "close";
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, domain.httpStatus, domain.toJSON(), headers);
}
