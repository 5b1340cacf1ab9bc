-- The clinical document store and its keys.
--
-- Key hierarchy: the master key (a file or environment secret, never stored here) wraps the
-- secrets root (which seals small personal data and derives blind-index keys), every
-- patient's key and every staff signing key. A patient's key wraps the data key of each
-- version of that patient's documents. Content lives in a blob store, encrypted; the database
-- holds only wrapped keys, sealed titles and file names, sizes, hashes and signatures.
CREATE TABLE keyring (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    wrapped_root BLOB NOT NULL,
    -- 'generated', or 'first-master-key' for a database that predates the keyring.
    origin TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
);

CREATE TABLE patient_keys (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    wrapped_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- A staff person's Ed25519 key pairs; the retired ones keep their public half so that old
-- signatures still verify.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    public_key BLOB NOT NULL,
    wrapped_private BLOB,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(user_id) WHERE retired_at IS NULL;

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    episode_id TEXT REFERENCES care_episodes(id),
    test_id TEXT REFERENCES tests(id),
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    retention_class TEXT NOT NULL,
    retain_until INTEGER NOT NULL,
    -- Sealed under the secrets root; NULL once the document is shredded.
    title_sealed BLOB,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    legal_hold_at INTEGER,
    legal_hold_by TEXT,
    legal_hold_reason_sealed BLOB,
    shredded_at INTEGER,
    -- 'retention:<class>' or 'erasure:<request id>'.
    shred_reason TEXT
);
CREATE INDEX documents_patient ON documents(patient_id, created_at);
CREATE INDEX documents_due ON documents(retain_until) WHERE shredded_at IS NULL;

CREATE TABLE document_versions (
    document_id TEXT NOT NULL REFERENCES documents(id),
    version INTEGER NOT NULL,
    blob_key TEXT NOT NULL UNIQUE,
    -- The data key wrapped by the patient's key; NULL once shredded.
    wrapped_data_key BLOB,
    filename_sealed BLOB,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    ciphertext_size INTEGER NOT NULL,
    ciphertext_sha256 BLOB NOT NULL,
    author_id TEXT NOT NULL REFERENCES users(id),
    uploaded_by TEXT NOT NULL REFERENCES users(id),
    signing_key_id TEXT NOT NULL REFERENCES signing_keys(id),
    signature BLOB NOT NULL,
    signed_at INTEGER NOT NULL,
    correction_note_sealed BLOB,
    PRIMARY KEY (document_id, version)
);

-- Lawful erasure before the end of retention: requested by one person, approved by another.
CREATE TABLE erasure_requests (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id),
    legal_basis TEXT NOT NULL,
    reason_sealed BLOB NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at INTEGER
);
CREATE INDEX erasure_requests_document ON erasure_requests(document_id);

-- Resumable uploads in progress (tus 1.0). Only ciphertext is staged; the description of the
-- document to be is sealed.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    description_sealed BLOB NOT NULL,
    wrapped_data_key BLOB NOT NULL,
    header BLOB NOT NULL,
    length INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);
