-- Patients' contact details for notifications ("something new is waiting"). The address is
-- sealed; a contact is used only once verified, by a one-time code sent to it and read back at
-- the desk. Only the code's digest is kept, with its expiry and the wrong attempts.
CREATE TABLE patient_contacts (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    -- 'email' (SMS to a phone number comes with the SMS gateway).
    kind TEXT NOT NULL,
    value_sealed BYTEA NOT NULL,
    code_digest TEXT,
    code_expires_at BIGINT,
    code_attempts BIGINT NOT NULL DEFAULT 0,
    verified_at BIGINT,
    verified_by TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    removed_at BIGINT
);
CREATE INDEX patient_contacts_patient ON patient_contacts(patient_id);
