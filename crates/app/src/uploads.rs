//! Resumable uploads (the tus 1.0 protocol's model): a large file arrives in as many requests
//! as it takes, and a dropped connection costs at most the last unfinished segment. An upload
//! becomes a document version (for a patient) or a message attachment (waiting, in its
//! uploader's mailbox, to be sent).
//!
//! The upload is checked and permitted (and, for a document, audited) when it is created,
//! exactly like a one-request upload. Content is encrypted as it arrives and only whole, authenticated
//! 64 KiB segments are kept, as ciphertext, in a staging file under the data directory; the
//! offset the server reports is always a whole number of segments, so plaintext never rests
//! anywhere. When the last byte arrives the blob is sealed, its hash computed over the staged
//! file, and it is moved to the blob store, signed and recorded (a document) or recorded as the uploader's unsent attachment.
//!
//! Staging files live on the server that received them: several servers behind a load
//! balancer need a shared staging directory or sticky routing for `/api/v1/uploads`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use sealroom_crypto::envelope::{
    blob_len, Binding, BlobEncryptor, EnvelopeError, SymmetricKey, HEADER, SEGMENT, TAG,
};
use sealroom_crypto::token::new_id;
use sealroom_domain::{AuditAction, DataCategory};
use sealroom_store::UploadRow;

use crate::accounts::Actor;
use crate::documents::{
    hash_stream, AbandonGuard, DocumentView, FileDescription, Prepared, Target, UploadTarget,
    VersionFacts,
};
use crate::keyring::data_key_context;
use crate::messaging::attachments::{binding as attachment_binding, StoredAttachment};
use crate::messaging::{Reader, UploadedAttachment};
use crate::patient_access::staff_id;
use crate::{App, AppError};

/// What an upload becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A document version of a patient's record.
    Document,
    /// A message attachment, waiting to be sent.
    Attachment,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Document => "document",
            Purpose::Attachment => "attachment",
        }
    }

    fn of(row: &UploadRow) -> Result<Purpose, AppError> {
        match row.purpose.as_str() {
            "document" => Ok(Purpose::Document),
            "attachment" => Ok(Purpose::Attachment),
            other => Err(AppError::internal(format!("an upload has purpose {other}"))),
        }
    }
}

/// What to create an upload for.
pub enum NewUpload {
    Document(UploadTarget),
    Attachment(FileDescription),
}

/// Where an upload stands.
#[derive(Debug, Clone, Serialize)]
pub struct UploadStatus {
    pub id: String,
    pub purpose: Purpose,
    /// The document's id, or the attachment's.
    pub object_id: String,
    /// Bytes the server holds; the client continues from here.
    pub offset: u64,
    pub length: u64,
    pub expires_at: i64,
}

/// What a request's worth of content achieved.
pub enum UploadProgress {
    /// More is expected, from this offset.
    Partial(UploadStatus),
    /// The last byte arrived: the document version is stored and signed.
    Document(Box<DocumentView>),
    /// The last byte arrived: the attachment waits to be sent with a message.
    Attachment(UploadedAttachment),
}

/// The sealed description of a staged document (title, file name and note stay sealed).
#[derive(Serialize, Deserialize)]
struct Staged {
    target: Target,
    category: String,
    filename: String,
    media_type: String,
    author_id: String,
}

/// The sealed description of a staged attachment.
#[derive(Serialize, Deserialize)]
struct StagedAttachment {
    filename: String,
    media_type: String,
}

/// Uploads receiving content in this process right now: one request at a time per upload.
fn busy() -> &'static Mutex<HashSet<String>> {
    static BUSY: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    BUSY.get_or_init(Default::default)
}

struct Claim(String);

