-- Proxy access to a patient's space (family, a legal representative): proposed by one staff
-- member, approved by another, with a relationship, a legal basis, the categories it covers and
-- an end date. On approval the proxy gets an invitation (a reference and a one-time code sent
-- to their contact) to open an account of their own. The proxy's name and contact are sealed.
CREATE TABLE proxies (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    name_sealed BLOB NOT NULL,
    relationship TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    -- Comma-separated data categories the proxy may read.
    categories TEXT NOT NULL,
    valid_until INTEGER NOT NULL,
    -- 'proposed', 'approved', 'rejected' or 'revoked'.
    state TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at INTEGER NOT NULL,
    decided_by TEXT,
    decided_at INTEGER,
    revoked_by TEXT,
    revoked_at INTEGER,
    -- The invitation: its printed reference, the code's digest, wrong attempts, used or not.
    invitation_reference TEXT UNIQUE,
    invitation_digest TEXT,
    invitation_attempts INTEGER NOT NULL DEFAULT 0,
    invitation_used_at INTEGER
);
CREATE INDEX proxies_patient ON proxies(patient_id);

-- A proxy's own contact (where their invitation and sign-in codes go), kept apart from the
-- patient's: the patient's notifications never go to it.
ALTER TABLE patient_contacts ADD COLUMN proxy_id TEXT REFERENCES proxies(id);
ALTER TABLE patient_accounts ADD COLUMN proxy_id TEXT REFERENCES proxies(id);
CREATE UNIQUE INDEX patient_accounts_proxy ON patient_accounts(proxy_id);
