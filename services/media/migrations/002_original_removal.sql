-- An image's uploaded original (EXIF, GPS and all) must not outlive its completion. The update that
-- marks an image ready sets this flag, and it is cleared once the original is deleted; the periodic
-- clean-up deletes the originals whose flag is still set (a crash or a failed delete in between).
ALTER TABLE attachments ADD COLUMN original_to_remove boolean NOT NULL DEFAULT false;

-- Images completed before this column existed may have left their original the same way; deleting
-- an object that is already gone is harmless.
UPDATE attachments SET original_to_remove = true
  WHERE state = 'ready' AND served_key IS NOT NULL AND served_key <> upload_key;

-- Only an original that is not what downloads serve may ever be marked for deletion.
ALTER TABLE attachments ADD CONSTRAINT attachments_original_to_remove_not_served
  CHECK (NOT original_to_remove OR (served_key IS NOT NULL AND served_key <> upload_key));

-- The clean-up's scan: originals still to delete, oldest completion first.
CREATE INDEX attachments_original_to_remove ON attachments (completed_at) WHERE original_to_remove;