impl Claim {
    fn take(id: &str) -> Result<Claim, AppError> {
        let mut set = busy().lock().unwrap_or_else(|e| e.into_inner());
        if !set.insert(id.to_owned()) {
            return Err(AppError::Conflict(
                "another request is sending content to this upload; send one request at a time"
                    .into(),
            ));
        }
        Ok(Claim(id.to_owned()))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        busy()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

fn description_owner(upload_id: &str) -> String {
    format!("upload:{upload_id}")
}

/// Ciphertext bytes of `segments` committed segments, header included.
fn committed_len(segments: u64) -> u64 {
    HEADER as u64 + segments * (SEGMENT + TAG) as u64
}

impl App {
    fn staged_path(&self, upload_id: &str) -> PathBuf {
        self.settings()
            .documents
            .staging_dir
            .join(format!("{upload_id}.part"))
    }

    /// Create a resumable upload of `length` bytes: checked and permitted now, content later.
    pub async fn create_upload(
        &self,
        actor: &Actor,
        new: NewUpload,
        length: u64,
    ) -> Result<UploadStatus, AppError> {
        self.expire_uploads().await?;
        if length > self.settings().documents.max_upload_bytes {
            return Err(self.limit_error());
        }
        match new {
            NewUpload::Document(target) => self.create_document_upload(actor, target, length).await,
            NewUpload::Attachment(file) => self.create_attachment_upload(actor, file, length).await,
        }
    }

    async fn create_document_upload(
        &self,
        actor: &Actor,
        target: UploadTarget,
        length: u64,
    ) -> Result<UploadStatus, AppError> {
        let prepared = self.prepare(actor, target).await?;
        let Prepared {
            mut guard,
            target,
            document_id,
            patient_id,
            category,
            version,
            file,
            author_id,
            ..
        } = prepared;
        let id = new_id();
        let staged = Staged {
            target,
            category: category.as_str().to_owned(),
            filename: file.filename,
            media_type: file.media_type,
            author_id,
        };
        let description = serde_json::to_vec(&staged).map_err(AppError::internal)?;
        let patient_key = self
            .patient_key(&patient_id)
            .await
            .map_err(|e| guard.fail(e))?;
        let data_key = SymmetricKey::generate();
        let encryptor = BlobEncryptor::new(
            &data_key,
            &Binding {
                document: document_id.clone(),
                version,
            },
        )
        .map_err(|e| guard.fail(AppError::internal(e)))?;
        let row = UploadRow {
            id: id.clone(),
            purpose: Purpose::Document.as_str().to_owned(),
            owner: actor.name(),
            patient_id: Some(patient_id),
            object_id: document_id.clone(),
            version: i64::from(version),
            description_sealed: self.secrets().seal(&description, &description_owner(&id)),
            wrapped_data_key: patient_key.wrap(&data_key, &data_key_context(&document_id, version)),
            header: encryptor.header().to_vec(),
            length: i64::try_from(length).map_err(AppError::internal)?,
            segments: 0,
            created_at: 0,
            expires_at: 0,
        };
        let status = self.stage(row).await.map_err(|e| guard.fail(e))?;
        // From here the upload outlives this request: it ends by completion, cancellation or
        // expiry, each audited where it happens.
        guard.disarm();
        Ok(status)
    }

    async fn create_attachment_upload(
        &self,
        actor: &Actor,
        file: FileDescription,
        length: u64,
    ) -> Result<UploadStatus, AppError> {
        let (file, attachment_id, data_key, wrapped) = self.begin_attachment(actor, &file).await?;
        let id = new_id();
        let description = serde_json::to_vec(&StagedAttachment {
            filename: file.filename,
            media_type: file.media_type,
        })
        .map_err(AppError::internal)?;
        let encryptor = BlobEncryptor::new(&data_key, &attachment_binding(&attachment_id))
            .map_err(AppError::internal)?;
        self.stage(UploadRow {
            id: id.clone(),
            purpose: Purpose::Attachment.as_str().to_owned(),
            owner: actor.name(),
            patient_id: None,
            object_id: attachment_id,
            version: 1,
            description_sealed: self.secrets().seal(&description, &description_owner(&id)),
            wrapped_data_key: wrapped,
            header: encryptor.header().to_vec(),
            length: i64::try_from(length).map_err(AppError::internal)?,
            segments: 0,
            created_at: 0,
            expires_at: 0,
        })
        .await
    }

    /// Create the staging file with the blob's header, and record the upload; its creation
    /// and expiry times are set here (the row's are ignored).
    async fn stage(&self, mut row: UploadRow) -> Result<UploadStatus, AppError> {
        let path = self.staged_path(&row.id);
        let staged_file = async {
            let dir = &self.settings().documents.staging_dir;
            tokio::fs::create_dir_all(dir).await?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).await?;
            }
            let mut f = tokio::fs::File::create_new(&path).await?;
            f.write_all(&row.header).await?;
            f.sync_all().await
        };
        staged_file.await.map_err(|e| {
            AppError::Unavailable(format!(
                "the staging directory could not be written ({e}); nothing was saved, try again"
            ))
        })?;
        row.created_at = self.now().as_seconds();
        row.expires_at = row.created_at + self.settings().documents.upload_expiry.as_seconds();
        if let Err(e) = self.store().insert_upload(&row).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
        status_of(&row)
    }

