-- Access slips (patient space, accounts per test). Reception hands a patient a printed slip
-- with the patient's record number, the test's reference and a one-time activation secret.
-- Only the secret's digest is kept. At most one slip per test is active: issuing another
-- voids the one before.

-- The short reference printed as the test's ID (Crockford base32, XXXXX-XXXXX), given when
-- the first slip for the test is issued.
ALTER TABLE tests ADD COLUMN reference TEXT;
CREATE UNIQUE INDEX tests_reference ON tests(reference);

CREATE TABLE access_slips (
    id TEXT PRIMARY KEY,
    test_id TEXT NOT NULL REFERENCES tests(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    secret_digest TEXT NOT NULL,
    -- 'active', 'used' (activated) or 'void' (replaced, or too many wrong secrets).
    state TEXT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    -- Why it is void: 'replaced' or 'too_many_attempts'.
    void_reason TEXT,
    -- The kind of identity document reception checked before handing it over.
    identity_check TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE UNIQUE INDEX access_slips_one_active ON access_slips(test_id) WHERE state = 'active';
CREATE INDEX access_slips_patient ON access_slips(patient_id);
