import { randomBytes } from "node:crypto";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TokenVerifier } from "../kit/auth-verifier.js";
import { DomainError } from "../kit/errors.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { Accounts } from "./accounts.js";
import { Sessions, type SessionsOptions } from "./sessions.js";
import { SigningKeys } from "./signing-keys.js";
import { AUTH_BACKENDS, type TestStore } from "./store.fixture.js";
import { hashRefreshToken as hashOf } from "./tokens.js";

const ACCESS_TTL = 900;
const REFRESH_TTL = 30 * 24 * 3600;
const PASSWORD = "correct horse battery";

async function failure(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

describe.each(AUTH_BACKENDS)("sessions ($backend)", ({ backend, openStore }) => {
  let fixture: TestStore;
  let now = Date.parse("2030-01-01T00:00:00Z");
  const clock = () => now;
  let keys: SigningKeys;
  let sessions: Sessions;
  let userId: string;
  const verifier = () => new TokenVerifier({ fetchKeys: () => keys.published(), now: clock });
  const sessionsWith = (limits: { perUsername: number; perAddress: number }) => {
    const options: SessionsOptions = {
      accessTokenTtlSeconds: ACCESS_TTL,
      refreshTokenTtlSeconds: REFRESH_TTL,
      loginLimits: {
        perUsername: new MemoryRateLimiter({ limit: limits.perUsername, windowSeconds: 60 }, clock),
        perAddress: new MemoryRateLimiter({ limit: limits.perAddress, windowSeconds: 60 }, clock),
      },
      now: clock,
    };
    return new Sessions(fixture.store, keys, options);
  };

  beforeAll(async () => {
    fixture = await openStore();
    keys = new SigningKeys(fixture.store, randomBytes(32), {
      rotationSeconds: 86_400,
      accessTokenTtlSeconds: ACCESS_TTL,
      now: clock,
    });
    await keys.maintain();
    const accounts = new Accounts(fixture.store, clock);
    userId = (await accounts.register("alice", PASSWORD)).userId;
  });
  beforeEach(() => {
    sessions = sessionsWith({ perUsername: 100, perAddress: 100 });
  });
  afterAll(() => fixture?.close());

  describe("login", () => {
    it("returns a Bearer access token that verifies, a refresh token and the user", async () => {
      const { tokens, user } = await sessions.login("Alice", PASSWORD, "10.0.0.1");
      expect(user).toEqual({ userId, username: "alice", createdAt: new Date(now) });
      expect(tokens).toMatchObject({
        tokenType: "Bearer",
        expiresIn: ACCESS_TTL,
        refreshExpiresIn: REFRESH_TTL,
      });
      expect(tokens.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(decodeProtectedHeader(tokens.accessToken)).toEqual({
        alg: "EdDSA",
        kid: keys.signer().kid,
        typ: "JWT",
      });
      const claims = decodeJwt(tokens.accessToken);
      expect(claims).toMatchObject({ iss: "parley", aud: "parley", sub: userId, name: "alice" });
      expect(claims.exp).toBe(Math.floor(now / 1000) + ACCESS_TTL);
      expect(claims.iat).toBe(Math.floor(now / 1000));
      const principal = await verifier().verify(tokens.accessToken);
      expect(principal).toMatchObject({
        userId,
        username: "alice",
        sessionId: claims.sid,
        tokenId: claims.jti,
      });
    });

    it("gives each login its own session and token id", async () => {
      const a = decodeJwt((await sessions.login("alice", PASSWORD, undefined)).tokens.accessToken);
      const b = decodeJwt((await sessions.login("alice", PASSWORD, undefined)).tokens.accessToken);
      expect(a.sid).not.toBe(b.sid);
      expect(a.jti).not.toBe(b.jti);
    });

    it("fails an unknown user exactly as it fails a wrong password", async () => {
      const wrong = await failure(sessions.login("alice", "wrong password", "10.0.0.1"));
      const unknown = await failure(sessions.login("nobody", PASSWORD, "10.0.0.1"));
      const malformed = await failure(sessions.login("no such user!", PASSWORD, "10.0.0.1"));
      for (const err of [wrong, unknown, malformed]) {
        expect(err.toJSON()).toEqual({
          error: { code: "unauthenticated", message: "invalid username or password" },
        });
      }
    });

    // A property of password hashing, not of the store: timed once, so a loaded machine has one
    // chance to disturb it rather than one per backend.
    if (backend === "PGlite") {
      it("spends password-verification time on unknown users too", async () => {
        // Both paths run one argon2id verification (~20-40 ms); a missing one would be ~0 ms.
        const time = async (username: string) => {
          const started = performance.now();
          await failure(sessions.login(username, "wrong password", "10.0.0.1"));
          return performance.now() - started;
        };
        await time("alice");
        const known = Math.min(await time("alice"), await time("alice"));
        const unknown = Math.min(await time("nobody"), await time("nobody"));
        expect(unknown).toBeGreaterThan(known / 3);
      });
    }

    it("asks for both fields", async () => {
      expect((await failure(sessions.login("", PASSWORD, undefined))).code).toBe("invalid_argument");
      expect((await failure(sessions.login("alice", "", undefined))).code).toBe("invalid_argument");
    });
  });

  describe("login rate limits", () => {
    it("refuses a username over its limit before checking the password, with retry-after", async () => {
      sessions = sessionsWith({ perUsername: 3, perAddress: 100 });
      for (let i = 0; i < 3; i++) await failure(sessions.login("alice", "wrong password", `10.0.1.${i}`));
      const refused = await failure(sessions.login("alice", PASSWORD, "10.0.1.9"));
      expect(refused.code).toBe("resource_exhausted");
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
      // Case does not make a new bucket; another username is not affected.
      expect((await failure(sessions.login("ALICE", PASSWORD, "10.0.1.9"))).code).toBe("resource_exhausted");
      expect((await failure(sessions.login("bob", PASSWORD, "10.0.1.9"))).code).toBe("unauthenticated");
      // Once the window has passed, the right password works again.
      now += 60_000;
      await expect(sessions.login("alice", PASSWORD, "10.0.1.9")).resolves.toBeDefined();
    });

    it("refuses an address over its limit whatever usernames it tries", async () => {
      sessions = sessionsWith({ perUsername: 100, perAddress: 2 });
      await failure(sessions.login("u1", PASSWORD, "10.0.2.1"));
      await failure(sessions.login("u2", PASSWORD, "10.0.2.1"));
      const refused = await failure(sessions.login("alice", PASSWORD, "10.0.2.1"));
      expect(refused.code).toBe("resource_exhausted");
      expect(refused.retryAfterSeconds).toBeGreaterThan(0);
      await expect(sessions.login("alice", PASSWORD, "10.0.2.2")).resolves.toBeDefined();
    });

    it("counts callers without an address together, as 'unknown'", async () => {
      sessions = sessionsWith({ perUsername: 100, perAddress: 1 });
      await sessions.login("alice", PASSWORD, undefined);
      expect((await failure(sessions.login("alice", PASSWORD, undefined))).code).toBe("resource_exhausted");
    });
  });

  describe("refresh", () => {
    it("spends the token and issues a new pair in the same session", async () => {
      const first = await sessions.login("alice", PASSWORD, undefined);
      now += 60_000;
      const second = await sessions.refresh(first.tokens.refreshToken);
      expect(second.tokens.refreshToken).not.toBe(first.tokens.refreshToken);
      expect(second.user).toMatchObject({ userId, username: "alice" });
      const before = decodeJwt(first.tokens.accessToken);
      const after = decodeJwt(second.tokens.accessToken);
      expect(after.sid).toBe(before.sid);
      expect(after.jti).not.toBe(before.jti);
      expect(after.exp).toBe(Math.floor(now / 1000) + ACCESS_TTL);
      await expect(verifier().verify(second.tokens.accessToken)).resolves.toMatchObject({ userId });
      // And the new refresh token works in turn.
      await expect(sessions.refresh(second.tokens.refreshToken)).resolves.toBeDefined();
    });

    it("revokes the whole family when a spent token is presented again", async () => {
      const login = await sessions.login("alice", PASSWORD, undefined);
      const next = await sessions.refresh(login.tokens.refreshToken);
      const reuse = await failure(sessions.refresh(login.tokens.refreshToken));
      expect(reuse.code).toBe("unauthenticated");
      // The newer token, never used, stops working too.
      expect((await failure(sessions.refresh(next.tokens.refreshToken))).code).toBe("unauthenticated");
      // Other sessions of the same user are untouched.
      const other = await sessions.login("alice", PASSWORD, undefined);
      await expect(sessions.refresh(other.tokens.refreshToken)).resolves.toBeDefined();
    });

    it("lets only one of several concurrent uses of one token win, and then revokes the family", async () => {
      const login = await sessions.login("alice", PASSWORD, undefined);
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => sessions.refresh(login.tokens.refreshToken)),
      );
      const winners = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const losers = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      expect(winners).toHaveLength(1);
      expect(losers).toEqual(Array(4).fill(expect.objectContaining({ code: "unauthenticated" })));
      // The losers' attempts were reuses, so the winner's new token is revoked with its family.
      const winnerToken = winners[0]?.tokens.refreshToken ?? "";
      expect((await failure(sessions.refresh(winnerToken))).code).toBe("unauthenticated");
    });

    it("spends a token once in the store however many spends race, keeping one successor", async () => {
      const login = await sessions.login("alice", PASSWORD, undefined);
      const hash = hashOf(login.tokens.refreshToken);
      const sessionId = (await fixture.store.refreshToken(hash))?.sessionId ?? "";
      const spends = await Promise.all(
        Array.from({ length: 10 }, () =>
          fixture.store.spendRefreshToken(hash, new Date(now), {
            tokenHash: randomBytes(32),
            sessionId,
            issuedAt: new Date(now),
            expiresAt: new Date(now + 60_000),
          }),
        ),
      );
      expect(spends.filter(Boolean)).toHaveLength(1);
      const tokens = await fixture.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1",
        [sessionId],
      );
      expect(tokens).toEqual([{ n: 2 }]);
    });

    it("refuses unknown, malformed and expired tokens", async () => {
      const unknown = randomBytes(32).toString("base64url");
      expect((await failure(sessions.refresh(unknown))).code).toBe("unauthenticated");
      expect((await failure(sessions.refresh("not a token"))).code).toBe("unauthenticated");
      expect((await failure(sessions.refresh(""))).code).toBe("unauthenticated");
      const login = await sessions.login("alice", PASSWORD, undefined);
      now += REFRESH_TTL * 1000;
      const expired = await failure(sessions.refresh(login.tokens.refreshToken));
      expect(expired.toJSON().error).toEqual({
        code: "unauthenticated",
        message: "refresh token expired; log in again",
      });
    });

    it("forgets expired tokens when pruned", async () => {
      const login = await sessions.login("alice", PASSWORD, undefined);
      now += REFRESH_TTL * 1000 + 1;
      await sessions.pruneExpired();
      expect(await fixture.store.refreshToken(hashOf(login.tokens.refreshToken))).toBeUndefined();
    });
  });

  describe("logout", () => {
    it("ends the session: its refresh token stops working", async () => {
      const login = await sessions.login("alice", PASSWORD, undefined);
      const next = await sessions.refresh(login.tokens.refreshToken);
      await sessions.logout(next.tokens.refreshToken);
      expect((await failure(sessions.refresh(next.tokens.refreshToken))).code).toBe("unauthenticated");
    });

    it("answers OK for unknown, malformed, spent and already logged-out tokens", async () => {
      await expect(sessions.logout(randomBytes(32).toString("base64url"))).resolves.toBeUndefined();
      await expect(sessions.logout("garbage")).resolves.toBeUndefined();
      const login = await sessions.login("alice", PASSWORD, undefined);
      await sessions.logout(login.tokens.refreshToken);
      await expect(sessions.logout(login.tokens.refreshToken)).resolves.toBeUndefined();
    });
  });
});