    /// The caller's own upload, still current; anyone else's, or none, is not found. The
    /// caller is checked as at creation; for an attachment, the checked uploader comes back.
    async fn owned_upload(
        &self,
        actor: &Actor,
        upload_id: &str,
    ) -> Result<(UploadRow, Option<Reader>), AppError> {
        let row = self
            .store()
            .upload(upload_id)
            .await?
            .filter(|u| u.owner == actor.name())
            .ok_or(AppError::NotFound)?;
        let uploader = match Purpose::of(&row)? {
            Purpose::Document => {
                staff_id(actor, true)?;
                None
            }
            Purpose::Attachment => Some(self.attachment_writer(actor).await?),
        };
        if row.expires_at <= self.now().as_seconds() {
            self.drop_upload(actor, &row, "the upload expired before it was complete")
                .await?;
            return Err(AppError::NotFound);
        }
        Ok((row, uploader))
    }

    /// Where an upload stands (only its owner sees it).
    pub async fn upload_status(
        &self,
        actor: &Actor,
        upload_id: &str,
    ) -> Result<UploadStatus, AppError> {
        let (row, _) = self.owned_upload(actor, upload_id).await?;
        status_of(&row)
    }

    /// An upload's data key and what its ciphertext is bound to; `uploader` is the checked
    /// uploader of an attachment.
    async fn upload_key(
        &self,
        row: &UploadRow,
        uploader: Option<&Reader>,
    ) -> Result<(SymmetricKey, Binding), AppError> {
        let version = u32::try_from(row.version).map_err(AppError::internal)?;
        match (Purpose::of(row)?, uploader) {
            (Purpose::Document, _) => {
                let patient_id = row
                    .patient_id
                    .as_deref()
                    .ok_or_else(|| AppError::internal("a document upload has no patient"))?;
                let data_key = self
                    .patient_key(patient_id)
                    .await?
                    .unwrap(
                        &row.wrapped_data_key,
                        &data_key_context(&row.object_id, version),
                    )
                    .map_err(AppError::internal)?;
                let binding = Binding {
                    document: row.object_id.clone(),
                    version,
                };
                Ok((data_key, binding))
            }
            (Purpose::Attachment, Some(uploader)) => {
                let data_key = self
                    .unsent_attachment_key(uploader, &row.object_id, &row.wrapped_data_key)
                    .await?;
                Ok((data_key, attachment_binding(&row.object_id)))
            }
            (Purpose::Attachment, None) => Err(AppError::internal(
                "an attachment upload's key was asked for without its uploader",
            )),
        }
    }

    /// Receive content from `offset`, which must be where the upload stands.
    pub async fn continue_upload(
        &self,
        actor: &Actor,
        upload_id: &str,
        offset: u64,
    ) -> Result<UploadWriter, AppError> {
        let claim = Claim::take(upload_id)?;
        let (row, uploader) = self.owned_upload(actor, upload_id).await?;
        let status = status_of(&row)?;
        if offset != status.offset {
            return Err(AppError::Conflict(format!(
                "Upload-Offset is {offset}, but the server holds {} bytes of this upload; ask for the offset (HEAD) and continue from there",
                status.offset
            )));
        }
        let (data_key, binding) = self.upload_key(&row, uploader.as_ref()).await?;
        let segments = u32::try_from(row.segments).map_err(AppError::internal)?;
        let encryptor = match BlobEncryptor::resume(&data_key, &binding, &row.header, segments) {
            Ok(encryptor) => encryptor,
            Err(EnvelopeError::NotABlob) => {
                return Err(AppError::Gone(
                    "this upload was started by an earlier version of Sealroom and cannot be \
                     continued; cancel it and upload the file again"
                        .into(),
                ))
            }
            Err(e) => return Err(AppError::internal(e)),
        };
        let path = self.staged_path(&row.id);
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .map_err(|e| AppError::internal(format!("a staged upload is unreadable: {e}")))?;
        let committed = committed_len(row.segments as u64);
        let on_disk = file.metadata().await.map_err(AppError::internal)?.len();
        if on_disk < committed {
            return Err(AppError::internal(
                "a staged upload is shorter than its committed segments",
            ));
        }
        file.seek(std::io::SeekFrom::Start(committed))
            .await
            .map_err(AppError::internal)?;
        Ok(UploadWriter {
            _claim: claim,
            app: self.clone(),
            actor: actor.clone(),
            row,
            data_key,
            encryptor,
            sealed: Vec::new(),
            file,
            position: committed,
            unacknowledged_end: on_disk,
            failed: false,
            received: offset,
        })
    }

