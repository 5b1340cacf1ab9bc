-- Results release: when a document becomes visible in the patient space. A rule per data
-- category sets these when the document is stored (at once, after N days, or only after a
-- clinician's review); a clinician may release earlier. Documents stored before this
-- migration wait for a clinician.
ALTER TABLE documents ADD COLUMN released_at BIGINT;
ALTER TABLE documents ADD COLUMN released_by TEXT;
ALTER TABLE documents ADD COLUMN release_due_at BIGINT;
CREATE INDEX documents_released ON documents(patient_id, released_at, release_due_at);
