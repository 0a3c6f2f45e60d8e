import type { z } from "zod";
import type { CallOptionsLite } from "../../kit/grpc/client.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/** What a REST handler gets: path params, query, the body decoder and how to call a service. */
export interface RestRequest {
  params: Record<string, string | undefined>;
  query: URLSearchParams;
  /** Reads and validates the JSON body (415/413/400 on bad input). */
  body<T>(schema: z.ZodType<T>): Promise<T>;
  /** Forwarded on every service call: the caller's token and address. */
  call: CallOptionsLite;
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
  handle(req: RestRequest): Promise<RestReply>;
}

export const ok = (body: unknown): RestReply => ({ status: 200, body });
export const created = (body: unknown): RestReply => ({ status: 201, body });