    /// Cancel an upload: its staged content is removed.
    pub async fn cancel_upload(&self, actor: &Actor, upload_id: &str) -> Result<(), AppError> {
        let _claim = Claim::take(upload_id)?;
        let (row, _) = self.owned_upload(actor, upload_id).await?;
        self.drop_upload(actor, &row, "cancelled by the uploader")
            .await
            .map(|_| ())
    }

    /// Remove uploads past their expiry; returns how many.
    pub async fn expire_uploads(&self) -> Result<usize, AppError> {
        let now = self.now().as_seconds();
        let expired = self.store().expired_uploads(now).await?;
        let system = Actor {
            principal: crate::policy::Principal::Operator,
            stepped_up: false,
            client: crate::Client {
                address: "server".into(),
                user_agent: "upload expiry".into(),
            },
        };
        let mut done = 0;
        for row in &expired {
            // One receiving content right now is left to finish (or to expire next time).
            let Ok(_claim) = Claim::take(&row.id) else {
                continue;
            };
            if self
                .drop_upload(&system, row, "the upload expired before it was complete")
                .await?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Remove a finished upload's staging file (if still there) and record. What was recorded
    /// decides the answer: a record that cannot be removed is logged, and expires later (then
    /// audited as abandoned, though its content was kept).
    async fn forget_finished_upload(&self, row: &UploadRow) {
        let _ = tokio::fs::remove_file(self.staged_path(&row.id)).await;
        if let Err(e) = self.store().delete_upload(&row.id).await {
            tracing::warn!(error = %e, "a finished upload's record could not be removed");
        }
    }

    /// Remove an upload and its staged content, and audit why; false (and no audit) if
    /// something else removed it first.
    async fn drop_upload(
        &self,
        actor: &Actor,
        row: &UploadRow,
        why: &str,
    ) -> Result<bool, AppError> {
        if !self.store().delete_upload(&row.id).await? {
            return Ok(false);
        }
        let _ = tokio::fs::remove_file(self.staged_path(&row.id)).await;
        let received = status_of(row)?.offset;
        match (Purpose::of(row)?, &row.patient_id) {
            (Purpose::Document, Some(patient_id)) => {
                self.audit(
                    &actor.name(),
                    AuditAction::DocumentUploadAbandoned,
                    &format!("patient:{patient_id}"),
                    "failure",
                    &actor.client,
                    json!({
                        "document": row.object_id,
                        "version": row.version,
                        "received_bytes": received,
                        "why": why,
                    }),
                )
                .await?
            }
            _ => {
                self.audit(
                    &actor.name(),
                    AuditAction::AttachmentUploadAbandoned,
                    &format!("attachment:{}", row.object_id),
                    "failure",
                    &actor.client,
                    json!({
                        "owner": row.owner,
                        "received_bytes": received,
                        "why": why,
                    }),
                )
                .await?
            }
        }
        Ok(true)
    }
}

fn status_of(row: &UploadRow) -> Result<UploadStatus, AppError> {
    let length = row.length as u64;
    Ok(UploadStatus {
        id: row.id.clone(),
        purpose: Purpose::of(row)?,
        object_id: row.object_id.clone(),
        offset: (row.segments as u64 * SEGMENT as u64).min(length),
        length,
        expires_at: row.expires_at,
    })
}

/// Content arriving for a resumable upload: encrypted as it comes, whole segments appended to
/// the staging file. [`Self::commit`] makes them count, whether the request ended well or not.
pub struct UploadWriter {
    _claim: Claim,
    app: App,
    actor: Actor,
    row: UploadRow,
    data_key: SymmetricKey,
    encryptor: BlobEncryptor,
    /// Ciphertext of the piece being written, reused from piece to piece.
    sealed: Vec<u8>,
    file: tokio::fs::File,
    /// Where the next ciphertext byte goes in the staging file.
    position: u64,
    /// The end of ciphertext an earlier request wrote but never committed (a crash, a failed
    /// write or a failed completion). Resealing a segment reuses its nonce, which is harmless
    /// only for the same plaintext: new ciphertext up to here must equal what is there.
    unacknowledged_end: u64,
    /// A write failed: nothing of this request may be committed.
    failed: bool,
    received: u64,
}

/// Append `ciphertext` to the staging file, after checking it against any unacknowledged
/// ciphertext it would replace.
async fn put(
    file: &mut tokio::fs::File,
    position: &mut u64,
    unacknowledged_end: u64,
    ciphertext: &[u8],
) -> Result<(), AppError> {
    let overlap = usize::try_from(unacknowledged_end.saturating_sub(*position))
        .unwrap_or(usize::MAX)
        .min(ciphertext.len());
    let staging_error = |e: std::io::Error| {
        AppError::Unavailable(format!("the staging file could not be written ({e})"))
    };
    if overlap > 0 {
        let mut earlier = vec![0u8; overlap];
        file.read_exact(&mut earlier).await.map_err(staging_error)?;
        if earlier[..] != ciphertext[..overlap] {
            return Err(AppError::Conflict(
                "the content differs from what was sent for this upload before; cancel it \
                 and upload the file again"
                    .into(),
            ));
        }
    }
    file.write_all(&ciphertext[overlap..])
        .await
        .map_err(staging_error)?;
    *position += ciphertext.len() as u64;
    Ok(())
}

impl UploadWriter {
    pub async fn write(&mut self, plaintext: &[u8]) -> Result<(), AppError> {
        self.received += plaintext.len() as u64;
        if self.received > self.row.length as u64 {
            return Err(AppError::InvalidInput(format!(
                "more content than the {} bytes announced in Upload-Length",
                self.row.length
            )));
        }
        let mut sealed = std::mem::take(&mut self.sealed);
        sealed.clear();
        if let Err(e) = self.encryptor.update_into(plaintext, &mut sealed) {
            self.failed = true;
            return Err(AppError::internal(e));
        }
        let result = put(
            &mut self.file,
            &mut self.position,
            self.unacknowledged_end,
            &sealed,
        )
        .await;
        self.sealed = sealed;
        self.failed |= result.is_err();
        result
    }

    /// Keep what arrived: the whole segments count, the unfinished one is dropped (the client
    /// resends it). When everything has arrived, the document version is stored.
    pub async fn commit(mut self) -> Result<UploadProgress, AppError> {
        if self.failed {
            return Err(AppError::Unavailable(
                "this part of the upload was not kept; ask for the offset (HEAD) and continue \
                 from there"
                    .into(),
            ));
        }
        let length = self.row.length as u64;
        if self.received == length {
            return self.complete().await;
        }
        self.file.sync_all().await.map_err(AppError::internal)?;
        let to = i64::from(self.encryptor.segments_written());
        if to != self.row.segments
            && !self
                .app
                .store()
                .advance_upload(&self.row.id, self.row.segments, to)
                .await?
        {
            return Err(AppError::Conflict(
                "the upload moved on meanwhile; ask for the offset (HEAD) and continue from there"
                    .into(),
            ));
        }
        self.row.segments = to;
        Ok(UploadProgress::Partial(status_of(&self.row)?))
    }

    async fn complete(self) -> Result<UploadProgress, AppError> {
        let UploadWriter {
            app,
            actor,
            row,
            data_key,
            encryptor,
            mut file,
            mut position,
            unacknowledged_end,
            received,
            _claim,
            ..
        } = self;
        let last = encryptor.finish().map_err(AppError::internal)?;
        put(&mut file, &mut position, unacknowledged_end, &last).await?;
        // Nothing an earlier attempt left may follow the last segment.
        file.set_len(position).await.map_err(AppError::internal)?;
        file.sync_all().await.map_err(AppError::internal)?;
        drop(file);
        let path = app.staged_path(&row.id);
        // The hash that is signed is computed over exactly the bytes the blob store receives.
        let staged = tokio::fs::File::open(&path)
            .await
            .map_err(AppError::internal)?;
        let (ciphertext_size, hash) = hash_stream(tokio_util::io::ReaderStream::with_capacity(
            staged,
            256 * 1024,
        ))
        .await
        .map_err(AppError::internal)?;
        if ciphertext_size != blob_len(received) {
            return Err(AppError::internal("a staged upload has the wrong length"));
        }
        let sealed = app
            .secrets()
            .open(&row.description_sealed, &description_owner(&row.id))
            .map_err(AppError::internal)?;
        let description = match Purpose::of(&row)? {
            Purpose::Document => {
                Description::Document(serde_json::from_slice(&sealed).map_err(AppError::internal)?)
            }
            Purpose::Attachment => Description::Attachment(
                serde_json::from_slice(&sealed).map_err(AppError::internal)?,
            ),
        };
        let blob_key = new_id();
        app.blobs().put_file(&blob_key, &path).await.map_err(|e| {
            AppError::Unavailable(format!(
                "the document store could not be written ({e}); send the last request again"
            ))
        })?;
        let stored = Stored {
            blob_key,
            size: received,
            ciphertext_size,
            ciphertext_hash: hash,
        };
        match description {
            Description::Document(staged) => {
                complete_document(&app, &actor, &row, staged, stored).await
            }
            Description::Attachment(staged) => {
                complete_attachment(&app, &actor, &row, &data_key, staged, stored).await
            }
        }
    }
}

/// What a staged upload becomes, unsealed.
enum Description {
    Document(Staged),
    Attachment(StagedAttachment),
}

/// A finished upload's ciphertext, in the blob store.
struct Stored {
    blob_key: String,
    size: u64,
    ciphertext_size: u64,
    ciphertext_hash: [u8; 32],
}

async fn complete_document(
    app: &App,
    actor: &Actor,
    row: &UploadRow,
    staged: Staged,
    stored: Stored,
) -> Result<UploadProgress, AppError> {
    let patient_id = row
        .patient_id
        .clone()
        .ok_or_else(|| AppError::internal("a document upload has no patient"))?;
    let version = u32::try_from(row.version).map_err(AppError::internal)?;
    let mut guard = AbandonGuard::new(app, actor, &row.object_id, &patient_id, version);
    let recorded = async {
        app.record_version(
            actor,
            staged.target,
            VersionFacts {
                document_id: row.object_id.clone(),
                patient_id: patient_id.clone(),
                category: DataCategory::parse(&staged.category).map_err(AppError::internal)?,
                version,
                file: FileDescription {
                    filename: staged.filename,
                    media_type: staged.media_type,
                    declared_size: Some(stored.size),
                },
                author_id: staged.author_id,
                uploader_id: staff_id(actor, true)?.to_owned(),
                wrapped_data_key: row.wrapped_data_key.clone(),
                blob_key: stored.blob_key.clone(),
                size: stored.size,
                ciphertext_size: stored.ciphertext_size,
                ciphertext_hash: stored.ciphertext_hash,
            },
        )
        .await
    }
    .await;
    app.forget_finished_upload(row).await;
    match recorded {
        Ok(view) => {
            guard.disarm();
            Ok(UploadProgress::Document(Box::new(view)))
        }
        Err(e) => {
            let _ = app.blobs().delete(&stored.blob_key).await;
            Err(guard.fail(e))
        }
    }
}

/// Record the attachment as the uploader's, unsent. The staged file has moved to the blob
/// store, so the upload cannot be continued whatever happens: it is removed either way.
async fn complete_attachment(
    app: &App,
    actor: &Actor,
    row: &UploadRow,
    data_key: &SymmetricKey,
    staged: StagedAttachment,
    stored: Stored,
) -> Result<UploadProgress, AppError> {
    let recorded = app
        .record_attachment(
            actor,
            data_key,
            StoredAttachment {
                id: row.object_id.clone(),
                blob_key: stored.blob_key.clone(),
                wrapped_data_key: row.wrapped_data_key.clone(),
                file: FileDescription {
                    filename: staged.filename,
                    media_type: staged.media_type,
                    declared_size: Some(stored.size),
                },
                size: stored.size,
                ciphertext_size: stored.ciphertext_size,
                ciphertext_hash: stored.ciphertext_hash,
            },
        )
        .await;
    match recorded {
        Ok(attachment) => {
            app.forget_finished_upload(row).await;
            Ok(UploadProgress::Attachment(attachment))
        }
        // Recorded, but its audit failed: the attachment stands (its blob with it).
        Err(e) if app.store().attachment(&row.object_id).await?.is_some() => {
            app.forget_finished_upload(row).await;
            Err(e)
        }
        Err(e) => {
            let _ = app.blobs().delete(&stored.blob_key).await;
            app.drop_upload(actor, row, "the attachment could not be recorded")
                .await?;
            Err(e)
        }
    }
}
