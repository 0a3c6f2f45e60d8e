import { DomainError, invalidArgument, unauthenticated } from "../kit/errors.js";
import { newTimeOrderedId } from "../kit/ids.js";
import type { RateLimiter } from "../kit/limiter/limiter.js";
import { foldUsername, isValidUsername, PASSWORD_MAX, passwordLength } from "./accounts.js";
import { verifyPassword } from "./passwords.js";
import type { SigningKeys } from "./signing-keys.js";
import type { AuthStore, UserRef } from "./store.js";
import { hashRefreshToken, isWellFormedRefreshToken, newRefreshToken, signAccessToken } from "./tokens.js";

export interface SessionsOptions {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Login attempts, counted before the password is checked. */
  loginLimits: { perUsername: RateLimiter; perAddress: RateLimiter };
  now?: () => number;
}

export interface IssuedTokens {
  accessToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
}

export interface SignedIn {
  tokens: IssuedTokens;
  user: UserRef & { createdAt: Date };
}

// One message for an unknown user and a wrong password, so neither reveals which usernames exist.
const invalidCredentials = () => unauthenticated("invalid username or password");
const invalidRefreshToken = () => unauthenticated("refresh token is not valid");

/** A session is one login; its refresh tokens form a family that is rotated on every use. */
export class Sessions {
  private readonly now: () => number;

  constructor(
    private readonly store: AuthStore,
    private readonly keys: SigningKeys,
    private readonly options: SessionsOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async login(rawUsername: string, password: string, clientAddress: string | undefined): Promise<SignedIn> {
    if (rawUsername.length === 0 || password.length === 0) {
      throw invalidArgument("username and password are required");
    }
    // Longer can never have been registered; refusing it keeps hashing cost bounded.
    if (passwordLength(password) > PASSWORD_MAX) throw invalidCredentials();
    const username = foldUsername(rawUsername).slice(0, 64);
    await this.checkLoginRate(username, clientAddress ?? "unknown");
    const user = isValidUsername(username) ? await this.store.userByUsername(username) : undefined;
    const matches = await verifyPassword(user?.passwordHash, password);
    if (!user || !matches) throw invalidCredentials();
    const now = this.now();
    const sessionId = newTimeOrderedId();
    const refresh = newRefreshToken();
    await this.store.insertSession(
      { sessionId, userId: user.userId, createdAt: new Date(now) },
      {
        tokenHash: refresh.hash,
        sessionId,
        issuedAt: new Date(now),
        expiresAt: new Date(now + this.options.refreshTokenTtlSeconds * 1000),
      },
    );
    return {
      tokens: await this.issue(user, sessionId, refresh.token, now),
      user: { userId: user.userId, username: user.username, createdAt: user.createdAt },
    };
  }

  /** Spends `refreshToken` for a new pair. A token spent before revokes its whole family. */
  async refresh(refreshToken: string): Promise<SignedIn> {
    if (!isWellFormedRefreshToken(refreshToken)) throw invalidRefreshToken();
    const hash = hashRefreshToken(refreshToken);
    const state = await this.store.refreshToken(hash);
    if (!state) throw invalidRefreshToken();
    const now = this.now();
    if (state.spentAt !== undefined) return this.revokeReused(state.sessionId, now);
    if (state.sessionRevokedAt !== undefined) throw unauthenticated("the session has ended; log in again");
    if (state.expiresAt.getTime() <= now) throw unauthenticated("refresh token expired; log in again");
    const successor = newRefreshToken();
    const won = await this.store.spendRefreshToken(hash, new Date(now), {
      tokenHash: successor.hash,
      sessionId: state.sessionId,
      issuedAt: new Date(now),
      expiresAt: new Date(now + this.options.refreshTokenTtlSeconds * 1000),
    });
    // Someone spent it between our read and our write: the same token used twice.
    if (!won) return this.revokeReused(state.sessionId, now);
    return {
      tokens: await this.issue(state.user, state.sessionId, successor.token, now),
      user: state.user,
    };
  }

  /** Ends the session of `refreshToken`. Always succeeds, so it tells nothing about the token. */
  async logout(refreshToken: string): Promise<void> {
    if (!isWellFormedRefreshToken(refreshToken)) return;
    const state = await this.store.refreshToken(hashRefreshToken(refreshToken));
    if (state) await this.store.revokeSession(state.sessionId, new Date(this.now()));
  }

  /** Forgets refresh tokens (and sessions) that can no longer be used. */
  pruneExpired(): Promise<void> {
    return this.store.deleteExpiredRefreshTokens(new Date(this.now()));
  }

  private async revokeReused(sessionId: string, now: number): Promise<never> {
    await this.store.revokeSession(sessionId, new Date(now));
    throw unauthenticated("refresh token was already used; the session has been revoked");
  }

  private async checkLoginRate(username: string, clientAddress: string): Promise<void> {
    const { perUsername, perAddress } = this.options.loginLimits;
    const verdicts = await Promise.all([perUsername.hit(username), perAddress.hit(clientAddress)]);
    const refused = verdicts.filter((v) => !v.allowed);
    if (refused.length === 0) return;
    throw new DomainError("resource_exhausted", "too many login attempts; try again later", {
      retryAfterSeconds: Math.max(...refused.map((v) => v.retryAfterSeconds)),
    });
  }

  private async issue(
    user: UserRef,
    sessionId: string,
    refreshToken: string,
    now: number,
  ): Promise<IssuedTokens> {
    const accessToken = await signAccessToken(
      this.keys.signer(),
      { userId: user.userId, username: user.username, sessionId },
      now,
      this.options.accessTokenTtlSeconds,
    );
    return {
      accessToken,
      tokenType: "Bearer",
      expiresIn: this.options.accessTokenTtlSeconds,
      refreshToken,
      refreshExpiresIn: this.options.refreshTokenTtlSeconds,
    };
  }
}
