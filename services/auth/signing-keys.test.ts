import { randomBytes } from "node:crypto";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenVerifier } from "../kit/auth-verifier.js";
import { SigningKeys } from "./signing-keys.js";
import { AUTH_BACKENDS, type TestStore } from "./store.fixture.js";
import { signAccessToken } from "./tokens.js";

const HOUR = 3_600_000;
const ROTATION_S = 24 * 3600;
const TTL_S = 900;
const RELOAD_S = 60;
const claims = { userId: "u1", username: "alice", sessionId: "s1" };

describe.each(AUTH_BACKENDS)("signing keys ($backend)", ({ openStore }) => {
  let fixture: TestStore;
  let now = Date.parse("2030-01-01T00:00:00Z");
  const clock = () => now;
  const secret = randomBytes(32);
  let keys: SigningKeys;
  const verifierAt = () =>
    new TokenVerifier({ fetchKeys: () => keys.published(), now: clock, minRefetchMs: 0 });

  beforeAll(async () => {
    fixture = await openStore();
    keys = new SigningKeys(fixture.store, secret, {
      rotationSeconds: ROTATION_S,
      accessTokenTtlSeconds: TTL_S,
      reloadSeconds: RELOAD_S,
      now: clock,
    });
    await keys.maintain();
  });
  afterAll(() => fixture?.close());

  it("creates one Ed25519 key at start and publishes only its public half", async () => {
    const published = await keys.published();
    expect(published).toHaveLength(1);
    const [jwk] = published;
    expect(jwk).toEqual({
      kid: keys.signer().kid,
      kty: "OKP",
      crv: "Ed25519",
      x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      alg: "EdDSA",
      use: "sig",
    });
    expect(Object.keys(jwk ?? {})).not.toContain("d");
  });

  it("stores the private key encrypted, never in the clear", async () => {
    const [record] = await fixture.store.signingKeys();
    const sealed = record?.sealedPrivateJwk.toString("latin1") ?? "";
    expect(sealed).not.toContain('"d"');
    expect(sealed).not.toContain("OKP");
  });

  it("does not rotate before the rotation interval", async () => {
    const before = keys.signer().kid;
    now += 23 * HOUR;
    await keys.maintain();
    expect(keys.signer().kid).toBe(before);
    expect(await keys.published()).toHaveLength(1);
  });

  it("rotates on schedule, keeps the old key published until its tokens expire, then drops it", async () => {
    const oldKey = keys.signer();
    const oldToken = await signAccessToken(oldKey, claims, now, TTL_S);

    now += 1 * HOUR; // 24 h after the first key
    await keys.maintain();
    const newKey = keys.signer();
    expect(newKey.kid).not.toBe(oldKey.kid);
    expect(decodeProtectedHeader(await signAccessToken(newKey, claims, now, TTL_S))).toEqual({
      alg: "EdDSA",
      kid: newKey.kid,
      typ: "JWT",
    });
    expect((await keys.published()).map((k) => k.kid).sort()).toEqual([oldKey.kid, newKey.kid].sort());

    // A token the old key signed just before retirement still verifies while the key is published.
    const lastOldToken = await signAccessToken(oldKey, claims, now, TTL_S);
    now += (TTL_S - 1) * 1000;
    await keys.maintain();
    expect((await keys.published()).map((k) => k.kid)).toContain(oldKey.kid);
    await expect(verifierAt().verify(lastOldToken)).resolves.toMatchObject({ userId: "u1" });
    await expect(verifierAt().verify(oldToken)).rejects.toMatchObject({ code: "unauthenticated" });

    // Past its tokens' lifetime (plus one reload interval for other replicas) it is gone.
    now += (1 + RELOAD_S) * 1000;
    await keys.maintain();
    expect((await keys.published()).map((k) => k.kid)).toEqual([newKey.kid]);
    expect((await fixture.store.signingKeys()).map((k) => k.kid)).toEqual([newKey.kid]);
    const freshToken = await signAccessToken(keys.signer(), claims, now, TTL_S);
    await expect(verifierAt().verify(freshToken)).resolves.toMatchObject({ username: "alice" });
  });

  it("a second instance on the same store signs with the same current key", async () => {
    const other = new SigningKeys(fixture.store, secret, {
      rotationSeconds: ROTATION_S,
      accessTokenTtlSeconds: TTL_S,
      now: clock,
    });
    await other.maintain();
    expect(other.signer().kid).toBe(keys.signer().kid);
  });

  it("refuses to start with a different secret rather than sign with a key it cannot read", async () => {
    const wrong = new SigningKeys(fixture.store, randomBytes(32), {
      rotationSeconds: ROTATION_S,
      accessTokenTtlSeconds: TTL_S,
      now: clock,
    });
    await expect(wrong.maintain()).rejects.toThrowError(/PARLEY_AUTH_SIGNING_KEY_SECRET/);
  });
});
