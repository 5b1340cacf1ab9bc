-- Departments, staff assignments, patients, care episodes, tests, records, grants,
-- break-glass openings and alerts: the facts every access decision is made from.
-- Personal data is sealed by the server (XChaCha20-Poly1305 under the master key, bound to the
-- row id); exact lookups go through keyed blind indexes (HMAC-SHA-256), never plaintext.
CREATE TABLE departments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE assignments (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    department_id TEXT NOT NULL REFERENCES departments(id),
    role TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_until BIGINT,
    temporary BIGINT NOT NULL,
    confirmed BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (temporary = 0 OR valid_until IS NOT NULL),
    CHECK (valid_until IS NULL OR valid_until >= valid_from)
);
CREATE INDEX assignments_user ON assignments(user_id);
CREATE INDEX assignments_department ON assignments(department_id);

CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    mrn TEXT NOT NULL UNIQUE,
    demographics_sealed BYTEA NOT NULL,
    name_birth_index TEXT NOT NULL,
    national_id_sealed BYTEA,
    national_id_index TEXT UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX patients_name_birth ON patients(name_birth_index);

CREATE TABLE care_episodes (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    department_id TEXT NOT NULL REFERENCES departments(id),
    admitted_at BIGINT NOT NULL,
    admitted_by TEXT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT,
    ended_by TEXT
);
CREATE INDEX care_episodes_patient ON care_episodes(patient_id);
CREATE INDEX care_episodes_department_open ON care_episodes(department_id, ended_at);
-- A patient is in at most one department at a time.
CREATE UNIQUE INDEX care_episodes_one_open ON care_episodes(patient_id) WHERE ended_at IS NULL;

CREATE TABLE tests (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    laboratory_department_id TEXT NOT NULL REFERENCES departments(id),
    ordered_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX tests_patient ON tests(patient_id);

CREATE TABLE patient_records (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    category TEXT NOT NULL,
    author_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    body_sealed BYTEA NOT NULL
);
CREATE INDEX patient_records_patient ON patient_records(patient_id, category);

CREATE TABLE access_grants (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    grantee_user_id TEXT REFERENCES users(id),
    grantee_department_id TEXT REFERENCES departments(id),
    categories TEXT NOT NULL,
    actions TEXT NOT NULL,
    purpose_sealed BYTEA NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    CHECK ((grantee_user_id IS NULL) <> (grantee_department_id IS NULL))
);
CREATE INDEX access_grants_patient ON access_grants(patient_id);
CREATE INDEX access_grants_user ON access_grants(grantee_user_id);
CREATE INDEX access_grants_creator ON access_grants(created_by);

CREATE TABLE break_glass (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    reason_sealed BYTEA NOT NULL,
    opened_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    review_state TEXT NOT NULL,
    reviewed_by TEXT,
    reviewed_at BIGINT,
    review_comment_sealed BYTEA
);
CREATE INDEX break_glass_patient_user ON break_glass(patient_id, user_id);
CREATE INDEX break_glass_review ON break_glass(review_state, opened_at);

-- In-application alerts for the security officer. Identifiers only.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT
);
CREATE INDEX alerts_open ON alerts(acknowledged_at, created_at);

-- A patient's access history is read by subject.
CREATE INDEX audit_events_subject ON audit_events(subject, seq);

-- Versions of the access policy. A proposed version becomes active only when a second person
-- approves it; the previous active version is then superseded. Nothing is deleted.
CREATE TABLE policy_versions (
    version BIGINT PRIMARY KEY,
    policy_text TEXT NOT NULL,
    state TEXT NOT NULL,
    summary TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT
);
-- At most one active version.
CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions(state) WHERE state = 'active';

-- Periodic attestation of a department's assignments by its manager.
CREATE TABLE access_reviews (
    id TEXT PRIMARY KEY,
    department_id TEXT NOT NULL REFERENCES departments(id),
    started_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX access_reviews_department ON access_reviews(department_id, started_at);

CREATE TABLE access_review_items (
    review_id TEXT NOT NULL REFERENCES access_reviews(id),
    assignment_id TEXT NOT NULL REFERENCES assignments(id),
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    decision TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    PRIMARY KEY (review_id, assignment_id)
);
