-- When the patient was told that a document released by an "after N days" rule is waiting
-- (the periodic job tells them once, batched per patient). Releases by a clinician or an
-- "immediately" rule are told at the moment they happen.
ALTER TABLE documents ADD COLUMN release_notified_at INTEGER;
CREATE INDEX documents_release_due ON documents(release_due_at) WHERE released_at IS NULL AND release_notified_at IS NULL;
-- Documents whose day came before this version: nobody is told about them now, years late.
UPDATE documents SET release_notified_at = release_due_at
WHERE released_at IS NULL AND release_due_at IS NOT NULL
  AND release_due_at <= CAST(strftime('%s', 'now') AS INTEGER);
