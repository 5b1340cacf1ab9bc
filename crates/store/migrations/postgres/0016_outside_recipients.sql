-- Outside recipients (issue 6): people without an account, known by an e-mail address, who
-- open a thread they were added to through a link and a verification the sender or the
-- organization chose. Their participant address is `outside:<id>`.
CREATE TABLE outside_recipients (
    id TEXT PRIMARY KEY,
    -- A keyed digest of the address in canonical form (lower case, trimmed): finds the
    -- recipient again without the address in clear.
    address_index TEXT NOT NULL UNIQUE,
    address_sealed BYTEA NOT NULL,
    -- The verification that worked last time (`sms`, `access_code`, `email`), and for `sms`
    -- the number it went to (sealed): offered first the next time someone writes to them.
    remembered_method TEXT,
    phone_sealed BYTEA,
    created_at BIGINT NOT NULL,
    last_verified_at BIGINT
);

-- One per outside recipient and thread: the reference their link carries and how they prove
-- who they are. The reference and codes are stored only as digests.
CREATE TABLE outside_invitations (
    id TEXT PRIMARY KEY,
    reference_digest TEXT NOT NULL UNIQUE,
    recipient_id TEXT NOT NULL REFERENCES outside_recipients(id),
    thread_id TEXT NOT NULL REFERENCES threads(id),
    -- `sms`, `access_code` or `email`.
    method TEXT NOT NULL,
    phone_sealed BYTEA,
    access_code_digest TEXT,
    -- The code last sent (SMS or e-mail), its expiry, and how many were sent and when.
    code_digest TEXT,
    code_expires_at BIGINT,
    codes_sent BIGINT NOT NULL DEFAULT 0,
    last_code_at BIGINT,
    -- Wrong codes in a row; the fifth locks the invitation until the sender sends it again.
    failures BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    UNIQUE (recipient_id, thread_id)
);

-- Sessions of outside recipients: for one invitation (one thread), pending until verified.
CREATE TABLE outside_sessions (
    digest TEXT PRIMARY KEY,
    invitation_id TEXT NOT NULL REFERENCES outside_invitations(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    verified_at BIGINT,
    ended_at BIGINT
);
CREATE INDEX outside_sessions_invitation ON outside_sessions(invitation_id);
