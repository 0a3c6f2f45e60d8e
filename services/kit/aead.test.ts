import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { KEY_BYTES, open, seal } from "./aead.js";

describe("AES-256-GCM seal and open", () => {
  const aad = Buffer.from("conversation:c1");

  it("opens what it sealed, with the same key used again and again or an equal copy of it", () => {
    const key = randomBytes(KEY_BYTES);
    for (const text of ["first", "second", ""]) {
      const { nonce, sealed } = seal(key, Buffer.from(text), aad);
      expect(open(key, nonce, sealed, aad).toString()).toBe(text);
      expect(open(Buffer.from(key), nonce, sealed, aad).toString()).toBe(text);
    }
  });

  it("refuses another key, other AAD and tampered bytes, after the right key was used", () => {
    const key = randomBytes(KEY_BYTES);
    const { nonce, sealed } = seal(key, Buffer.from("secret"), aad);
    expect(open(key, nonce, sealed, aad).toString()).toBe("secret");
    expect(() => open(randomBytes(KEY_BYTES), nonce, sealed, aad)).toThrow();
    expect(() => open(key, nonce, sealed, Buffer.from("conversation:c2"))).toThrow();
    const tampered = Buffer.from(sealed);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    expect(() => open(key, nonce, tampered, aad)).toThrow();
  });

  it("never repeats a nonce, across many refills of its pool", () => {
    const key = randomBytes(KEY_BYTES);
    const nonces = new Set<string>();
    const count = 5_000; // 60,000 bytes of nonces: the 4 KiB pool refills ~15 times
    for (let i = 0; i < count; i++) {
      const { nonce, sealed } = seal(key, Buffer.from(`message ${i}`), aad);
      expect(nonce).toHaveLength(12);
      nonces.add(nonce.toString("hex"));
      if (i % 997 === 0) expect(open(key, nonce, sealed, aad).toString()).toBe(`message ${i}`);
    }
    expect(nonces.size).toBe(count);
  });

  it("refuses a key of the wrong length", () => {
    expect(() => seal(randomBytes(16), Buffer.from("x"), aad)).toThrow(/key length/i);
  });
});
