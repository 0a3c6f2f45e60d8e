import { DomainError } from "../kit/errors.js";
import { isUniqueViolation, type SqlDatabase, type SqlExecutor } from "../kit/sql/database.js";
import type {
  AuthStore,
  RefreshTokenRecord,
  RefreshTokenState,
  SigningKeyRecord,
  UserRecord,
  UserRef,
} from "./store.js";

// Serialises signing-key rotation across replicas sharing one database (any fixed number).
const ROTATION_LOCK = 7_001_001;

interface UserRow {
  user_id: string;
  username: string;
  password_hash: string;
  created_at: Date;
}

interface RefreshTokenRow {
  token_hash: Uint8Array;
  session_id: string;
  issued_at: Date;
  expires_at: Date;
  spent_at: Date | null;
  revoked_at: Date | null;
  user_id: string;
  username: string;
  created_at: Date;
}

interface SigningKeyRow {
  kid: string;
  public_jwk: string;
  sealed_private_jwk: Uint8Array;
  created_at: Date;
  retired_at: Date | null;
}

/** AuthStore in plain SQL with $n parameters: the same statements run on PGlite and PostgreSQL. */
export class SqlAuthStore implements AuthStore {
  constructor(private readonly db: SqlDatabase) {}

  async insertUser(user: UserRecord): Promise<void> {
    try {
      await this.db.query(
        "INSERT INTO users (user_id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        [user.userId, user.username, user.passwordHash, user.createdAt],
      );
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new DomainError("already_exists", `username "${user.username}" is already taken`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async userByUsername(username: string): Promise<UserRecord | undefined> {
    const [row] = await this.db.query<UserRow>(
      "SELECT user_id, username, password_hash, created_at FROM users WHERE username = $1",
      [username],
    );
    return (
      row && {
        userId: row.user_id,
        username: row.username,
        passwordHash: row.password_hash,
        createdAt: row.created_at,
      }
    );
  }

  async usersByUsernames(usernames: string[]): Promise<UserRef[]> {
    if (usernames.length === 0) return [];
    const rows = await this.db.query<UserRow>(
      "SELECT user_id, username FROM users WHERE username = ANY($1::text[])",
      [usernames],
    );
    return rows.map((row) => ({ userId: row.user_id, username: row.username }));
  }

  async usersByIds(userIds: string[]): Promise<UserRef[]> {
    if (userIds.length === 0) return [];
    const rows = await this.db.query<UserRow>(
      "SELECT user_id, username FROM users WHERE user_id = ANY($1::uuid[])",
      [userIds],
    );
    return rows.map((row) => ({ userId: row.user_id, username: row.username }));
  }

  async insertSession(
    session: { sessionId: string; userId: string; createdAt: Date },
    firstToken: RefreshTokenRecord,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query("INSERT INTO sessions (session_id, user_id, created_at) VALUES ($1, $2, $3)", [
        session.sessionId,
        session.userId,
        session.createdAt,
      ]);
      await insertRefreshToken(tx, firstToken);
    });
  }

  async refreshToken(tokenHash: Buffer): Promise<RefreshTokenState | undefined> {
    const [row] = await this.db.query<RefreshTokenRow>(
      `SELECT t.token_hash, t.session_id, t.issued_at, t.expires_at, t.spent_at, s.revoked_at, u.user_id, u.username, u.created_at
         FROM refresh_tokens t
         JOIN sessions s ON s.session_id = t.session_id
         JOIN users u ON u.user_id = s.user_id
        WHERE t.token_hash = $1`,
      [tokenHash],
    );
    if (!row) return undefined;
    return {
      tokenHash: Buffer.from(row.token_hash),
      sessionId: row.session_id,
      issuedAt: row.issued_at,
      expiresAt: row.expires_at,
      spentAt: row.spent_at ?? undefined,
      sessionRevokedAt: row.revoked_at ?? undefined,
      user: { userId: row.user_id, username: row.username, createdAt: row.created_at },
    };
  }

  spendRefreshToken(tokenHash: Buffer, spentAt: Date, successor: RefreshTokenRecord): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const spent = await tx.query(
        "UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL RETURNING session_id",
        [tokenHash, spentAt],
      );
      if (spent.length === 0) return false;
      await insertRefreshToken(tx, successor);
      return true;
    });
  }

  async revokeSession(sessionId: string, revokedAt: Date): Promise<void> {
    await this.db.query("UPDATE sessions SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL", [
      sessionId,
      revokedAt,
    ]);
  }

  async deleteExpiredRefreshTokens(before: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query("DELETE FROM refresh_tokens WHERE expires_at < $1", [before]);
      await tx.query(
        `DELETE FROM sessions s
          WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.session_id)`,
      );
    });
  }

  async signingKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.query<SigningKeyRow>(
      "SELECT kid, public_jwk, sealed_private_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at",
    );
    return rows.map((row) => ({
      kid: row.kid,
      publicJwk: row.public_jwk,
      sealedPrivateJwk: Buffer.from(row.sealed_private_jwk),
      createdAt: row.created_at,
      retiredAt: row.retired_at ?? undefined,
    }));
  }

  rotateSigningKey(key: SigningKeyRecord, dueBefore: Date): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${ROTATION_LOCK})`);
      const fresh = await tx.query(
        "SELECT kid FROM signing_keys WHERE retired_at IS NULL AND created_at > $1 LIMIT 1",
        [dueBefore],
      );
      if (fresh.length > 0) return false;
      await tx.query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL", [key.createdAt]);
      await tx.query(
        "INSERT INTO signing_keys (kid, public_jwk, sealed_private_jwk, created_at) VALUES ($1, $2, $3, $4)",
        [key.kid, key.publicJwk, key.sealedPrivateJwk, key.createdAt],
      );
      return true;
    });
  }

  async deleteSigningKeysRetiredBefore(before: Date): Promise<void> {
    await this.db.query("DELETE FROM signing_keys WHERE retired_at <= $1", [before]);
  }
}

function insertRefreshToken(tx: SqlExecutor, token: RefreshTokenRecord) {
  return tx.query(
    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
    [token.tokenHash, token.sessionId, token.issuedAt, token.expiresAt],
  );
}
