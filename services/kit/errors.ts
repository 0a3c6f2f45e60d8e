import { Metadata, status } from "@grpc/grpc-js";

/** The small set of failures a handler may report; each maps to one gRPC and one HTTP status. */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "unauthenticated"
  | "failed_precondition"
  | "resource_exhausted"
  | "payload_too_large"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "unavailable"
  | "internal";

interface Mapping {
  grpc: status;
  http: number;
}

const table: Record<ErrorCode, Mapping> = {
  invalid_argument: { grpc: status.INVALID_ARGUMENT, http: 400 },
  not_found: { grpc: status.NOT_FOUND, http: 404 },
  already_exists: { grpc: status.ALREADY_EXISTS, http: 409 },
  permission_denied: { grpc: status.PERMISSION_DENIED, http: 403 },
  unauthenticated: { grpc: status.UNAUTHENTICATED, http: 401 },
  failed_precondition: { grpc: status.FAILED_PRECONDITION, http: 409 },
  resource_exhausted: { grpc: status.RESOURCE_EXHAUSTED, http: 429 },
  // Only the edge produces these three; over gRPC they are plain invalid arguments.
  payload_too_large: { grpc: status.INVALID_ARGUMENT, http: 413 },
  unsupported_media_type: { grpc: status.INVALID_ARGUMENT, http: 415 },
  method_not_allowed: { grpc: status.INVALID_ARGUMENT, http: 405 },
  unavailable: { grpc: status.UNAVAILABLE, http: 503 },
  internal: { grpc: status.INTERNAL, http: 500 },
};

const byGrpc = new Map<status, ErrorCode>();
for (const [code, mapping] of Object.entries(table) as [ErrorCode, Mapping][]) {
  if (!byGrpc.has(mapping.grpc)) byGrpc.set(mapping.grpc, code);
}

const RETRY_AFTER_KEY = "retry-after";

/** A failure whose message is safe to show the caller. `cause` is for logs only. */
export class DomainError extends Error {
  readonly code: ErrorCode;
  /** Seconds the caller should wait before trying again (resource_exhausted). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "DomainError";
    this.code = code;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get httpStatus(): number {
    return table[this.code].http;
  }

  get grpcStatus(): status {
    return table[this.code].grpc;
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const invalidArgument = (message: string) => new DomainError("invalid_argument", message);
export const notFound = (message: string) => new DomainError("not_found", message);
export const permissionDenied = (message: string) => new DomainError("permission_denied", message);
export const unauthenticated = (message = "a valid access token is required") =>
  new DomainError("unauthenticated", message);

/** Anything that is not a DomainError becomes `internal` with no detail for the caller. */
export function asDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  return new DomainError("internal", "internal error", { cause: err });
}

export interface GrpcErrorShape {
  code: status;
  details: string;
  metadata: Metadata;
}

/** What a grpc-js handler passes to its callback. */
export function toGrpcError(err: DomainError): GrpcErrorShape {
  const metadata = new Metadata();
  if (err.retryAfterSeconds !== undefined) metadata.set(RETRY_AFTER_KEY, String(err.retryAfterSeconds));
  return { code: err.grpcStatus, details: err.message, metadata };
}

/** A grpc-js client error back into a DomainError, so the edge maps it once. */
export function fromGrpcError(err: { code?: number; details?: string; metadata?: Metadata }): DomainError {
  const code = (err.code !== undefined && byGrpc.get(err.code)) || "internal";
  const retry = err.metadata?.get(RETRY_AFTER_KEY)[0];
  const message =
    code === "internal"
      ? "internal error"
      : code === "unavailable"
        ? "service unavailable"
        : (err.details ?? "");
  return new DomainError(code, message, {
    cause: err,
    retryAfterSeconds: retry === undefined ? undefined : Number(retry),
  });
}
