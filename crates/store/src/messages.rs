//! Secure messaging: threads, their participants (each holding the thread key wrapped under
//! their mailbox key), messages (sealed bodies, wrapped data keys, signatures), attachments,
//! receipts, the sender's recipient history and pending e-mail notices.
//!
//! Recalling or expiring a message is [`Store::destroy_message`]: its data key and sealed body
//! are overwritten with NULL, and its attachments' keys with them.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreadRow {
    pub id: String,
    pub patient_id: Option<String>,
    pub category: Option<String>,
    pub subject_sealed: Vec<u8>,
    pub created_by: String,
    pub created_at: i64,
    pub last_message_at: i64,
}

const THREAD_COLUMNS: &str =
    "id, patient_id, category, subject_sealed, created_by, created_at, last_message_at";

const PARTICIPANT_COLUMNS: &str =
    "thread_id, mailbox, wrapped_thread_key, added_by, added_at, removed_at, removed_by";

/// `columns` (a comma-separated list) each prefixed by the table `alias`, for a join.
fn aliased(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParticipantRow {
    pub thread_id: String,
    pub mailbox: String,
    pub wrapped_thread_key: Option<Vec<u8>>,
    pub added_by: String,
    pub added_at: i64,
    pub removed_at: Option<i64>,
    pub removed_by: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: String,
    pub thread_id: String,
    pub author: String,
    pub signer: String,
    pub body_sealed: Option<Vec<u8>>,
    pub wrapped_data_key: Option<Vec<u8>>,
    pub body_hash: Vec<u8>,
    pub signing_key_id: String,
    pub signature: Vec<u8>,
    pub sent_at: i64,
    pub expires_at: Option<i64>,
    pub legal_basis: Option<String>,
    pub destroyed_at: Option<i64>,
    pub destroyed_reason: Option<String>,
    pub destroyed_by: Option<String>,
}

const MESSAGE_COLUMNS: &str = "id, thread_id, author, signer, body_sealed, wrapped_data_key, body_hash, signing_key_id, signature, sent_at, expires_at, legal_basis, destroyed_at, destroyed_reason, destroyed_by";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: String,
    pub thread_id: Option<String>,
    pub message_id: Option<String>,
    pub position: i64,
    pub uploaded_by: String,
    pub blob_key: String,
    pub wrapped_data_key: Option<Vec<u8>>,
    pub filename_sealed: Vec<u8>,
    pub media_type: String,
    pub size: i64,
    pub ciphertext_size: i64,
    pub ciphertext_hash: Vec<u8>,
    pub created_at: i64,
}

const ATTACHMENT_COLUMNS: &str = "id, thread_id, message_id, position, uploaded_by, blob_key, wrapped_data_key, filename_sealed, media_type, size, ciphertext_size, ciphertext_hash, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReceiptRow {
    pub message_id: String,
    pub mailbox: String,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
    pub read_by: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthorKeyRow {
    pub id: String,
    pub author: String,
    pub public_key: Vec<u8>,
    pub wrapped_private: Vec<u8>,
    pub created_at: i64,
}

/// Rows one multi-row statement writes at most (SQLite allows 32 766 bound values).
const ROWS_PER_STATEMENT: usize = 200;

/// What a batch of messages changes beyond the messages themselves, gathered per row it
/// touches (so that each row is written once, as a multi-row upsert requires).
struct BatchChanges<'a> {
    /// Thread → its latest message in the batch. Sorted, so that PostgreSQL locks the rows in
    /// one order whoever writes.
    last_message_at: std::collections::BTreeMap<&'a str, i64>,
    /// (message, mailbox, delivered at).
    receipts: Vec<(&'a str, &'a str, Option<i64>)>,
    /// (sender, recipient) → (messages, latest).
    history: std::collections::BTreeMap<(&'a str, &'a str), (i64, i64)>,
    /// Mailbox not connected → (messages waiting, first).
    notices: std::collections::BTreeMap<&'a str, (i64, i64)>,
}

