-- A passkey as a patient's second factor (after the password): the WebAuthn credential as
-- webauthn-rs serialises it (public key, counter; nothing secret), saved again after each use.
ALTER TABLE patient_accounts ADD COLUMN passkey_json TEXT;
