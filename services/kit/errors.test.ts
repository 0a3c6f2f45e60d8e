import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { asDomainError, DomainError, fromGrpcError, toGrpcError } from "./errors.js";

describe("the error table", () => {
  it.each([
    ["invalid_argument", status.INVALID_ARGUMENT, 400],
    ["unauthenticated", status.UNAUTHENTICATED, 401],
    ["permission_denied", status.PERMISSION_DENIED, 403],
    ["not_found", status.NOT_FOUND, 404],
    ["already_exists", status.ALREADY_EXISTS, 409],
    ["failed_precondition", status.FAILED_PRECONDITION, 409],
    ["resource_exhausted", status.RESOURCE_EXHAUSTED, 429],
    ["unavailable", status.UNAVAILABLE, 503],
    ["internal", status.INTERNAL, 500],
  ] as const)("%s is gRPC %i and HTTP %i, and survives a gRPC hop", (code, grpc, http) => {
    const err = new DomainError(code, "why");
    expect(err.grpcStatus).toBe(grpc);
    expect(err.httpStatus).toBe(http);
    expect(err.toJSON()).toEqual({ error: { code, message: "why" } });
    expect(fromGrpcError(toGrpcError(err)).code).toBe(code);
  });

  it("carries retry-after across a gRPC hop", () => {
    const err = new DomainError("resource_exhausted", "slow down", { retryAfterSeconds: 7 });
    expect(fromGrpcError(toGrpcError(err)).retryAfterSeconds).toBe(7);
  });

  it("hides the detail of unexpected errors", () => {
    const err = asDomainError(new Error("connection string postgres://secret@db"));
    expect(err.code).toBe("internal");
    expect(err.message).toBe("internal error");
    expect(
      fromGrpcError({ code: status.INTERNAL, details: "stack trace here", metadata: new Metadata() }).message,
    ).toBe("internal error");
  });
});