impl<'a> BatchChanges<'a> {
    fn of(batch: &'a [NewMessage]) -> BatchChanges<'a> {
        let mut c = BatchChanges {
            last_message_at: Default::default(),
            receipts: Vec::new(),
            history: Default::default(),
            notices: Default::default(),
        };
        for new in batch {
            let m = &new.message;
            let at = c
                .last_message_at
                .entry(m.thread_id.as_str())
                .or_insert(m.sent_at);
            *at = (*at).max(m.sent_at);
            for r in &new.recipients {
                let delivered = new.delivered_now.contains(r).then_some(m.sent_at);
                c.receipts.push((m.id.as_str(), r.as_str(), delivered));
                if let Some(sender) = &new.history_sender {
                    let h = c
                        .history
                        .entry((sender.as_str(), r.as_str()))
                        .or_insert((0, m.sent_at));
                    h.0 += 1;
                    h.1 = h.1.max(m.sent_at);
                }
            }
            for w in &new.waiting {
                let n = c.notices.entry(w.as_str()).or_insert((0, m.sent_at));
                n.0 += 1;
                n.1 = n.1.min(m.sent_at);
            }
        }
        c
    }
}

/// A thread as a reader opens it: the thread, every participant it has had, and the wrapped
/// keys of the reader's mailboxes that take part.
#[derive(Debug, Clone)]
pub struct ThreadForReader {
    pub thread: ThreadRow,
    pub participants: Vec<ParticipantRow>,
    /// (mailbox, its wrapped key), for the reader's mailboxes among the participants.
    pub mailbox_keys: Vec<(String, Vec<u8>)>,
    /// (participant, messages) for the participants the reader has written to before: their
    /// entries in the reader's recipient history.
    pub sent_before: Vec<(String, i64)>,
}

#[derive(sqlx::FromRow)]
struct ThreadParticipantRow {
    #[sqlx(flatten)]
    thread: ThreadRow,
    #[sqlx(flatten)]
    participant: ParticipantRow,
    mailbox_key: Option<Vec<u8>>,
    sent_before: Option<i64>,
}

/// A message to store, with what changes with it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// A new thread and its participants, stored with its first message in one transaction.
    pub thread: Option<(ThreadRow, Vec<ParticipantRow>)>,
    pub message: MessageRow,
    /// Attachments uploaded beforehand, now part of the message (in order): each id with its
    /// data key re-wrapped under the thread key.
    pub attachments: Vec<(String, Vec<u8>)>,
    /// Every participant but the author gets a receipt row.
    pub recipients: Vec<String>,
    /// Recipients already connected: delivered at once.
    pub delivered_now: Vec<String>,
    /// Recipients not connected: each gets a count toward a batched e-mail notice.
    pub waiting: Vec<String>,
    /// Who wrote it, for the recipient history (`user:<id>`), or None for patients.
    pub history_sender: Option<String>,
    /// Outside recipients new to the organization and their invitations to a new thread,
    /// stored with it.
    pub new_recipients: Vec<crate::OutsideRecipientRow>,
    pub invitations: Vec<crate::OutsideInvitationRow>,
}

