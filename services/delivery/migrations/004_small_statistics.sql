-- ANALYZE samples 300 rows per unit of the largest statistics target among a table's columns:
-- 30,000 rows at PostgreSQL's default of 100. On PGlite, where the maintenance pass runs on the
-- thread every statement of the process waits for (pglite.autovacuum.ts), ANALYZE took 43 ms for
-- the events and 61 ms for the inbox in a 30 s run at 2,000 sends/s (15 and 13 ms with these
-- targets). Both are read by index lookups on their keys and by age, whose plans need row counts,
-- not fine distributions: a target of 10 (3,000 rows) for the keys, none for the payload.
ALTER TABLE delivery_events
  ALTER COLUMN event_key SET STATISTICS 10,
  ALTER COLUMN kind SET STATISTICS 10,
  ALTER COLUMN payload SET STATISTICS 0,
  ALTER COLUMN appended_at SET STATISTICS 10,
  ALTER COLUMN stored_at SET STATISTICS 10;

ALTER TABLE inbox
  ALTER COLUMN user_id SET STATISTICS 10,
  ALTER COLUMN seq SET STATISTICS 10,
  ALTER COLUMN event_key SET STATISTICS 10,
  ALTER COLUMN stored_at SET STATISTICS 10;
