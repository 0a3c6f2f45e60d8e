import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DomainError } from "../kit/errors.js";
import { decryptForUser, encryptForUser, newDataKey, unwrapKey, wrapKey } from "./envelope.js";

const kek = randomBytes(32);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : "not-a-domain-error";
  }
  return undefined;
}

describe("encryptForUser / decryptForUser", () => {
  it("round-trips for the user who encrypted, in a versioned base64url format", () => {
    const sealed = encryptForUser(kek, "alice", "meet at noon ☀️");
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(decryptForUser(kek, "alice", sealed)).toBe("meet at noon ☀️");
  });

  it("uses a fresh nonce and data key every time", () => {
    expect(encryptForUser(kek, "alice", "same")).not.toBe(encryptForUser(kek, "alice", "same"));
  });

  it("refuses another user with permission_denied, never the plaintext", () => {
    const sealed = encryptForUser(kek, "alice", "secret");
    expect(codeOf(() => decryptForUser(kek, "mallory", sealed))).toBe("permission_denied");
  });

  it("detects tampering with any byte as invalid_argument", () => {
    const sealed = encryptForUser(kek, "alice", "secret text");
    const bytes = Buffer.from(sealed.slice(3), "base64url");
    for (let i = 8; i < bytes.length; i += 7) {
      const tampered = Buffer.from(bytes);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      expect(codeOf(() => decryptForUser(kek, "alice", `v1.${tampered.toString("base64url")}`))).toBe(
        "invalid_argument",
      );
    }
  });

  it("refuses an unknown version, truncation and non-base64url text", () => {
    const sealed = encryptForUser(kek, "alice", "x");
    expect(codeOf(() => decryptForUser(kek, "alice", `v2${sealed.slice(2)}`))).toBe("invalid_argument");
    expect(codeOf(() => decryptForUser(kek, "alice", sealed.slice(0, 40)))).toBe("invalid_argument");
    expect(codeOf(() => decryptForUser(kek, "alice", "v1.not base64!"))).toBe("invalid_argument");
    expect(codeOf(() => decryptForUser(kek, "alice", "garbage"))).toBe("invalid_argument");
  });

  it("does not decrypt under another key-encryption key", () => {
    const sealed = encryptForUser(kek, "alice", "x");
    expect(codeOf(() => decryptForUser(randomBytes(32), "alice", sealed))).toBe("invalid_argument");
  });
});

describe("data keys", () => {
  it("unwrap only for the context they were wrapped for", () => {
    const key = newDataKey();
    const wrapped = wrapKey(kek, key, "d:a:b");
    expect(unwrapKey(kek, wrapped, "d:a:b").equals(key)).toBe(true);
    expect(() => unwrapKey(kek, wrapped, "d:a:c")).toThrow();
  });
});
