import type { z } from "zod";
import type { CallOptionsLite } from "../../kit/grpc/client.js";
import type { GatewayRequest } from "../request-context.js";
import type { GatewayResponse } from "./respond.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/** What a REST handler gets: path params, query, the body decoder and how to call a service. */
export interface RestRequest {
  params: Record<string, string | undefined>;
  query: URLSearchParams;
  /** Reads and validates the JSON body (415/413/400 on bad input). */
  body<T>(schema: z.ZodType<T>): Promise<T>;
  /** Forwarded on every service call: the caller's token and address. */
  call: CallOptionsLite;
  /** The HTTP exchange itself, for a route that streams its response (SSE). */
  http: { req: GatewayRequest; res: GatewayResponse };
}

export interface RestReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RestRoute {
  method: HttpMethod;
  /** find-my-way pattern, e.g. /groups/:groupId/send; also the metrics label. */
  path: string;
  /** Needs `Authorization: Bearer <access token>`; checked before the body is read. */
  auth: boolean;
  /** The reply to send as JSON; undefined when the handler wrote the response itself (a stream). */
  handle(req: RestRequest): Promise<RestReply | undefined>;
}

export const ok = (body: unknown): RestReply => ({ status: 200, body });
export const created = (body: unknown): RestReply => ({ status: 201, body });
