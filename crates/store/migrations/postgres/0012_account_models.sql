-- Accounts per patient (one lasting space) and per visit (one stay), besides per test. Their
-- slips are tied to the account rather than to a test, and the account has its own printed
-- reference (Crockford base32, XXXXX-XXXXX), which the patient signs in with.
ALTER TABLE patient_accounts ADD COLUMN reference TEXT;
CREATE UNIQUE INDEX patient_accounts_reference ON patient_accounts(reference);
CREATE UNIQUE INDEX patient_accounts_per_patient ON patient_accounts(patient_id) WHERE model = 'per_patient';
CREATE UNIQUE INDEX patient_accounts_episode ON patient_accounts(episode_id);

ALTER TABLE access_slips ALTER COLUMN test_id DROP NOT NULL;
ALTER TABLE access_slips ADD COLUMN account_id TEXT REFERENCES patient_accounts(id);
CREATE UNIQUE INDEX access_slips_one_active_account ON access_slips(account_id) WHERE state = 'active';
