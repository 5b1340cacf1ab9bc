-- Accounts per patient (one lasting space) and per visit (one stay), besides per test. Their
-- slips are tied to the account rather than to a test, and the account has its own printed
-- reference (Crockford base32, XXXXX-XXXXX), which the patient signs in with.
ALTER TABLE patient_accounts ADD COLUMN reference TEXT;
CREATE UNIQUE INDEX patient_accounts_reference ON patient_accounts(reference);
CREATE UNIQUE INDEX patient_accounts_per_patient ON patient_accounts(patient_id) WHERE model = 'per_patient';
CREATE UNIQUE INDEX patient_accounts_episode ON patient_accounts(episode_id);

-- SQLite cannot drop NOT NULL in place: rebuild access_slips with test_id optional and the
-- account it opens.
CREATE TABLE access_slips_rebuilt (
    id TEXT PRIMARY KEY,
    test_id TEXT REFERENCES tests(id),
    account_id TEXT REFERENCES patient_accounts(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    secret_digest TEXT NOT NULL,
    state TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    void_reason TEXT,
    identity_check TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    ended_at INTEGER
);
INSERT INTO access_slips_rebuilt (id, test_id, account_id, patient_id, secret_digest, state,
    failed_attempts, void_reason, identity_check, issued_by, issued_at, ended_at)
SELECT id, test_id, NULL, patient_id, secret_digest, state, failed_attempts, void_reason,
    identity_check, issued_by, issued_at, ended_at FROM access_slips;
DROP TABLE access_slips;
ALTER TABLE access_slips_rebuilt RENAME TO access_slips;
CREATE UNIQUE INDEX access_slips_one_active ON access_slips(test_id) WHERE state = 'active';
CREATE UNIQUE INDEX access_slips_one_active_account ON access_slips(account_id) WHERE state = 'active';
CREATE INDEX access_slips_patient ON access_slips(patient_id);
