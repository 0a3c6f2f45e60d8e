import { createHash, randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from "../kit/auth-verifier.js";
import type { SigningKey } from "./signing-keys.js";

export interface AccessClaims {
  userId: string;
  username: string;
  sessionId: string;
}

/** An EdDSA JWT with the claims kit/auth-verifier.ts requires: sub, name, sid, jti, iat, exp. */
export function signAccessToken(
  key: SigningKey,
  claims: AccessClaims,
  issuedAtMs: number,
  ttlSeconds: number,
): Promise<string> {
  const iat = Math.floor(issuedAtMs / 1000);
  return new SignJWT({ name: claims.username, sid: claims.sessionId })
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "JWT" })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(claims.userId)
    .setJti(randomBytes(16).toString("base64url"))
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key.privateKey);
}

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** An opaque refresh token: 32 random bytes, base64url. Only its hash is ever stored. */
export function newRefreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** Whether `token` could be one of ours; anything else is unknown without a database lookup. */
export function isWellFormedRefreshToken(token: string): boolean {
  return REFRESH_TOKEN.test(token);
}
