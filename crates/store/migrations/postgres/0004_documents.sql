-- The clinical document store and its keys.
--
-- Key hierarchy: the master key (a file or environment secret, never stored here) wraps the
-- secrets root (which seals small personal data and derives blind-index keys), every
-- patient's key and every staff signing key. A patient's key wraps the data key of each
-- version of that patient's documents. Content lives in a blob store, encrypted; the database
-- holds only wrapped keys, sealed titles and file names, sizes, hashes and signatures.
CREATE TABLE keyring (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    wrapped_root BYTEA NOT NULL,
    -- 'generated', or 'first-master-key' for a database that predates the keyring.
    origin TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);

CREATE TABLE patient_keys (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    wrapped_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- A staff person's Ed25519 key pairs; the retired ones keep their public half so that old
-- signatures still verify.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    public_key BYTEA NOT NULL,
    wrapped_private BYTEA,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
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
    retain_until BIGINT NOT NULL,
    -- Sealed under the secrets root; NULL once the document is shredded.
    title_sealed BYTEA,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    legal_hold_at BIGINT,
    legal_hold_by TEXT,
    legal_hold_reason_sealed BYTEA,
    shredded_at BIGINT,
    -- 'retention:<class>' or 'erasure:<request id>'.
    shred_reason TEXT
);
CREATE INDEX documents_patient ON documents(patient_id, created_at);
CREATE INDEX documents_due ON documents(retain_until) WHERE shredded_at IS NULL;

CREATE TABLE document_versions (
    document_id TEXT NOT NULL REFERENCES documents(id),
    version BIGINT NOT NULL,
    blob_key TEXT NOT NULL UNIQUE,
    -- The data key wrapped by the patient's key; NULL once shredded.
    wrapped_data_key BYTEA,
    filename_sealed BYTEA,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    ciphertext_size BIGINT NOT NULL,
    ciphertext_sha256 BYTEA NOT NULL,
    author_id TEXT NOT NULL REFERENCES users(id),
    uploaded_by TEXT NOT NULL REFERENCES users(id),
    signing_key_id TEXT NOT NULL REFERENCES signing_keys(id),
    signature BYTEA NOT NULL,
    signed_at BIGINT NOT NULL,
    correction_note_sealed BYTEA,
    PRIMARY KEY (document_id, version)
);

-- Lawful erasure before the end of retention: requested by one person, approved by another.
CREATE TABLE erasure_requests (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id),
    legal_basis TEXT NOT NULL,
    reason_sealed BYTEA NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT
);
CREATE INDEX erasure_requests_document ON erasure_requests(document_id);

-- Resumable uploads in progress (tus 1.0). Only ciphertext is staged; the description of the
-- document to be is sealed.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    document_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    description_sealed BYTEA NOT NULL,
    wrapped_data_key BYTEA NOT NULL,
    header BYTEA NOT NULL,
    length BIGINT NOT NULL,
    segments BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);
