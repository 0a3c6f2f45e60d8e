import { KafkaJSConnectionError } from "kafkajs";
import { describe, expect, it } from "vitest";
import { asServiceError } from "./dependencies.js";
import { DomainError, notFound } from "./errors.js";

describe("what a handler's failure means to its caller", () => {
  it("keeps a domain error as it is", () => {
    const err = notFound("no such group");
    expect(asServiceError(err)).toBe(err);
  });

  it("makes a real server's failure, even wrapped, unavailable and names the server", () => {
    const wrapped = new Error("append failed", { cause: new KafkaJSConnectionError("Connection error") });
    const err = asServiceError(wrapped);
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe("unavailable");
    expect(err.message).toBe("kafka is unavailable");
  });

  it("makes anything else internal, with no detail for the caller", () => {
    const err = asServiceError(new TypeError("x is undefined"));
    expect(err.code).toBe("internal");
    expect(err.message).toBe("internal error");
  });
});
