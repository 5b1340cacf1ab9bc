-- Resumable uploads carry message attachments as well as documents. An attachment has no
-- patient and no document: it belongs to its uploader's mailbox until it is sent, and a patient
-- space account may upload one. So an upload names its purpose, its owner by the actor's name
-- (`user:…`, `patient_account:…`, as attachments do) and the object it becomes (a document's id
-- or an attachment's id); the patient is there only for documents.
CREATE TABLE uploads_v18 (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('document', 'attachment')),
    owner TEXT NOT NULL,
    patient_id TEXT REFERENCES patients(id),
    object_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    description_sealed BLOB NOT NULL,
    wrapped_data_key BLOB NOT NULL,
    header BLOB NOT NULL,
    length INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    CHECK ((purpose = 'document') = (patient_id IS NOT NULL))
);
INSERT INTO uploads_v18 (id, purpose, owner, patient_id, object_id, version, description_sealed,
        wrapped_data_key, header, length, segments, created_at, expires_at)
    SELECT id, 'document', 'user:' || owner_id, patient_id, document_id, version,
        description_sealed, wrapped_data_key, header, length, segments, created_at, expires_at
    FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_v18 RENAME TO uploads;
CREATE INDEX uploads_expiry ON uploads(expires_at);
