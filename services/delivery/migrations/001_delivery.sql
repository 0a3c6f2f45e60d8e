-- Delivery's own database: per-user inboxes over durable events, read markers, settings, and the
-- 1:1 contacts that make up presence audiences. The same file runs on PGlite and PostgreSQL.

-- Each durable event once (a sealed MessageRecord, a ReceiptRecord or a GroupEvent, as the log
-- carried it): a group message fanned out to 1,000 members is stored once, not 1,000 times.
CREATE TABLE delivery_events (
  event_key text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('message', 'receipt', 'group')),
  payload bytea NOT NULL,
  appended_at timestamptz NOT NULL,
  stored_at timestamptz NOT NULL
);
CREATE INDEX delivery_events_by_age ON delivery_events (stored_at);

-- One row per user: the last seq allocated and the oldest still retained. Locked FOR UPDATE (in
-- user-id order) by the transaction that appends to the user's inbox, which keeps seqs gapless.
CREATE TABLE inbox_heads (
  user_id text PRIMARY KEY,
  head_seq bigint NOT NULL,
  oldest_seq bigint NOT NULL
);

-- The inbox: (user, seq) -> event. Resume is one range scan on the primary key. The unique index
-- is what makes a redelivered batch write nothing twice.
CREATE TABLE inbox (
  user_id text NOT NULL,
  seq bigint NOT NULL,
  event_key text NOT NULL REFERENCES delivery_events (event_key),
  stored_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, seq)
);
CREATE UNIQUE INDEX inbox_once_per_user ON inbox (event_key, user_id);
CREATE INDEX inbox_by_age ON inbox (stored_at);

-- How far each user has had each conversation delivered / read; only ever moves forward.
CREATE TABLE receipt_markers (
  user_id text NOT NULL,
  conversation_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('delivered', 'read')),
  message_id text NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, conversation_id, kind)
);

-- Absent row = the defaults (both on).
CREATE TABLE event_settings (
  user_id text PRIMARY KEY,
  send_read_receipts boolean NOT NULL,
  share_presence boolean NOT NULL,
  updated_at timestamptz NOT NULL
);

-- People who have a direct conversation: both directions are stored.
CREATE TABLE contacts (
  user_id text NOT NULL,
  contact_id text NOT NULL,
  PRIMARY KEY (user_id, contact_id)
);
