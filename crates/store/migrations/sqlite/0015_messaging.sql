-- Secure messaging (issue 6). Every key here is wrapped; every text is sealed.
--
--   master key ── mailbox key (one per participant address) ── thread key ── message data key
--
-- A participant address is `user:<id>` (a staff member), `department:<id>` (a department's
-- shared inbox, read by its current members) or `patient:<id>` (the patient space: the
-- patient's own account and approved proxies). Removing a participant deletes their wrapped
-- thread key; recalling or expiring a message deletes its data key and its sealed content.
CREATE TABLE mailbox_keys (
    mailbox TEXT PRIMARY KEY,
    wrapped_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- Signing keys of authors who are not staff (patient space accounts); staff sign with the
-- signing key they sign documents with.
CREATE TABLE author_signing_keys (
    id TEXT PRIMARY KEY,
    author TEXT NOT NULL UNIQUE,
    public_key BLOB NOT NULL,
    wrapped_private BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE threads (
    id TEXT PRIMARY KEY,
    -- The patient the conversation is about, if any: then policy decides who may read and be
    -- added, for the thread's data category.
    patient_id TEXT REFERENCES patients(id),
    category TEXT,
    subject_sealed BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_message_at INTEGER NOT NULL
);
CREATE INDEX threads_patient ON threads(patient_id) WHERE patient_id IS NOT NULL;

CREATE TABLE thread_participants (
    thread_id TEXT NOT NULL REFERENCES threads(id),
    mailbox TEXT NOT NULL,
    -- The thread key under the mailbox key; NULL once removed (the key is destroyed).
    wrapped_thread_key BLOB,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    removed_at INTEGER,
    removed_by TEXT,
    PRIMARY KEY (thread_id, mailbox)
);
CREATE INDEX thread_participants_mailbox ON thread_participants(mailbox, thread_id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL REFERENCES threads(id),
    -- The message's place in its thread (1, 2, …): several may share a second.
    seq INTEGER NOT NULL,
    -- The author's participant address and who typed it (`user:<id>`, `patient_account:<id>`).
    author TEXT NOT NULL,
    signer TEXT NOT NULL,
    -- The body sealed under the message's data key, which is wrapped under the thread key.
    -- Both NULL once the message is recalled or expired.
    body_sealed BLOB,
    wrapped_data_key BLOB,
    body_hash BLOB NOT NULL,
    signing_key_id TEXT NOT NULL,
    signature BLOB NOT NULL,
    sent_at INTEGER NOT NULL,
    expires_at INTEGER,
    -- The consent or legal basis the sender recorded (for attachments to outside recipients).
    legal_basis TEXT,
    destroyed_at INTEGER,
    -- 'recalled' or 'expired'
    destroyed_reason TEXT,
    destroyed_by TEXT
);
CREATE INDEX messages_thread ON messages(thread_id, seq);
CREATE INDEX messages_expiry ON messages(expires_at) WHERE destroyed_at IS NULL AND expires_at IS NOT NULL;

-- Attachments: content in the blob store, encrypted as a stream under the attachment's own
-- data key. Uploaded first, its key wrapped under the uploader's mailbox key (thread_id and
-- message_id NULL); when sent, re-wrapped under the thread key.
CREATE TABLE message_attachments (
    id TEXT PRIMARY KEY,
    thread_id TEXT REFERENCES threads(id),
    message_id TEXT REFERENCES messages(id),
    position INTEGER NOT NULL DEFAULT 0,
    uploaded_by TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    wrapped_data_key BLOB,
    filename_sealed BLOB NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    ciphertext_size INTEGER NOT NULL,
    ciphertext_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX message_attachments_message ON message_attachments(message_id);

-- Delivered and read, per message and recipient address.
CREATE TABLE message_receipts (
    message_id TEXT NOT NULL REFERENCES messages(id),
    mailbox TEXT NOT NULL,
    delivered_at INTEGER,
    read_at INTEGER,
    read_by TEXT,
    PRIMARY KEY (message_id, mailbox)
);
CREATE INDEX message_receipts_unread ON message_receipts(mailbox) WHERE read_at IS NULL;

-- Whom each sender has written to, and how often (for the leak-prevention rules).
CREATE TABLE recipient_history (
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    messages INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (sender, recipient)
);

-- Recipients who were not connected when messages arrived: told by e-mail, once per batch,
-- that something is waiting (no content, no patient).
CREATE TABLE message_notices (
    mailbox TEXT PRIMARY KEY,
    waiting INTEGER NOT NULL,
    first_at INTEGER NOT NULL
);
