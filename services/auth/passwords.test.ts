import { parseOptions } from "@node-rs/argon2";
import { describe, expect, it } from "vitest";
import { DUMMY_HASH, hashPassword, PASSWORD_HASH_OPTIONS, verifyPassword } from "./passwords.js";

describe("passwords", () => {
  it("hashes with argon2id and OWASP parameters, salted", async () => {
    const first = await hashPassword("correct horse battery");
    const second = await hashPassword("correct horse battery");
    expect(first).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(first).not.toBe(second);
  });

  it("verifies the right password and rejects a wrong one", async () => {
    const stored = await hashPassword("correct horse battery");
    expect(await verifyPassword(stored, "correct horse battery")).toBe(true);
    expect(await verifyPassword(stored, "correct horse batterY")).toBe(false);
  });

  it("rejects every password of an unknown user, even one that would match the dummy", async () => {
    expect(await verifyPassword(undefined, "anything at all")).toBe(false);
  });

  it("keeps the dummy hash as expensive as a real one", () => {
    const dummy = parseOptions(DUMMY_HASH);
    expect(dummy.algorithm).toBe(PASSWORD_HASH_OPTIONS.algorithm);
    expect(dummy.memoryCost).toBe(PASSWORD_HASH_OPTIONS.memoryCost);
    expect(dummy.timeCost).toBe(PASSWORD_HASH_OPTIONS.timeCost);
    expect(dummy.parallelism).toBe(PASSWORD_HASH_OPTIONS.parallelism);
  });

  it("treats a corrupt stored hash as a mismatch, not a crash", async () => {
    expect(await verifyPassword("not a hash", "whatever1")).toBe(false);
  });
});
