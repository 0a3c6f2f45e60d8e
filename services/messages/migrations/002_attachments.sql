-- Attachment references of a message (an encoded parley.internal.v1.AttachmentList); NULL when none.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS attachments bytea;
