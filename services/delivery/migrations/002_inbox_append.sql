-- A batch's append to the inboxes as one call: the steps of store.sql.ts's append, run by the
-- database itself, so a batch is one round trip (eight before: on PGlite each was a hand-over
-- between threads while the database was held, on PostgreSQL a network round trip under locks).
--
-- events: each distinct event once (key, kind, payload, appended_at). recipients: (user, event
-- key) pairs in the order their entries are wanted, each pair at most once. stored: the time to
-- record, or NULL for the database's clock read after the locks are taken (a user's later seqs
-- never get an earlier time: retention's sweep relies on it).
-- Returns the entries written, in that order; a pair already in the inbox (a redelivered batch)
-- is skipped and takes no seq.
CREATE FUNCTION inbox_append(
  event_keys text[],
  event_kinds text[],
  event_payloads bytea[],
  event_appended timestamptz[],
  recipient_users text[],
  recipient_keys text[],
  stored timestamptz
) RETURNS TABLE (user_id text, seq bigint, event_key text, stored_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  users text[] := ARRAY(SELECT DISTINCT u FROM unnest(recipient_users) AS u ORDER BY u);
  stored_time timestamptz;
  new_users text[];
  new_seqs bigint[];
  new_keys text[];
BEGIN
  -- New heads are inserted, and all heads locked, in user-id order: two batches with users in
  -- common wait for each other instead of deadlocking, and each user's seqs have one writer.
  INSERT INTO inbox_heads (user_id, head_seq, oldest_seq)
    SELECT u, 0, 1 FROM unnest(users) AS u ORDER BY u ON CONFLICT DO NOTHING;
  PERFORM 1 FROM inbox_heads h WHERE h.user_id = ANY(users) ORDER BY h.user_id FOR UPDATE;
  stored_time := COALESCE(stored, clock_timestamp());

  SELECT array_agg(n.u ORDER BY n.ord), array_agg(n.s ORDER BY n.ord), array_agg(n.k ORDER BY n.ord)
    INTO new_users, new_seqs, new_keys
  FROM (
    SELECT r.u, r.k, r.ord, h.head_seq + row_number() OVER (PARTITION BY r.u ORDER BY r.ord) AS s
    FROM unnest(recipient_users, recipient_keys) WITH ORDINALITY AS r(u, k, ord)
    JOIN inbox_heads h ON h.user_id = r.u
    WHERE NOT EXISTS (SELECT 1 FROM inbox i WHERE i.event_key = r.k AND i.user_id = r.u)
  ) AS n;
  IF new_users IS NULL THEN
    RETURN;
  END IF;

  INSERT INTO delivery_events (event_key, kind, payload, appended_at, stored_at)
    SELECT k, t, p, a, stored_time
    FROM unnest(event_keys, event_kinds, event_payloads, event_appended) AS v(k, t, p, a)
    WHERE k = ANY(new_keys)
    ON CONFLICT DO NOTHING;
  INSERT INTO inbox (user_id, seq, event_key, stored_at)
    SELECT u, s, k, stored_time FROM unnest(new_users, new_seqs, new_keys) AS v(u, s, k);
  UPDATE inbox_heads h SET head_seq = m.s
    FROM (SELECT u, max(s) AS s FROM unnest(new_users, new_seqs) AS v(u, s) GROUP BY u) AS m
    WHERE h.user_id = m.u;

  RETURN QUERY SELECT v.u, v.s, v.k, stored_time
    FROM unnest(new_users, new_seqs, new_keys) WITH ORDINALITY AS v(u, s, k, ord) ORDER BY v.ord;
END;
$$;
