/** A user as stored; the password hash never leaves the auth service. */
export interface UserRecord {
  userId: string;
  username: string;
  passwordHash: string;
  createdAt: Date;
}

export interface UserRef {
  userId: string;
  username: string;
}

export interface SessionRecord {
  sessionId: string;
  userId: string;
  createdAt: Date;
}

export interface RefreshTokenRecord {
  tokenHash: Buffer;
  sessionId: string;
  issuedAt: Date;
  expiresAt: Date;
}

/** A stored refresh token with what deciding on it needs: its state, its session's, its user. */
export interface RefreshTokenState extends RefreshTokenRecord {
  spentAt: Date | undefined;
  sessionRevokedAt: Date | undefined;
  user: UserRef & { createdAt: Date };
}

export interface SigningKeyRecord {
  kid: string;
  /** The public JWK as JSON. */
  publicJwk: string;
  sealedPrivateJwk: Buffer;
  createdAt: Date;
  retiredAt: Date | undefined;
}

/** The auth service's storage role: SQL now (PGlite or PostgreSQL), one implementation per backend. */
export interface AuthStore {
  /** Rejects with DomainError already_exists when the username is taken, however close the race. */
  insertUser(user: UserRecord): Promise<void>;
  userByUsername(username: string): Promise<UserRecord | undefined>;
  usersByUsernames(usernames: string[]): Promise<UserRef[]>;
  usersByIds(userIds: string[]): Promise<UserRef[]>;

  /** Starts a session with its first refresh token, atomically. */
  insertSession(session: SessionRecord, firstToken: RefreshTokenRecord): Promise<void>;
  refreshToken(tokenHash: Buffer): Promise<RefreshTokenState | undefined>;
  /**
   * Marks the token spent and stores its successor in one transaction. Returns false (and
   * stores nothing) when the token was already spent, so of two concurrent spends one wins.
   */
  spendRefreshToken(tokenHash: Buffer, spentAt: Date, successor: RefreshTokenRecord): Promise<boolean>;
  revokeSession(sessionId: string, revokedAt: Date): Promise<void>;
  /** Forgets refresh tokens that expired before `before`, and sessions left with none. */
  deleteExpiredRefreshTokens(before: Date): Promise<void>;

  signingKeys(): Promise<SigningKeyRecord[]>;
  /**
   * Retires the active key(s) and adds `key`, unless an active key created after `dueBefore`
   * exists (another replica rotated first). Returns whether `key` was added.
   */
  rotateSigningKey(key: SigningKeyRecord, dueBefore: Date): Promise<boolean>;
  /** Deletes keys retired at or before `before`. */
  deleteSigningKeysRetiredBefore(before: Date): Promise<void>;
}
