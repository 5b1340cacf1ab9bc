-- Patient space accounts and their sessions.
--
-- An account belongs to one patient. Per test, it is opened with an access slip and sees that
-- test's released documents; per patient, it sees all their released documents; per visit,
-- one episode's. The patient signs in with a password and the second factor they chose (an
-- authenticator app, or a code by SMS or e-mail to a verified contact), remembered here.
-- Secrets are digests or sealed; nothing here is readable without the master key.
CREATE TABLE patient_accounts (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    -- 'per_test', 'per_patient' or 'per_visit'.
    model TEXT NOT NULL,
    test_id TEXT REFERENCES tests(id),
    episode_id TEXT REFERENCES care_episodes(id),
    -- 'activating' until the patient has set up how to sign in, then 'active'; 'closed'.
    status TEXT NOT NULL,
    password_hash TEXT,
    -- The remembered second factor: 'totp', 'sms' or 'email'.
    second_factor TEXT,
    -- For 'sms' and 'email': the verified contact the codes go to.
    factor_contact_id TEXT REFERENCES patient_contacts(id),
    totp_sealed BYTEA,
    totp_last_step BIGINT,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    closed_at BIGINT
);
CREATE UNIQUE INDEX patient_accounts_test ON patient_accounts(test_id);
CREATE INDEX patient_accounts_patient ON patient_accounts(patient_id);

CREATE TABLE patient_sessions (
    id TEXT PRIMARY KEY,
    token_digest TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES patient_accounts(id),
    -- 'activating' (slip redeemed: may only set up sign-in), 'second_factor' (password
    -- accepted: waiting for the code), 'signed_in'.
    state TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    -- This sign-in's one-time code: its digest (bound to the session), expiry and tries.
    code_digest TEXT,
    code_expires_at BIGINT,
    code_attempts BIGINT NOT NULL DEFAULT 0,
    codes_sent BIGINT NOT NULL DEFAULT 0,
    last_code_sent_at BIGINT,
    -- Sealed: the sign-in method being set up, until its first code confirms it.
    pending BYTEA,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    stepped_up_at BIGINT,
    client_address TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT
);
CREATE INDEX patient_sessions_account ON patient_sessions(account_id);
