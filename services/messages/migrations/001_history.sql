-- Message history of the embedded history store: content only ever encrypted.
CREATE TABLE messages (
  message_id uuid PRIMARY KEY,
  conversation_id text NOT NULL,
  sender_id text NOT NULL,
  recipient_id text NOT NULL DEFAULT '',
  group_id text NOT NULL DEFAULT '',
  sent_at timestamptz NOT NULL,
  client_message_id text NOT NULL DEFAULT '',
  ciphertext bytea NOT NULL,
  nonce bytea NOT NULL,
  wrapped_key bytea NOT NULL
);

CREATE INDEX messages_by_conversation ON messages (conversation_id, message_id);

CREATE INDEX direct_messages_by_sender ON messages (sender_id, message_id) WHERE group_id = '';

CREATE INDEX direct_messages_by_recipient ON messages (recipient_id, message_id) WHERE group_id = '';

-- Idempotent sends: the first send of a (sender, client message id) claims it with its record.
CREATE TABLE client_messages (
  sender_id text NOT NULL,
  client_message_id text NOT NULL,
  message_id uuid NOT NULL,
  record bytea NOT NULL,
  appended boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sender_id, client_message_id)
);
