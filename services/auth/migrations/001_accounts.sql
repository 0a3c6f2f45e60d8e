-- Usernames are stored case-folded, so this constraint is what makes them unique.
CREATE TABLE users (
  user_id uuid PRIMARY KEY,
  username text NOT NULL,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  CONSTRAINT users_username_key UNIQUE (username)
);

-- One session per login; every refresh token of a session belongs to its family.
CREATE TABLE sessions (
  session_id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Only the SHA-256 of a refresh token is stored.
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
  issued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  spent_at timestamptz
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- The private half is AES-256-GCM sealed (nonce || ciphertext || tag) with the signing secret.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  public_jwk text NOT NULL,
  sealed_private_jwk bytea NOT NULL,
  created_at timestamptz NOT NULL,
  retired_at timestamptz
);
