//! Clinical documents and their versions, erasure requests, resumable uploads in progress,
//! and the wrapped keys (secrets root, patients' keys, staff signing keys).
//!
//! Everything here is either an identifier, a size, a hash, a signature or sealed bytes:
//! document content lives in a blob store, encrypted, and the keys that open it are wrapped.

use crate::{conflict_on_unique, on_pool, Result, Store};

/// Insert a version row through `$exec` (a pool or a transaction).
macro_rules! insert_version {
    ($exec:expr, $v:expr) => {{
        let v = $v;
        sqlx::query(&format!(
            "INSERT INTO document_versions ({VERSION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(&v.document_id)
        .bind(v.version)
        .bind(&v.blob_key)
        .bind(&v.wrapped_data_key)
        .bind(&v.filename_sealed)
        .bind(&v.media_type)
        .bind(v.size)
        .bind(v.ciphertext_size)
        .bind(&v.ciphertext_hash)
        .bind(v.content_format)
        .bind(&v.author_id)
        .bind(&v.uploaded_by)
        .bind(&v.signing_key_id)
        .bind(&v.signature)
        .bind(v.signed_at)
        .bind(&v.correction_note_sealed)
        .execute($exec)
        .await
        .map(|_| ())
    }};
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyringRow {
    pub wrapped_root: Vec<u8>,
    pub origin: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub id: String,
    pub user_id: String,
    pub public_key: Vec<u8>,
    pub wrapped_private: Option<Vec<u8>>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct DocumentRow {
    pub id: String,
    pub patient_id: String,
    pub episode_id: Option<String>,
    pub test_id: Option<String>,
    pub category: String,
    pub kind: String,
    pub retention_class: String,
    pub retain_until: i64,
    pub title_sealed: Option<Vec<u8>>,
    pub created_by: String,
    pub created_at: i64,
    pub legal_hold_at: Option<i64>,
    pub legal_hold_by: Option<String>,
    pub legal_hold_reason_sealed: Option<Vec<u8>>,
    pub shredded_at: Option<i64>,
    pub shred_reason: Option<String>,
    /// Released to the patient space: when, and by whom (`user:<id>` or `rule:<rule>`).
    pub released_at: Option<i64>,
    pub released_by: Option<String>,
    /// Released automatically from then on (a rule "after N days").
    pub release_due_at: Option<i64>,
}

const DOCUMENT_COLUMNS: &str = "id, patient_id, episode_id, test_id, category, kind, retention_class, retain_until, title_sealed, created_by, created_at, legal_hold_at, legal_hold_by, legal_hold_reason_sealed, shredded_at, shred_reason, released_at, released_by, release_due_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub document_id: String,
    pub version: i64,
    pub blob_key: String,
    pub wrapped_data_key: Option<Vec<u8>>,
    pub filename_sealed: Option<Vec<u8>>,
    pub media_type: String,
    pub size: i64,
    pub ciphertext_size: i64,
    /// BLAKE3 of the stored blob (content format 2).
    pub ciphertext_hash: Vec<u8>,
    /// How the blob is encrypted and hashed; see `sealroom_crypto::envelope`.
    pub content_format: i64,
    pub author_id: String,
    pub uploaded_by: String,
    pub signing_key_id: String,
    pub signature: Vec<u8>,
    pub signed_at: i64,
    pub correction_note_sealed: Option<Vec<u8>>,
}

const VERSION_COLUMNS: &str = "document_id, version, blob_key, wrapped_data_key, filename_sealed, media_type, size, ciphertext_size, ciphertext_hash, content_format, author_id, uploaded_by, signing_key_id, signature, signed_at, correction_note_sealed";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ErasureRow {
    pub id: String,
    pub document_id: String,
    pub legal_basis: String,
    pub reason_sealed: Vec<u8>,
    pub requested_by: String,
    pub requested_at: i64,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// The document's patient (read from the document; not stored with the request).
    pub patient_id: String,
}

const ERASURE_COLUMNS: &str =
    "id, document_id, legal_basis, reason_sealed, requested_by, requested_at, state, decided_by, decided_at";
/// Requests with their document's patient.
const SELECT_ERASURES: &str =
    "SELECT e.id, e.document_id, e.legal_basis, e.reason_sealed, e.requested_by, \
     e.requested_at, e.state, e.decided_by, e.decided_at, d.patient_id \
     FROM erasure_requests e JOIN documents d ON d.id = e.document_id";

/// A resumable upload in progress: a document version, or a message attachment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: String,
    /// `document` or `attachment`.
    pub purpose: String,
    /// The uploader, by the actor's name (`user:…`, `patient_account:…`).
    pub owner: String,
    /// The patient of a document; none for an attachment.
    pub patient_id: Option<String>,
    /// The document's id, or the attachment's.
    pub object_id: String,
    pub version: i64,
    pub description_sealed: Vec<u8>,
    pub wrapped_data_key: Vec<u8>,
    pub header: Vec<u8>,
    pub length: i64,
    pub segments: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

const UPLOAD_COLUMNS: &str = "id, purpose, owner, patient_id, object_id, version, description_sealed, wrapped_data_key, header, length, segments, created_at, expires_at";

/// A key to re-wrap during master-key rotation: which table, which row, the wrapped bytes.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub kind: WrappedKind,
    pub id: String,
    pub wrapped: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappedKind {
    Root,
    Patient,
    Signing,
    /// A messaging participant's mailbox key.
    Mailbox,
    /// The signing key of a message author who is not staff.
    AuthorSigning,
}

impl Store {
    pub async fn keyring(&self) -> Result<Option<KeyringRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT wrapped_root, origin, created_at, rotated_at FROM keyring WHERE id = 1"
        ).fetch_optional(pool).await)?)
    }

    /// Record the secrets root; a second instance racing to do the same gets `Conflict`.
    pub async fn insert_keyring(&self, wrapped_root: &[u8], origin: &str, at: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO keyring (id, wrapped_root, origin, created_at) VALUES (1, $1, $2, $3)"
        ).bind(wrapped_root).bind(origin).bind(at).execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "keyring"))?;
        Ok(())
    }

    /// Every key wrapped directly under the master key.
    pub async fn master_wrapped_keys(&self) -> Result<Vec<WrappedKey>> {
        let mut keys = Vec::new();
        if let Some(k) = self.keyring().await? {
            keys.push(WrappedKey {
                kind: WrappedKind::Root,
                id: "root".into(),
                wrapped: k.wrapped_root,
            });
        }
        let patients: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT patient_id, wrapped_key FROM patient_keys ORDER BY patient_id"
        ).fetch_all(pool).await)?;
        keys.extend(patients.into_iter().map(|(id, wrapped)| WrappedKey {
            kind: WrappedKind::Patient,
            id,
            wrapped,
        }));
        let signing: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, wrapped_private FROM signing_keys WHERE wrapped_private IS NOT NULL ORDER BY id"
        ).fetch_all(pool).await)?;
        keys.extend(signing.into_iter().map(|(id, wrapped)| WrappedKey {
            kind: WrappedKind::Signing,
            id,
            wrapped,
        }));
        let mailboxes: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT mailbox, wrapped_key FROM mailbox_keys ORDER BY mailbox"
        ).fetch_all(pool).await)?;
        keys.extend(mailboxes.into_iter().map(|(id, wrapped)| WrappedKey {
            kind: WrappedKind::Mailbox,
            id,
            wrapped,
        }));
        let authors: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, wrapped_private FROM author_signing_keys ORDER BY id"
        ).fetch_all(pool).await)?;
        keys.extend(authors.into_iter().map(|(id, wrapped)| WrappedKey {
            kind: WrappedKind::AuthorSigning,
            id,
            wrapped,
        }));
        Ok(keys)
    }

    /// Replace every master-wrapped key in one transaction: all or nothing.
    pub async fn replace_master_wrapped_keys(&self, keys: &[WrappedKey], at: i64) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for k in keys {
                let q = match k.kind {
                    WrappedKind::Root => sqlx::query(
                        "UPDATE keyring SET wrapped_root = $1, rotated_at = $2 WHERE id = 1",
                    ).bind(&k.wrapped).bind(at),
                    WrappedKind::Patient => sqlx::query(
                        "UPDATE patient_keys SET wrapped_key = $1 WHERE patient_id = $2",
                    ).bind(&k.wrapped).bind(&k.id),
                    WrappedKind::Signing => sqlx::query(
                        "UPDATE signing_keys SET wrapped_private = $1 WHERE id = $2",
                    ).bind(&k.wrapped).bind(&k.id),
                    WrappedKind::Mailbox => sqlx::query(
                        "UPDATE mailbox_keys SET wrapped_key = $1 WHERE mailbox = $2",
                    ).bind(&k.wrapped).bind(&k.id),
                    WrappedKind::AuthorSigning => sqlx::query(
                        "UPDATE author_signing_keys SET wrapped_private = $1 WHERE id = $2",
                    ).bind(&k.wrapped).bind(&k.id),
                };
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn patient_key(&self, patient_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT wrapped_key FROM patient_keys WHERE patient_id = $1"
        ).bind(patient_id).fetch_optional(pool).await)?)
    }

    /// Store a patient's key unless one exists; returns the one in force either way.
    pub async fn insert_patient_key(
        &self,
        patient_id: &str,
        wrapped: &[u8],
        at: i64,
    ) -> Result<Vec<u8>> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO patient_keys (patient_id, wrapped_key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (patient_id) DO NOTHING"
        ).bind(patient_id).bind(wrapped).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT wrapped_key FROM patient_keys WHERE patient_id = $1"
        ).bind(patient_id).fetch_one(pool).await)?)
    }

    pub async fn current_signing_key(&self, user_id: &str) -> Result<Option<SigningKeyRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, public_key, wrapped_private, created_at, retired_at FROM signing_keys \
             WHERE user_id = $1 AND retired_at IS NULL"
        ).bind(user_id).fetch_optional(pool).await)?)
    }

    pub async fn signing_key(&self, id: &str) -> Result<Option<SigningKeyRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, public_key, wrapped_private, created_at, retired_at FROM signing_keys WHERE id = $1"
        ).bind(id).fetch_optional(pool).await)?)
    }

    /// Store a person's first signing key; `Conflict` if another request made one meanwhile.
    pub async fn insert_signing_key(&self, k: &SigningKeyRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO signing_keys (id, user_id, public_key, wrapped_private, created_at) VALUES ($1, $2, $3, $4, $5)"
        ).bind(&k.id).bind(&k.user_id).bind(&k.public_key).bind(&k.wrapped_private).bind(k.created_at)
        .execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "signing key"))?;
        Ok(())
    }

    /// Retire a person's signing key (the leaver): the private half is destroyed, the public
    /// half kept so their signatures still verify.
    pub async fn retire_signing_key(&self, user_id: &str, at: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE signing_keys SET wrapped_private = NULL, retired_at = $2 WHERE user_id = $1 AND retired_at IS NULL"
        ).bind(user_id).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// A new document with its first version, in one transaction.
    pub async fn insert_document(&self, d: &DocumentRow, v: &VersionRow) -> Result<()> {
        let doc_sql = format!(
            "INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL, NULL, NULL, $12, $13, $14)"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(&doc_sql)
                .bind(&d.id).bind(&d.patient_id).bind(&d.episode_id).bind(&d.test_id)
                .bind(&d.category).bind(&d.kind).bind(&d.retention_class).bind(d.retain_until)
                .bind(&d.title_sealed).bind(&d.created_by).bind(d.created_at)
                .bind(d.released_at).bind(&d.released_by).bind(d.release_due_at)
                .execute(&mut *tx).await?;
            insert_version!(&mut *tx, v)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Release a document to the patient space (unless it already is).
    pub async fn release_document(&self, id: &str, at: i64, by: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE documents SET released_at = $2, released_by = $3 \
             WHERE id = $1 AND released_at IS NULL AND shredded_at IS NULL")
            .bind(id).bind(at).bind(by).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// A patient's documents visible in the patient space at `now`, newest first.
    /// Patients with documents released by an "after N days" rule whose day has come and
    /// who were not told yet.
    pub async fn patients_with_due_release_notices(&self, now: i64) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT patient_id FROM documents WHERE released_at IS NULL \
             AND release_notified_at IS NULL AND release_due_at <= $1 AND shredded_at IS NULL \
             ORDER BY patient_id LIMIT 1000")
            .bind(now).fetch_all(pool).await)?)
    }

    /// Claim a patient's due, untold documents in one statement; returns how many this call
    /// claimed (0 when another instance claimed them first).
    pub async fn claim_release_notices(&self, patient_id: &str, now: i64) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "UPDATE documents SET release_notified_at = $2 WHERE patient_id = $1 \
             AND released_at IS NULL AND release_notified_at IS NULL AND release_due_at <= $2 \
             AND shredded_at IS NULL")
            .bind(patient_id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?)
    }

    pub async fn released_documents_of(
        &self,
        patient_id: &str,
        now: i64,
    ) -> Result<Vec<DocumentRow>> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE patient_id = $1 AND shredded_at IS NULL \
             AND (released_at IS NOT NULL OR release_due_at <= $2) ORDER BY created_at DESC, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).bind(now).fetch_all(pool).await)?,
        )
    }

    /// A correction: the next version. `Conflict` if that version number was taken meanwhile.
    pub async fn insert_version(&self, v: &VersionRow) -> Result<()> {
        on_pool!(self, pool => insert_version!(pool, v))
            .map_err(|e| conflict_on_unique(e, "document version"))?;
        Ok(())
    }

    pub async fn document(&self, id: &str) -> Result<Option<DocumentRow>> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// A patient's documents in the given categories, newest first.
    pub async fn documents_of(
        &self,
        patient_id: &str,
        categories: &[String],
    ) -> Result<Vec<DocumentRow>> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE patient_id = $1 ORDER BY created_at DESC, id"
        );
        let rows: Vec<DocumentRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter(|d| categories.contains(&d.category))
            .collect())
    }

    /// A document's versions, oldest first.
    pub async fn versions(&self, document_id: &str) -> Result<Vec<VersionRow>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM document_versions WHERE document_id = $1 ORDER BY version"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(document_id).fetch_all(pool).await)?)
    }

    /// Documents whose retention ended before `now` and that are still held in full.
    pub async fn documents_due(&self, now: i64) -> Result<Vec<DocumentRow>> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE shredded_at IS NULL AND retain_until <= $1 \
             ORDER BY retain_until, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(now).fetch_all(pool).await)?)
    }

    pub async fn set_legal_hold(
        &self,
        document_id: &str,
        hold: Option<(i64, &str, &[u8])>,
    ) -> Result<()> {
        let (at, by, reason) = match hold {
            Some((at, by, reason)) => (Some(at), Some(by), Some(reason)),
            None => (None, None, None),
        };
        on_pool!(self, pool => sqlx::query(
            "UPDATE documents SET legal_hold_at = $2, legal_hold_by = $3, legal_hold_reason_sealed = $4 WHERE id = $1"
        ).bind(document_id).bind(at).bind(by).bind(reason).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Destroy a document's keys and sealed descriptions (the blobs are removed by the
    /// caller). Returns false when it was already shredded or is under legal hold.
    pub async fn shred_document(&self, document_id: &str, at: i64, reason: &str) -> Result<bool> {
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE documents SET shredded_at = $2, shred_reason = $3, title_sealed = NULL, \
                 legal_hold_reason_sealed = NULL WHERE id = $1 AND shredded_at IS NULL AND legal_hold_at IS NULL"
            ).bind(document_id).bind(at).bind(reason).execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE document_versions SET wrapped_data_key = NULL, filename_sealed = NULL, \
                     correction_note_sealed = NULL WHERE document_id = $1"
                ).bind(document_id).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE erasure_requests SET reason_sealed = $2 WHERE document_id = $1"
                ).bind(document_id).bind(Vec::<u8>::new()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            n == 1
        });
        Ok(done)
    }

    pub async fn insert_erasure(&self, e: &ErasureRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO erasure_requests ({ERASURE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&e.id).bind(&e.document_id).bind(&e.legal_basis).bind(&e.reason_sealed)
            .bind(&e.requested_by).bind(e.requested_at).bind(&e.state)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn erasure(&self, id: &str) -> Result<Option<ErasureRow>> {
        let sql = format!("{SELECT_ERASURES} WHERE e.id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn pending_erasures(&self) -> Result<Vec<ErasureRow>> {
        let sql =
            format!("{SELECT_ERASURES} WHERE e.state = 'pending' ORDER BY e.requested_at, e.id");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
    }

    /// Decide a pending request; false if it was no longer pending.
    pub async fn decide_erasure(&self, id: &str, state: &str, by: &str, at: i64) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE erasure_requests SET state = $2, decided_by = $3, decided_at = $4 WHERE id = $1 AND state = 'pending'"
        ).bind(id).bind(state).bind(by).bind(at).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    pub async fn insert_upload(&self, u: &UploadRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&u.id).bind(&u.purpose).bind(&u.owner).bind(&u.patient_id).bind(&u.object_id).bind(u.version)
            .bind(&u.description_sealed).bind(&u.wrapped_data_key).bind(&u.header).bind(u.length)
            .bind(u.segments).bind(u.created_at).bind(u.expires_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Move an upload forward from `from` committed segments to `to`; false if another
    /// request moved it meanwhile.
    pub async fn advance_upload(&self, id: &str, from: i64, to: i64) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE uploads SET segments = $3 WHERE id = $1 AND segments = $2"
        ).bind(id).bind(from).bind(to).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Remove an upload's record; false if it was already gone.
    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    pub async fn expired_uploads(&self, now: i64) -> Result<Vec<UploadRow>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE expires_at <= $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(now).fetch_all(pool).await)?)
    }
}
