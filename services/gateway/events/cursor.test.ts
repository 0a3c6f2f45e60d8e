import { describe, expect, it } from "vitest";
import { DomainError } from "../../kit/errors.js";
import { encodeCursor, parseCursor } from "./cursor.js";

const alice = "0190d9c0-0000-7000-8000-0000000001a1";
const bob = "0190d9c0-0000-7000-8000-0000000001b2";

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : "not a DomainError";
  }
  return "no error";
};

describe("stream cursors", () => {
  it("round-trip (user, seq), including 0 and the largest uint64", () => {
    for (const seq of [0n, 1n, 42n, 2n ** 64n - 1n]) {
      const cursor = encodeCursor(alice, seq);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(parseCursor(cursor, alice)).toBe(seq);
    }
  });

  it("are opaque: they do not show the user id or seq in clear", () => {
    const cursor = encodeCursor(alice, 12345n);
    expect(cursor).not.toContain(alice);
    expect(cursor).not.toContain("12345");
  });

  it("refuse another user's cursor as permission_denied", () => {
    expect(codeOf(() => parseCursor(encodeCursor(bob, 5n), alice))).toBe("permission_denied");
  });

  it("refuse malformed cursors as invalid_argument", () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64url");
    for (const bad of [
      "",
      "not a cursor!",
      "x".repeat(500),
      b64(`2:${alice}:5`),
      b64(`1:${alice}:-5`),
      b64(`1:${alice}:05`),
      b64(`1:${alice}:5:extra`),
      b64(`1:${alice}:${2n ** 64n}`),
      b64(`1::5`),
      b64(`1:${alice}:`),
      b64("garbage"),
    ]) {
      expect(
        codeOf(() => parseCursor(bad, alice)),
        bad,
      ).toBe("invalid_argument");
    }
  });
});