impl Store {
    /// The wrapped key of a mailbox, if it has one.
    pub async fn mailbox_key(&self, mailbox: &str) -> Result<Option<Vec<u8>>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT wrapped_key FROM mailbox_keys WHERE mailbox = $1"
        ).bind(mailbox).fetch_optional(pool).await)?)
    }

    /// Store a mailbox's first key unless another request stored one meanwhile; returns the
    /// key in force either way.
    pub async fn insert_mailbox_key(
        &self,
        mailbox: &str,
        fresh: &[u8],
        at: i64,
    ) -> Result<Vec<u8>> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO mailbox_keys (mailbox, wrapped_key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox) DO NOTHING"
        ).bind(mailbox).bind(fresh).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT wrapped_key FROM mailbox_keys WHERE mailbox = $1"
        ).bind(mailbox).fetch_one(pool).await)?)
    }

    pub async fn author_key(&self, author: &str) -> Result<Option<AuthorKeyRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, author, public_key, wrapped_private, created_at FROM author_signing_keys WHERE author = $1"
        ).bind(author).fetch_optional(pool).await)?)
    }

    pub async fn author_key_by_id(&self, id: &str) -> Result<Option<AuthorKeyRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, author, public_key, wrapped_private, created_at FROM author_signing_keys WHERE id = $1"
        ).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn insert_author_key(&self, k: &AuthorKeyRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO author_signing_keys (id, author, public_key, wrapped_private, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (author) DO NOTHING"
        ).bind(&k.id).bind(&k.author).bind(&k.public_key).bind(&k.wrapped_private).bind(k.created_at)
        .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn thread(&self, id: &str) -> Result<Option<ThreadRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {THREAD_COLUMNS} FROM threads WHERE id = $1"
        )).bind(id).fetch_optional(pool).await)?)
    }

    /// A thread, its participants and the reader's mailbox keys in one query (what every read
    /// and send starts with); None if there is no such thread.
    pub async fn thread_for_reader(
        &self,
        id: &str,
        reader_mailboxes: &[String],
    ) -> Result<Option<ThreadForReader>> {
        let sql = format!(
            "SELECT {thread}, {participant}, k.wrapped_key AS mailbox_key, h.messages AS sent_before \
             FROM threads t JOIN thread_participants p ON p.thread_id = t.id \
             LEFT JOIN mailbox_keys k ON k.mailbox = p.mailbox AND p.mailbox IN ({mailboxes}) \
             LEFT JOIN recipient_history h ON h.sender = {own} AND h.recipient = p.mailbox \
             WHERE t.id = $1 ORDER BY p.added_at, p.mailbox",
            mailboxes = if reader_mailboxes.is_empty() {
                "NULL".to_owned()
            } else {
                crate::numbered_params(2, reader_mailboxes.len())
            },
            // The reader's own mailbox comes first: the sender, when the thread is opened to write.
            own = if reader_mailboxes.is_empty() { "NULL" } else { "$2" },
            thread = aliased("t", THREAD_COLUMNS),
            participant = aliased("p", PARTICIPANT_COLUMNS),
        );
        let rows: Vec<ThreadParticipantRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql).bind(id);
            for m in reader_mailboxes {
                q = q.bind(m);
            }
            q.fetch_all(pool).await
        })?;
        let Some(thread) = rows.first().map(|r| r.thread.clone()) else {
            return Ok(None);
        };
        let mut mailbox_keys = Vec::new();
        let mut sent_before = Vec::new();
        let mut participants = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(k) = r.mailbox_key {
                mailbox_keys.push((r.participant.mailbox.clone(), k));
            }
            if let Some(n) = r.sent_before {
                sent_before.push((r.participant.mailbox.clone(), n));
            }
            participants.push(r.participant);
        }
        Ok(Some(ThreadForReader {
            thread,
            participants,
            mailbox_keys,
            sent_before,
        }))
    }

    /// Every participant a thread has had, current and removed.
    pub async fn participants(&self, thread_id: &str) -> Result<Vec<ParticipantRow>> {
        self.participants_of_threads(std::slice::from_ref(&thread_id.to_owned()))
            .await
    }

    /// The participants of several threads in one query (an inbox page).
    pub async fn participants_of_threads(
        &self,
        thread_ids: &[String],
    ) -> Result<Vec<ParticipantRow>> {
        if thread_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM thread_participants WHERE thread_id IN ({}) ORDER BY thread_id, added_at, mailbox",
            crate::numbered_params(1, thread_ids.len())
        );
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql);
            for id in thread_ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await
        })?)
    }

    /// Add a participant, or bring a removed one back with a freshly wrapped key.
    pub async fn add_participant(&self, p: &ParticipantRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO thread_participants (thread_id, mailbox, wrapped_thread_key, added_by, added_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (thread_id, mailbox) DO UPDATE SET \
             wrapped_thread_key = excluded.wrapped_thread_key, added_by = excluded.added_by, \
             added_at = excluded.added_at, removed_at = NULL, removed_by = NULL"
        ).bind(&p.thread_id).bind(&p.mailbox).bind(&p.wrapped_thread_key).bind(&p.added_by).bind(p.added_at)
        .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Remove a participant: their wrapped thread key is destroyed. False if they were not on
    /// the thread.
    pub async fn remove_participant(
        &self,
        thread_id: &str,
        mailbox: &str,
        by: &str,
        at: i64,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE thread_participants SET wrapped_thread_key = NULL, removed_at = $3, removed_by = $4 \
             WHERE thread_id = $1 AND mailbox = $2 AND removed_at IS NULL"
        ).bind(thread_id).bind(mailbox).bind(at).bind(by).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Threads on which any of `mailboxes` is a current participant, most recent first, with
    /// optional filters: the linked patient, and the last message within `[from, to)`.
    pub async fn threads_of(
        &self,
        mailboxes: &[String],
        patient_id: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<ThreadRow>> {
        if mailboxes.is_empty() {
            return Ok(Vec::new());
        }
        let n = mailboxes.len();
        let sql = format!(
            "SELECT {cols} FROM threads t WHERE t.id IN (SELECT thread_id FROM thread_participants \
             WHERE removed_at IS NULL AND mailbox IN ({list})) \
             AND ($a IS NULL OR t.patient_id = $a) AND ($b IS NULL OR t.last_message_at >= $b) \
             AND ($c IS NULL OR t.last_message_at < $c) ORDER BY t.last_message_at DESC, t.id LIMIT 1000",
            cols = THREAD_COLUMNS
                .split(", ")
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            list = crate::numbered_params(1, n),
        )
        .replace("$a", &format!("${}", n + 1))
        .replace("$b", &format!("${}", n + 2))
        .replace("$c", &format!("${}", n + 3));
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql);
            for m in mailboxes {
                q = q.bind(m);
            }
            q.bind(patient_id).bind(from).bind(to).fetch_all(pool).await
        })?)
    }

    /// Store messages (each with its new thread, attachments, receipts, history and notices)
    /// in one transaction: all of them, or none if any fails (a message whose attachment was
    /// already sent with another gives `Conflict`). What the messages share is written with
    /// one statement per table, not one per message.
    pub async fn insert_messages(&self, batch: &[NewMessage]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let changes = BatchChanges::of(batch);
        let threads: Vec<&str> = changes.last_message_at.keys().copied().collect();
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for new in batch {
                if let Some((t, participants)) = &new.thread {
                    sqlx::query(&format!("INSERT INTO threads ({THREAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                        .bind(&t.id).bind(&t.patient_id).bind(&t.category).bind(&t.subject_sealed)
                        .bind(&t.created_by).bind(t.created_at).bind(t.last_message_at)
                        .execute(&mut *tx).await?;
                    for p in participants {
                        sqlx::query(
                            "INSERT INTO thread_participants (thread_id, mailbox, wrapped_thread_key, added_by, added_at) \
                             VALUES ($1, $2, $3, $4, $5)"
                        ).bind(&p.thread_id).bind(&p.mailbox).bind(&p.wrapped_thread_key).bind(&p.added_by).bind(p.added_at)
                        .execute(&mut *tx).await?;
                    }
                    for r in &new.new_recipients {
                        sqlx::query(crate::outside::INSERT_RECIPIENT)
                            .bind(&r.id).bind(&r.address_index).bind(&r.address_sealed).bind(r.created_at)
                            .execute(&mut *tx).await?;
                    }
                    for i in &new.invitations {
                        sqlx::query(crate::outside::PUT_INVITATION)
                            .bind(&i.id).bind(&i.reference_digest).bind(&i.recipient_id).bind(&i.thread_id)
                            .bind(&i.method).bind(&i.phone_sealed).bind(&i.access_code_digest)
                            .bind(&i.created_by).bind(i.created_at)
                            .execute(&mut *tx).await?;
                    }
                }
            }
            // The threads' last activity, first: on PostgreSQL these row locks serialise sends
            // into the same threads (SQLite has one writer), so each message's place below is
            // taken after the last one stored.
            let latest = format!("CASE id {} END", (0..threads.len())
                .map(|i| format!("WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>().join(" "));
            let ids = (0..threads.len()).map(|i| format!("${}", 2 * i + 1)).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "UPDATE threads SET last_message_at = CASE WHEN last_message_at < {latest} THEN {latest} \
                 ELSE last_message_at END WHERE id IN ({ids})");
            let mut q = sqlx::query(&sql);
            for (t, at) in &changes.last_message_at {
                q = q.bind(*t).bind(*at);
            }
            q.execute(&mut *tx).await?;
            // One MAX per thread, which both databases answer from the end of the
            // (thread_id, seq) index; a GROUP BY would read every message of the threads.
            let sql = format!(
                "SELECT t.id, COALESCE((SELECT MAX(m.seq) FROM messages m WHERE m.thread_id = t.id), 0) \
                 FROM threads t WHERE t.id IN ({})",
                crate::numbered_params(1, threads.len()));
            let mut q = sqlx::query_as(&sql);
            for t in &threads {
                q = q.bind(*t);
            }
            let stored: Vec<(String, i64)> = q.fetch_all(&mut *tx).await?;
            let mut next_seq: std::collections::HashMap<&str, i64> =
                threads.iter().map(|t| (*t, 1)).collect();
            for (t, max) in &stored {
                if let Some(n) = next_seq.get_mut(t.as_str()) {
                    *n = max + 1;
                }
            }
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let sql = format!("INSERT INTO messages ({MESSAGE_COLUMNS}, seq) VALUES {}",
                    crate::values_rows(chunk.len(), 16));
                let mut q = sqlx::query(&sql);
                for new in chunk {
                    let m = &new.message;
                    let seq = next_seq.entry(m.thread_id.as_str()).or_insert(1);
                    q = q.bind(&m.id).bind(&m.thread_id).bind(&m.author).bind(&m.signer).bind(&m.body_sealed)
                        .bind(&m.wrapped_data_key).bind(&m.body_hash).bind(&m.signing_key_id).bind(&m.signature)
                        .bind(m.sent_at).bind(m.expires_at).bind(&m.legal_basis)
                        .bind(m.destroyed_at).bind(&m.destroyed_reason).bind(&m.destroyed_by).bind(*seq);
                    *seq += 1;
                }
                q.execute(&mut *tx).await?;
            }
            for new in batch {
                let m = &new.message;
                for (position, (a, wrapped)) in new.attachments.iter().enumerate() {
                    let done = sqlx::query(
                        "UPDATE message_attachments SET message_id = $1, position = $2, thread_id = $3, \
                         wrapped_data_key = $4 WHERE id = $5 AND message_id IS NULL"
                    ).bind(&m.id).bind(position as i64).bind(&m.thread_id).bind(wrapped).bind(a)
                    .execute(&mut *tx).await?.rows_affected();
                    if done != 1 {
                        tx.rollback().await?;
                        return Err(crate::StoreError::Conflict("attachment (already sent)"));
                    }
                }
            }
            for chunk in changes.receipts.chunks(ROWS_PER_STATEMENT) {
                let sql = format!("INSERT INTO message_receipts (message_id, mailbox, delivered_at) VALUES {}",
                    crate::values_rows(chunk.len(), 3));
                let mut q = sqlx::query(&sql);
                for (message, mailbox, delivered) in chunk {
                    q = q.bind(*message).bind(*mailbox).bind(*delivered);
                }
                q.execute(&mut *tx).await?;
            }
            let history: Vec<_> = changes.history.iter().collect();
            for chunk in history.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO recipient_history (sender, recipient, messages, last_at) VALUES {} \
                     ON CONFLICT (sender, recipient) DO UPDATE SET \
                     messages = recipient_history.messages + excluded.messages, last_at = excluded.last_at",
                    crate::values_rows(chunk.len(), 4));
                let mut q = sqlx::query(&sql);
                for ((sender, recipient), (messages, last_at)) in chunk {
                    q = q.bind(*sender).bind(*recipient).bind(*messages).bind(*last_at);
                }
                q.execute(&mut *tx).await?;
            }
            let notices: Vec<_> = changes.notices.iter().collect();
            for chunk in notices.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO message_notices (mailbox, waiting, first_at) VALUES {} \
                     ON CONFLICT (mailbox) DO UPDATE SET waiting = message_notices.waiting + excluded.waiting",
                    crate::values_rows(chunk.len(), 3));
                let mut q = sqlx::query(&sql);
                for (mailbox, (waiting, first_at)) in chunk {
                    q = q.bind(*mailbox).bind(*waiting).bind(*first_at);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn messages_of(&self, thread_id: &str) -> Result<Vec<MessageRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE thread_id = $1 ORDER BY seq"
        )).bind(thread_id).fetch_all(pool).await)?)
    }

    pub async fn message(&self, id: &str) -> Result<Option<MessageRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        )).bind(id).fetch_optional(pool).await)?)
    }

    /// Destroy a message's keys and content (recall or expiry). Returns the blob keys of its
    /// attachments, for the caller to delete, or None if it was already destroyed.
    pub async fn destroy_message(
        &self,
        id: &str,
        reason: &str,
        by: &str,
        at: i64,
    ) -> Result<Option<Vec<String>>> {
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE messages SET body_sealed = NULL, wrapped_data_key = NULL, destroyed_at = $2, \
                 destroyed_reason = $3, destroyed_by = $4 WHERE id = $1 AND destroyed_at IS NULL"
            ).bind(id).bind(at).bind(reason).bind(by).execute(&mut *tx).await?.rows_affected();
            if done == 0 {
                tx.rollback().await?;
                None
            } else {
                let blobs: Vec<String> = sqlx::query_scalar(
                    "SELECT blob_key FROM message_attachments WHERE message_id = $1"
                ).bind(id).fetch_all(&mut *tx).await?;
                sqlx::query("UPDATE message_attachments SET wrapped_data_key = NULL, filename_sealed = $2 WHERE message_id = $1")
                    .bind(id).bind(Vec::<u8>::new()).execute(&mut *tx).await?;
                tx.commit().await?;
                Some(blobs)
            }
        }))
    }

    /// Messages whose expiry has come and whose keys still exist.
    pub async fn expired_messages(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT id FROM messages WHERE destroyed_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2"
        ).bind(now).bind(limit).fetch_all(pool).await)?)
    }

    pub async fn insert_attachment(&self, a: &AttachmentRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(&format!(
            "INSERT INTO message_attachments ({ATTACHMENT_COLUMNS}) VALUES ($1, NULL, NULL, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&a.id).bind(&a.uploaded_by).bind(&a.blob_key).bind(&a.wrapped_data_key)
        .bind(&a.filename_sealed).bind(&a.media_type).bind(a.size).bind(a.ciphertext_size)
        .bind(&a.ciphertext_hash).bind(a.created_at)
        .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn attachment(&self, id: &str) -> Result<Option<AttachmentRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM message_attachments WHERE id = $1"
        )).bind(id).fetch_optional(pool).await)?)
    }

    /// The sent attachments of a thread's messages, in message order.
    pub async fn attachments_of(&self, thread_id: &str) -> Result<Vec<AttachmentRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM message_attachments WHERE thread_id = $1 AND message_id IS NOT NULL \
             ORDER BY message_id, position"
        )).bind(thread_id).fetch_all(pool).await)?)
    }

    pub async fn receipts_of(&self, thread_id: &str) -> Result<Vec<ReceiptRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT r.message_id, r.mailbox, r.delivered_at, r.read_at, r.read_by FROM message_receipts r \
             JOIN messages m ON m.id = r.message_id WHERE m.thread_id = $1 ORDER BY r.message_id, r.mailbox"
        ).bind(thread_id).fetch_all(pool).await)?)
    }

    /// Mark the messages a reader was shown (`message_ids`) delivered and read for a mailbox,
    /// by `reader`. Returns how many were newly read.
    pub async fn mark_read(
        &self,
        message_ids: &[String],
        mailbox: &str,
        reader: &str,
        at: i64,
    ) -> Result<u64> {
        if message_ids.is_empty() {
            return Ok(0);
        }
        let delivered = format!(
            "UPDATE message_receipts SET delivered_at = $2 WHERE mailbox = $1 AND delivered_at IS NULL \
             AND message_id IN ({})",
            crate::numbered_params(3, message_ids.len())
        );
        let read = format!(
            "UPDATE message_receipts SET read_at = $2, read_by = $3 WHERE mailbox = $1 AND read_at IS NULL \
             AND message_id IN ({})",
            crate::numbered_params(4, message_ids.len())
        );
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut q = sqlx::query(&delivered).bind(mailbox).bind(at);
            for id in message_ids {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await?;
            let mut q = sqlx::query(&read).bind(mailbox).bind(at).bind(reader);
            for id in message_ids {
                q = q.bind(id);
            }
            let n = q.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        }))
    }

    /// Unread messages per thread for these mailboxes (messages still readable only), with
    /// each thread's patient and category: (thread, count, patient, category).
    pub async fn unread_by_thread(
        &self,
        mailboxes: &[String],
    ) -> Result<Vec<(String, i64, Option<String>, Option<String>)>> {
        if mailboxes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT m.thread_id, COUNT(DISTINCT m.id), t.patient_id, t.category FROM message_receipts r \
             JOIN messages m ON m.id = r.message_id JOIN threads t ON t.id = m.thread_id \
             JOIN thread_participants p ON p.thread_id = m.thread_id AND p.mailbox = r.mailbox AND p.removed_at IS NULL \
             WHERE r.read_at IS NULL AND m.destroyed_at IS NULL AND r.mailbox IN ({}) \
             GROUP BY m.thread_id, t.patient_id, t.category",
            crate::numbered_params(1, mailboxes.len())
        );
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql);
            for m in mailboxes {
                q = q.bind(m);
            }
            q.fetch_all(pool).await
        })?)
    }

    /// Whom `sender` has written to, most frequent first.
    pub async fn recipient_history(&self, sender: &str) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT recipient, messages FROM recipient_history WHERE sender = $1 ORDER BY messages DESC, recipient LIMIT 500"
        ).bind(sender).fetch_all(pool).await)?)
    }

    /// Take the notices whose first message is at least as old as `before`: removed and
    /// returned as (mailbox, waiting, first_at) in one statement, so a count added meanwhile is
    /// not lost and two servers never both take the same notice.
    pub async fn take_message_notices(&self, before: i64) -> Result<Vec<(String, i64, i64)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "DELETE FROM message_notices WHERE first_at <= $1 RETURNING mailbox, waiting, first_at"
        ).bind(before).fetch_all(pool).await)?)
    }

    /// Put a notice back after it could not be sent (its count added to any new one).
    pub async fn requeue_message_notice(
        &self,
        mailbox: &str,
        waiting: i64,
        first_at: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO message_notices (mailbox, waiting, first_at) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox) DO UPDATE SET waiting = message_notices.waiting + $2, first_at = $3"
        ).bind(mailbox).bind(waiting).bind(first_at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Attachments uploaded before `before` and never sent: (id, blob key).
    pub async fn unsent_attachments(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, blob_key FROM message_attachments WHERE message_id IS NULL AND created_at < $1 \
             ORDER BY created_at LIMIT $2"
        ).bind(before).bind(limit).fetch_all(pool).await)?)
    }

    /// Forget an unsent attachment (its blob is the caller's to delete). False if it was sent
    /// meanwhile.
    pub async fn delete_unsent_attachment(&self, id: &str) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "DELETE FROM message_attachments WHERE id = $1 AND message_id IS NULL"
        ).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Forget the waiting count of a mailbox whose owner has now looked.
    pub async fn clear_message_notice(&self, mailbox: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM message_notices WHERE mailbox = $1")
            .bind(mailbox).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}
