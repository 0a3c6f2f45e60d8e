-- ANALYZE samples 300 rows per unit of the largest statistics target among a table's columns:
-- 30,000 rows at PostgreSQL's default of 100. On PGlite, where the maintenance pass runs on the
-- thread every statement of the process waits for (pglite.autovacuum.ts), ANALYZE of messages took
-- 171 ms in a 30 s run at 2,000 sends/s, the longest stall of the run (22 ms with these targets).
-- These tables are read by index lookups on their keys, whose plans need row counts, not fine
-- distributions: a target of 10 (3,000 rows) for the keys, none for content never filtered on.
ALTER TABLE messages
  ALTER COLUMN message_id SET STATISTICS 10,
  ALTER COLUMN conversation_id SET STATISTICS 10,
  ALTER COLUMN sender_id SET STATISTICS 10,
  ALTER COLUMN recipient_id SET STATISTICS 10,
  ALTER COLUMN group_id SET STATISTICS 10,
  ALTER COLUMN sent_at SET STATISTICS 10,
  ALTER COLUMN client_message_id SET STATISTICS 10,
  ALTER COLUMN ciphertext SET STATISTICS 0,
  ALTER COLUMN nonce SET STATISTICS 0,
  ALTER COLUMN wrapped_key SET STATISTICS 0,
  ALTER COLUMN attachments SET STATISTICS 0;

ALTER TABLE client_messages
  ALTER COLUMN sender_id SET STATISTICS 10,
  ALTER COLUMN client_message_id SET STATISTICS 10,
  ALTER COLUMN message_id SET STATISTICS 10,
  ALTER COLUMN record SET STATISTICS 0,
  ALTER COLUMN appended SET STATISTICS 10,
  ALTER COLUMN created_at SET STATISTICS 10;
