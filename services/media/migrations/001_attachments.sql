-- Attachment metadata; the bytes are objects in the blob store. The same file runs on PGlite and
-- PostgreSQL.
CREATE TABLE attachments (
  attachment_id uuid PRIMARY KEY,
  owner_id text NOT NULL,
  conversation_id text NOT NULL,
  file_name text NOT NULL,
  content_type text NOT NULL,
  -- What the client declared when it asked to upload; the presigned PUT is bound to these.
  declared_size bigint NOT NULL,
  declared_sha256 text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'ready', 'rejected')),
  upload_key text NOT NULL,
  -- Set once ready: what downloads return (for images, the copy without metadata).
  served_key text,
  thumbnail_key text,
  size_bytes bigint,
  sha256 text,
  width integer,
  height integer,
  created_at timestamptz NOT NULL,
  completed_at timestamptz
);

-- The clean-up's scan: pending uploads, oldest first.
CREATE INDEX attachments_pending ON attachments (created_at) WHERE state = 'pending';
