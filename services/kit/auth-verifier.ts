import { createHash } from "node:crypto";
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK, jwtVerify } from "jose";
import { DomainError, unauthenticated } from "./errors.js";
import { jwksFetches } from "./metrics.js";

export const TOKEN_ISSUER = "parley";
export const TOKEN_AUDIENCE = "parley";

/** Who a verified access token says the caller is. */
export interface Principal {
  userId: string;
  username: string;
  tokenId: string;
  /** Device session the token belongs to (one per login). */
  sessionId: string;
  expiresAt: number;
}

export interface TokenVerifierOptions {
  /** Fetches the current public keys (from the auth service). */
  fetchKeys: () => Promise<JWK[]>;
  /** Unknown `kid`s refetch the keys at most this often. */
  minRefetchMs?: number;
  now?: () => number;
  maxCachedTokens?: number;
}

/**
 * Verifies EdDSA access tokens locally from the auth service's JWKS. Verified tokens are
 * cached by hash until they expire, because verifying the same token on every hop costs
 * ~0.2 ms each (DESIGN.md §10).
 */
export class TokenVerifier {
  private keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  private lastFetch = 0;
  private fetching: Promise<void> | undefined;
  private readonly cache = new Map<string, Principal>();
  private readonly options: Required<TokenVerifierOptions>;

  constructor(options: TokenVerifierOptions) {
    this.options = { minRefetchMs: 5_000, now: Date.now, maxCachedTokens: 100_000, ...options };
  }

  async verify(token: string | undefined): Promise<Principal> {
    if (!token) throw unauthenticated();
    const cacheKey = createHash("sha256").update(token).digest("base64url");
    const cached = this.cache.get(cacheKey);
    if (cached) {
      if (cached.expiresAt * 1000 > this.options.now()) return cached;
      this.cache.delete(cacheKey);
    }
    const principal = await this.verifyUncached(token);
    if (this.cache.size >= this.options.maxCachedTokens) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(cacheKey, principal);
    return principal;
  }

  private async verifyUncached(token: string, refetched = false): Promise<Principal> {
    if (!this.keySet) await this.refreshKeys(true);
    try {
      const { payload } = await jwtVerify(token, this.keySet as ReturnType<typeof createLocalJWKSet>, {
        algorithms: ["EdDSA", "Ed25519"],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        currentDate: new Date(this.options.now()),
        requiredClaims: ["sub", "exp", "iat", "jti"],
      });
      if (
        typeof payload.sub !== "string" ||
        typeof payload.name !== "string" ||
        typeof payload.sid !== "string"
      ) {
        throw unauthenticated("access token is missing claims");
      }
      return {
        userId: payload.sub,
        username: payload.name,
        tokenId: payload.jti as string,
        sessionId: payload.sid,
        expiresAt: payload.exp as number,
      };
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (err instanceof errors.JWKSNoMatchingKey && !refetched && (await this.refreshKeys(false))) {
        return this.verifyUncached(token, true);
      }
      if (err instanceof errors.JWTExpired) throw unauthenticated("access token expired");
      throw unauthenticated("access token is not valid");
    }
  }

  /** Returns whether new keys were fetched. A failed fetch is `unavailable`, not a bad token. */
  private async refreshKeys(force: boolean): Promise<boolean> {
    if (!force && this.options.now() - this.lastFetch < this.options.minRefetchMs) return false;
    this.fetching ??= (async () => {
      try {
        const keys = await this.options.fetchKeys();
        this.keySet = createLocalJWKSet({ keys } as JSONWebKeySet);
        this.lastFetch = this.options.now();
        jwksFetches.inc({ result: "ok" });
      } catch (err) {
        jwksFetches.inc({ result: "error" });
        throw new DomainError("unavailable", "cannot fetch signing keys", { cause: err });
      } finally {
        this.fetching = undefined;
      }
    })();
    await this.fetching;
    return true;
  }
}

/** The bearer token of an Authorization header value, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1];
}
