import { createHmac } from "node:crypto";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenVerifier } from "./auth-verifier.js";
import { DomainError } from "./errors.js";

type Pair = Awaited<ReturnType<typeof generateKeyPair>> & { kid: string; jwk: JWK };

async function newKey(kid: string): Promise<Pair> {
  const pair = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  return { ...pair, kid, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: "EdDSA", use: "sig" } };
}

const NOW = Date.parse("2030-01-01T00:00:00Z");
const iat = Math.floor(NOW / 1000);

function sign(
  key: Pair,
  overrides: {
    iss?: string;
    aud?: string;
    exp?: number;
    kid?: string;
    claims?: Record<string, unknown>;
  } = {},
) {
  return new SignJWT({ name: "alice", sid: "session-1", ...overrides.claims })
    .setProtectedHeader({ alg: "EdDSA", kid: overrides.kid ?? key.kid, typ: "JWT" })
    .setIssuer(overrides.iss ?? TOKEN_ISSUER)
    .setAudience(overrides.aud ?? TOKEN_AUDIENCE)
    .setSubject("user-1")
    .setJti("jti-1")
    .setIssuedAt(iat)
    .setExpirationTime(overrides.exp ?? iat + 900)
    .sign(key.privateKey);
}

function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part(header)}.${part(payload)}`;
}

const goodPayload = {
  iss: TOKEN_ISSUER,
  aud: TOKEN_AUDIENCE,
  sub: "user-1",
  name: "alice",
  sid: "session-1",
  jti: "jti-1",
  iat,
  exp: iat + 900,
};

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected the token to be refused");
}

describe("TokenVerifier", () => {
  let key: Pair;
  let fetches: number;
  let published: JWK[];
  let now: number;
  const verifier = (options: { minRefetchMs?: number } = {}) =>
    new TokenVerifier({
      fetchKeys: async () => {
        fetches++;
        return published;
      },
      now: () => now,
      ...options,
    });

  beforeAll(async () => {
    key = await newKey("key-1");
  });

  const reset = () => {
    fetches = 0;
    published = [key.jwk];
    now = NOW;
  };

  it("accepts a valid token, returns its principal and caches it", async () => {
    reset();
    const v = verifier();
    const token = await sign(key);
    const principal = await v.verify(token);
    expect(principal).toEqual({
      userId: "user-1",
      username: "alice",
      tokenId: "jti-1",
      sessionId: "session-1",
      expiresAt: iat + 900,
    });
    // A cached token is answered without the keys: even once they are gone.
    published = [];
    await expect(v.verify(token)).resolves.toEqual(principal);
    expect(fetches).toBe(1);
  });

  it("stops answering a cached token from cache once it has expired", async () => {
    reset();
    const v = verifier();
    const token = await sign(key);
    await v.verify(token);
    now = NOW + 901_000;
    expect((await rejection(v.verify(token))).message).toBe("access token expired");
  });

  it.each([
    ["no token", async () => undefined],
    ["garbage", async () => "not.a.jwt"],
    ["alg none", async () => `${unsigned({ alg: "none", typ: "JWT" }, goodPayload)}.`],
    [
      "HS256 keyed with the public key",
      async () => {
        const input = unsigned({ alg: "HS256", kid: "key-1", typ: "JWT" }, goodPayload);
        const mac = createHmac("sha256", String(key.jwk.x)).update(input).digest("base64url");
        return `${input}.${mac}`;
      },
    ],
    [
      "a key nobody published, under a published kid",
      async () => sign({ ...(await newKey("key-1")), kid: "key-1" }),
    ],
    ["the wrong audience", async () => sign(key, { aud: "someone-else" })],
    ["the wrong issuer", async () => sign(key, { iss: "evil" })],
    ["an expired token", async () => sign(key, { exp: iat - 1 })],
    ["a token missing sid", async () => sign(key, { claims: { sid: undefined } })],
    [
      "a tampered payload",
      async () => {
        const [h, , s] = (await sign(key)).split(".");
        return `${h}.${Buffer.from(JSON.stringify({ ...goodPayload, sub: "admin" })).toString("base64url")}.${s}`;
      },
    ],
  ])("refuses %s as unauthenticated", async (_name, make) => {
    reset();
    const err = await rejection(verifier().verify(await make()));
    expect(err.code).toBe("unauthenticated");
  });

  it("refetches the keys for an unknown kid and accepts a key published since", async () => {
    reset();
    const v = verifier();
    await v.verify(await sign(key));
    expect(fetches).toBe(1);
    const rotated = await newKey("key-2");
    published = [key.jwk, rotated.jwk];
    now += 10_000;
    await expect(v.verify(await sign(rotated))).resolves.toMatchObject({ userId: "user-1" });
    expect(fetches).toBe(2);
  });

  it("refuses a kid that is still unknown after the refetch, refetching at most once per interval", async () => {
    reset();
    const v = verifier({ minRefetchMs: 5_000 });
    await v.verify(await sign(key));
    now += 10_000;
    const stranger = await newKey("key-9");
    expect((await rejection(v.verify(await sign(stranger)))).code).toBe("unauthenticated");
    expect(fetches).toBe(2);
    const other = await newKey("key-8");
    expect((await rejection(v.verify(await sign(other)))).code).toBe("unauthenticated");
    expect(fetches).toBe(2);
  });

  it("reports a failed key fetch as unavailable, not as a bad token", async () => {
    reset();
    const v = new TokenVerifier({
      fetchKeys: async () => {
        throw new Error("connection refused");
      },
      now: () => now,
    });
    const err = await rejection(v.verify(await sign(key)));
    expect(err.code).toBe("unavailable");
  });
});
