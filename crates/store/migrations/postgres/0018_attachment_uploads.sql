-- Resumable uploads carry message attachments as well as documents. An attachment has no
-- patient and no document: it belongs to its uploader's mailbox until it is sent, and a patient
-- space account may upload one. So an upload names its purpose, its owner by the actor's name
-- (`user:…`, `patient_account:…`, as attachments do) and the object it becomes (a document's id
-- or an attachment's id); the patient is there only for documents.
ALTER TABLE uploads ADD COLUMN purpose TEXT NOT NULL DEFAULT 'document'
    CHECK (purpose IN ('document', 'attachment'));
ALTER TABLE uploads ALTER COLUMN purpose DROP DEFAULT;
ALTER TABLE uploads ADD COLUMN owner TEXT;
UPDATE uploads SET owner = 'user:' || owner_id;
ALTER TABLE uploads ALTER COLUMN owner SET NOT NULL;
ALTER TABLE uploads DROP COLUMN owner_id;
ALTER TABLE uploads RENAME COLUMN document_id TO object_id;
ALTER TABLE uploads ALTER COLUMN patient_id DROP NOT NULL;
ALTER TABLE uploads ADD CONSTRAINT uploads_patient_for_documents
    CHECK ((purpose = 'document') = (patient_id IS NOT NULL));
