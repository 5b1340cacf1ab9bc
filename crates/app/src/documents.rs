//! Clinical documents: upload (a result, report, letter, image or any file) for a patient,
//! corrections as new versions, listing and download, each through the policy decision point
//! and the audit log.
//!
//! Content streams through in constant memory: each piece is encrypted (see
//! [`sealroom_crypto::envelope`]) and written to the blob store as it arrives, and a download
//! decrypts as it reads. Each version is signed by its uploader over its metadata and the
//! BLAKE3 hash of its ciphertext; a read checks the signature and the hash before it sends a
//! byte, and refuses plainly (with an audit event and an alert) when either fails.

use std::io;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;

use sealroom_crypto::envelope::{
    blob_len, Binding, BlobDecryptor, BlobEncryptor, SymmetricKey, CONTENT_FORMAT,
};
use sealroom_crypto::signing::{DocumentStatement, StaffSigningKey};
use sealroom_crypto::token::new_id;
use sealroom_domain::{AccessAction, AuditAction, DataCategory, Timestamp};
use sealroom_store::{AlertRow, DocumentRow, SigningKeyRow, StoreError, UserStatus, VersionRow};

use crate::accounts::Actor;
use crate::blobs::{BlobError, BlobWriter};
use crate::keyring::{data_key_context, patient_context, signing_context};
use crate::patient_access::staff_id;
use crate::policy::Principal;
use crate::release::{initial_release, ReleaseView};
use crate::{App, AppError};

const MAX_TITLE_CHARS: usize = 200;
const MAX_FILENAME_CHARS: usize = 255;
const MAX_NOTE_CHARS: usize = 2000;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Result,
    Report,
    Letter,
    Image,
    Other,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Result => "result",
            DocumentKind::Report => "report",
            DocumentKind::Letter => "letter",
            DocumentKind::Image => "image",
            DocumentKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Result<DocumentKind, AppError> {
        Ok(match s {
            "result" => DocumentKind::Result,
            "report" => DocumentKind::Report,
            "letter" => DocumentKind::Letter,
            "image" => DocumentKind::Image,
            "other" => DocumentKind::Other,
            _ => {
                return Err(AppError::InvalidInput(
                    "kind must be one of result, report, letter, image or other".into(),
                ))
            }
        })
    }
}

/// A new document, as described by the uploader.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub patient_id: String,
    pub category: DataCategory,
    pub kind: DocumentKind,
    pub title: String,
    pub file: FileDescription,
    /// A configured retention class; the configured default when absent.
    pub retention_class: Option<String>,
    pub episode_id: Option<String>,
    pub test_id: Option<String>,
    /// The staff member who wrote it, when not the uploader.
    pub author_id: Option<String>,
}

/// The file inside a version.
#[derive(Debug, Clone)]
pub struct FileDescription {
    pub filename: String,
    pub media_type: String,
    /// The size the client announced, checked against the limit before anything is read.
    pub declared_size: Option<u64>,
}

/// What an upload will become.
pub enum UploadTarget {
    New(NewDocument),
    Correction(Correction),
}

/// A correction: the next version of an existing document.
#[derive(Debug, Clone)]
pub struct Correction {
    pub document_id: String,
    pub file: FileDescription,
    pub note: String,
    pub author_id: Option<String>,
}

/// Who signed a version, and whether the signature verified.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureView {
    pub signer_id: String,
    pub signer_name: String,
    pub signed_at: i64,
    /// `verified`, `invalid`, or `unsupported_format` (a version stored by a pre-release
    /// build, which this build neither verifies nor reads).
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub version: u32,
    pub filename: String,
    pub media_type: String,
    pub size: u64,
    pub author_id: String,
    pub author_name: String,
    pub uploaded_by: String,
    pub created_at: i64,
    pub correction_note: Option<String>,
    /// BLAKE3 of the stored (encrypted) blob, in hex.
    pub ciphertext_blake3: String,
    pub signature: SignatureView,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub id: String,
    pub patient_id: String,
    pub category: DataCategory,
    pub kind: String,
    /// Absent once the document was destroyed.
    pub title: Option<String>,
    pub episode_id: Option<String>,
    pub test_id: Option<String>,
    pub retention_class: String,
    pub retain_until: i64,
    pub legal_hold: bool,
    pub created_at: i64,
    /// When and why it was destroyed (`retention:<class>` or `erasure:<request>`).
    pub shredded_at: Option<i64>,
    pub shred_reason: Option<String>,
    /// Oldest first; empty once destroyed.
    pub versions: Vec<VersionView>,
    /// Whether the patient can see it in the patient space, and since when.
    pub release: ReleaseView,
}

/// A patient's documents the reader may see, and the categories withheld.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentList {
    pub documents: Vec<DocumentView>,
    pub withheld_categories: Vec<DataCategory>,
}

/// A download: the version's description and its plaintext, authenticated segment by segment.
pub struct DocumentDownload {
    pub version: VersionView,
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

/// Staff display names already looked up in this request.
#[derive(Default)]
pub(crate) struct StaffNames(std::collections::HashMap<String, String>);

/// A checked, permitted upload about to receive its content. Dropped, it is audited as
/// abandoned.
pub(crate) struct Prepared {
    pub(crate) guard: AbandonGuard,
    pub(crate) actor: Actor,
    pub(crate) target: Target,
    pub(crate) document_id: String,
    pub(crate) patient_id: String,
    pub(crate) category: DataCategory,
    pub(crate) version: u32,
    pub(crate) file: FileDescription,
    pub(crate) author_id: String,
    pub(crate) uploader_id: String,
}

/// What is being written: a new document or the next version of one.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum Target {
    New(Box<DocumentRow>),
    Correction { note_sealed: Vec<u8> },
}

/// Audits an upload that ends without being finished (the client went away, the request was
/// cancelled), whatever path it ends by.
pub(crate) struct AbandonGuard {
    app: App,
    actor: Actor,
    document_id: String,
    patient_id: String,
    version: u32,
    received: u64,
    why: Option<String>,
    armed: bool,
}

impl AbandonGuard {
    pub(crate) fn new(
        app: &App,
        actor: &Actor,
        document_id: &str,
        patient_id: &str,
        version: u32,
    ) -> Self {
        AbandonGuard {
            app: app.clone(),
            actor: actor.clone(),
            document_id: document_id.to_owned(),
            patient_id: patient_id.to_owned(),
            version,
            received: 0,
            why: None,
            armed: true,
        }
    }

    /// Note why the upload stops here (the audit event says it), and pass the error on.
    pub(crate) fn fail(&mut self, e: AppError) -> AppError {
        self.why = Some(e.to_string());
        e
    }

    /// The upload ended well (or continues beyond this request): nothing to audit on drop.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let app = self.app.clone();
        let actor = self.actor.clone();
        let details = json!({
            "document": self.document_id,
            "version": self.version,
            "received_bytes": self.received,
            "why": self.why.clone().unwrap_or_else(|| "the upload did not complete".into()),
        });
        let subject = format!("patient:{}", self.patient_id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = app
                    .audit(
                        &actor.name(),
                        AuditAction::DocumentUploadAbandoned,
                        &subject,
                        "failure",
                        &actor.client,
                        details,
                    )
                    .await;
            });
        }
    }
}

/// An upload in progress. Content given to [`Self::write`] is encrypted and stored at once;
/// dropped before [`Self::finish`], the upload leaves nothing behind (and is audited).
pub struct DocumentUpload {
    guard: AbandonGuard,
    app: App,
    actor: Actor,
    target: Target,
    document_id: String,
    patient_id: String,
    category: DataCategory,
    version: u32,
    file: FileDescription,
    author_id: String,
    uploader_id: String,
    wrapped_data_key: Vec<u8>,
    blob_key: String,
    encryptor: BlobEncryptor,
    /// Ciphertext of the piece being stored, reused from piece to piece.
    sealed: Vec<u8>,
    writer: BlobWriter,
    hasher: blake3::Hasher,
    size: u64,
    ciphertext_size: u64,
    limit: u64,
}

pub(crate) fn blob_error(e: BlobError) -> AppError {
    match e {
        BlobError::Missing => AppError::internal("a blob was missing"),
        BlobError::Io(m) => AppError::Unavailable(format!(
            "the document store could not be reached or written ({m}); nothing was saved, try again"
        )),
    }
}

fn check_text(what: &str, value: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::InvalidInput(format!(
            "the {what} must be 1 to {max} characters, without control characters"
        )));
    }
    Ok(v.to_owned())
}

/// A file name as given, reduced to its last path component.
fn check_filename(name: &str) -> Result<String, AppError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let base = check_text("file name", base, MAX_FILENAME_CHARS)?;
    if base == "." || base == ".." {
        return Err(AppError::InvalidInput("the file name is not valid".into()));
    }
    Ok(base)
}

/// A media type `type/subtype` (parameters dropped); `application/octet-stream` when empty.
fn check_media_type(mt: &str) -> Result<String, AppError> {
    let essence = mt
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() {
        return Ok("application/octet-stream".into());
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match essence.split_once('/') {
        Some((t, s)) if token(t) && token(s) => Ok(essence),
        _ => Err(AppError::InvalidInput(
            "the media type must look like type/subtype, for example application/pdf".into(),
        )),
    }
}

impl App {
    pub(crate) fn limit_error(&self) -> AppError {
        AppError::TooLarge(format!(
            "the file is larger than the limit of {} MiB",
            self.settings().documents.max_upload_bytes / (1024 * 1024)
        ))
    }

    /// The file's name and media type checked, and a body announced far beyond the limit
    /// refused at once (a body only a little over it is read up to the limit and refused then,
    /// so the client sees the answer).
    pub(crate) fn checked_file(&self, file: &FileDescription) -> Result<FileDescription, AppError> {
        const SLACK: u64 = 16 * 1024 * 1024;
        let limit = self.settings().documents.max_upload_bytes;
        if file
            .declared_size
            .is_some_and(|n| n > limit.saturating_add(SLACK))
        {
            return Err(self.limit_error());
        }
        Ok(FileDescription {
            filename: check_filename(&file.filename)?,
            media_type: check_media_type(&file.media_type)?,
            declared_size: file.declared_size,
        })
    }

    /// A staff signing key's private half, unwrapped from under the master key.
    pub(crate) fn open_signing_key(
        &self,
        id: &str,
        wrapped: &[u8],
    ) -> Result<StaffSigningKey, AppError> {
        StaffSigningKey::unwrap(&self.keys().master, wrapped, &signing_context(id))
            .map_err(AppError::internal)
    }

    /// The person's signing key, made on first use.
    pub(crate) async fn signing_key_of(
        &self,
        user_id: &str,
    ) -> Result<(String, StaffSigningKey), AppError> {
        let master = &self.keys().master;
        for _ in 0..2 {
            if let Some(row) = self.store().current_signing_key(user_id).await? {
                let wrapped = row.wrapped_private.ok_or_else(|| {
                    AppError::internal("a current signing key has no private half")
                })?;
                let key = self.open_signing_key(&row.id, &wrapped)?;
                return Ok((row.id, key));
            }
            let key = StaffSigningKey::generate();
            let id = new_id();
            let row = SigningKeyRow {
                wrapped_private: Some(key.wrap(master, &signing_context(&id))),
                public_key: key.public_key().to_vec(),
                id: id.clone(),
                user_id: user_id.to_owned(),
                created_at: self.now().as_seconds(),
                retired_at: None,
            };
            match self.store().insert_signing_key(&row).await {
                Ok(()) => return Ok((id, key)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::internal("the signing key could not be created"))
    }

    /// The patient's key, made on first use.
    pub(crate) async fn patient_key(&self, patient_id: &str) -> Result<SymmetricKey, AppError> {
        let master = &self.keys().master;
        let context = patient_context(patient_id);
        let wrapped = match self.store().patient_key(patient_id).await? {
            Some(w) => w,
            None => {
                let fresh = master.wrap(&SymmetricKey::generate(), &context);
                self.store()
                    .insert_patient_key(patient_id, &fresh, self.now().as_seconds())
                    .await?
            }
        };
        master
            .unwrap(&wrapped, &context)
            .map_err(AppError::internal)
    }

    async fn check_author(
        &self,
        author_id: Option<&str>,
        uploader: &str,
    ) -> Result<String, AppError> {
        let Some(author) = author_id.filter(|a| *a != uploader) else {
            return Ok(uploader.to_owned());
        };
        match self.store().user_by_id(author).await? {
            Some(u) if UserStatus::parse(&u.status) == Some(UserStatus::Active) => Ok(u.id),
            _ => Err(AppError::InvalidInput(
                "the author is not a staff member of this organization".into(),
            )),
        }
    }

    /// Start uploading a new document or a correction. Refused (and audited) unless the
    /// person may write the document's category for the patient.
    pub async fn start_upload(
        &self,
        actor: &Actor,
        target: UploadTarget,
    ) -> Result<DocumentUpload, AppError> {
        let prepared = self.prepare(actor, target).await?;
        self.begin_upload(prepared).await
    }

    /// Start uploading a new document.
    pub async fn start_document(
        &self,
        actor: &Actor,
        new: NewDocument,
    ) -> Result<DocumentUpload, AppError> {
        self.start_upload(actor, UploadTarget::New(new)).await
    }

    /// Check what an upload will become and the person's right to write it (audited).
    pub(crate) async fn prepare(
        &self,
        actor: &Actor,
        target: UploadTarget,
    ) -> Result<Prepared, AppError> {
        match target {
            UploadTarget::New(new) => self.prepare_document(actor, new).await,
            UploadTarget::Correction(c) => self.prepare_correction(actor, c).await,
        }
    }

    async fn prepare_document(
        &self,
        actor: &Actor,
        new: NewDocument,
    ) -> Result<Prepared, AppError> {
        let uploader = staff_id(actor, true)?.to_owned();
        let title = check_text("title", &new.title, MAX_TITLE_CHARS)?;
        let file = self.checked_file(&new.file)?;
        let settings = &self.settings().documents;
        let class = new
            .retention_class
            .clone()
            .unwrap_or_else(|| settings.default_retention_class.clone());
        let Some(days) = settings.retention_classes.get(&class) else {
            let known: Vec<&str> = settings
                .retention_classes
                .keys()
                .map(String::as_str)
                .collect();
            return Err(AppError::InvalidInput(format!(
                "there is no retention class \"{class}\"; the configured classes are: {}",
                known.join(", ")
            )));
        };
        let document_id = new_id();
        self.require_patient_access(
            actor,
            &new.patient_id,
            new.category,
            AccessAction::Write,
            AuditAction::DocumentUploadStarted,
            json!({"document": document_id, "version": 1}),
        )
        .await?;
        // From here on, an upload that stops is audited as abandoned.
        let mut guard = AbandonGuard::new(self, actor, &document_id, &new.patient_id, 1);
        self.check_links(&new).await.map_err(|e| guard.fail(e))?;
        let author_id = self
            .check_author(new.author_id.as_deref(), &uploader)
            .await
            .map_err(|e| guard.fail(e))?;
        let now = self.now().as_seconds();
        let (released_at, released_by, release_due_at) =
            initial_release(self.settings().release.rule_for(new.category), now);
        let row = DocumentRow {
            id: document_id.clone(),
            patient_id: new.patient_id.clone(),
            episode_id: new.episode_id,
            test_id: new.test_id,
            category: new.category.as_str().to_owned(),
            kind: new.kind.as_str().to_owned(),
            retention_class: class,
            retain_until: now.saturating_add(days.saturating_mul(86_400)),
            title_sealed: Some(
                self.secrets()
                    .seal(title.as_bytes(), &title_owner(&document_id)),
            ),
            created_by: actor.name(),
            created_at: now,
            legal_hold_at: None,
            legal_hold_by: None,
            legal_hold_reason_sealed: None,
            shredded_at: None,
            shred_reason: None,
            released_at,
            released_by,
            release_due_at,
        };
        Ok(Prepared {
            guard,
            actor: actor.clone(),
            target: Target::New(Box::new(row)),
            document_id,
            patient_id: new.patient_id,
            category: new.category,
            version: 1,
            file,
            author_id,
            uploader_id: uploader,
        })
    }

    /// Start uploading a correction of a document: its next version.
    /// The episode and test a new document names must be the patient's own.
    async fn check_links(&self, new: &NewDocument) -> Result<(), AppError> {
        if let Some(e) = &new.episode_id {
            let episodes = self.store().episodes_of(&new.patient_id).await?;
            if !episodes.iter().any(|x| &x.id == e) {
                return Err(AppError::InvalidInput(
                    "the episode is not one of this patient's".into(),
                ));
            }
        }
        if let Some(t) = &new.test_id {
            let tests = self.store().tests_of(&new.patient_id).await?;
            if !tests.iter().any(|x| &x.id == t) {
                return Err(AppError::InvalidInput(
                    "the test is not one of this patient's".into(),
                ));
            }
        }
        Ok(())
    }

    async fn prepare_correction(
        &self,
        actor: &Actor,
        correction: Correction,
    ) -> Result<Prepared, AppError> {
        let uploader = staff_id(actor, true)?.to_owned();
        let note = check_text("correction note", &correction.note, MAX_NOTE_CHARS)?;
        let file = self.checked_file(&correction.file)?;
        let doc = self
            .store()
            .document(&correction.document_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let category = DataCategory::parse(&doc.category).map_err(AppError::internal)?;
        let versions = self.store().versions(&doc.id).await?;
        let version = u32::try_from(versions.len() + 1).map_err(AppError::internal)?;
        self.require_patient_access(
            actor,
            &doc.patient_id,
            category,
            AccessAction::Write,
            AuditAction::DocumentUploadStarted,
            json!({"document": doc.id, "version": version}),
        )
        .await?;
        let mut guard = AbandonGuard::new(self, actor, &doc.id, &doc.patient_id, version);
        if doc.shredded_at.is_some() {
            return Err(guard.fail(AppError::Gone(
                "this document was destroyed; it cannot be corrected".into(),
            )));
        }
        let author_id = self
            .check_author(correction.author_id.as_deref(), &uploader)
            .await
            .map_err(|e| guard.fail(e))?;
        let note_sealed = self
            .secrets()
            .seal(note.as_bytes(), &note_owner(&doc.id, version));
        Ok(Prepared {
            guard,
            actor: actor.clone(),
            target: Target::Correction { note_sealed },
            document_id: doc.id,
            patient_id: doc.patient_id,
            category,
            version,
            file,
            author_id,
            uploader_id: uploader,
        })
    }

    async fn begin_upload(&self, p: Prepared) -> Result<DocumentUpload, AppError> {
        let Prepared {
            mut guard,
            actor,
            target,
            document_id,
            patient_id,
            category,
            version,
            file,
            author_id,
            uploader_id,
        } = p;
        let (document_id, patient_id) = (document_id.as_str(), patient_id.as_str());
        let patient_key = self
            .patient_key(patient_id)
            .await
            .map_err(|e| guard.fail(e))?;
        let data_key = SymmetricKey::generate();
        let wrapped_data_key = patient_key.wrap(&data_key, &data_key_context(document_id, version));
        let binding = Binding {
            document: document_id.to_owned(),
            version,
        };
        let encryptor = BlobEncryptor::new(&data_key, &binding)
            .map_err(|e| guard.fail(AppError::internal(e)))?;
        let blob_key = new_id();
        let writer = self
            .blobs()
            .create(&blob_key)
            .await
            .map_err(|e| guard.fail(blob_error(e)))?;
        Ok(DocumentUpload {
            guard,
            app: self.clone(),
            actor: actor.clone(),
            target,
            document_id: document_id.to_owned(),
            patient_id: patient_id.to_owned(),
            category,
            version,
            file,
            author_id,
            uploader_id,
            wrapped_data_key,
            blob_key,
            encryptor,
            sealed: Vec::new(),
            writer,
            hasher: blake3::Hasher::new(),
            size: 0,
            ciphertext_size: 0,
            limit: self.settings().documents.max_upload_bytes,
        })
    }
}

impl DocumentUpload {
    /// Encrypt and store the next piece of content.
    pub async fn write(&mut self, plaintext: &[u8]) -> Result<(), AppError> {
        self.size += plaintext.len() as u64;
        self.guard.received = self.size;
        if self.size > self.limit {
            return Err(self.app.limit_error());
        }
        let mut sealed = std::mem::take(&mut self.sealed);
        sealed.clear();
        self.encryptor
            .update_into(plaintext, &mut sealed)
            .map_err(AppError::internal)?;
        let stored = self.store_ciphertext(&sealed).await;
        self.sealed = sealed;
        stored
    }

    async fn store_ciphertext(&mut self, ciphertext: &[u8]) -> Result<(), AppError> {
        if ciphertext.is_empty() {
            return Ok(());
        }
        self.hasher.update(ciphertext);
        self.ciphertext_size += ciphertext.len() as u64;
        self.writer.write(ciphertext).await.map_err(blob_error)
    }

    /// Seal the last segment, sign, and record the version.
    pub async fn finish(self) -> Result<DocumentView, AppError> {
        let DocumentUpload {
            mut guard,
            app,
            actor,
            target,
            document_id,
            patient_id,
            category,
            version,
            file,
            author_id,
            uploader_id,
            wrapped_data_key,
            blob_key,
            encryptor,
            mut writer,
            mut hasher,
            size,
            mut ciphertext_size,
            ..
        } = self;
        let last = encryptor.finish().map_err(AppError::internal)?;
        hasher.update(&last);
        ciphertext_size += last.len() as u64;
        writer.write(&last).await.map_err(blob_error)?;
        debug_assert_eq!(ciphertext_size, blob_len(size));
        writer.commit().await.map_err(blob_error)?;
        let recorded = app
            .record_version(
                &actor,
                target,
                VersionFacts {
                    document_id: document_id.clone(),
                    patient_id,
                    category,
                    version,
                    file,
                    author_id,
                    uploader_id,
                    wrapped_data_key,
                    blob_key: blob_key.clone(),
                    size,
                    ciphertext_size,
                    ciphertext_hash: *hasher.finalize().as_bytes(),
                },
            )
            .await;
        match &recorded {
            Ok(_) => guard.armed = false,
            Err(e) => {
                // Nothing refers to the blob: remove it rather than leave ciphertext orphaned.
                let _ = app.blobs().delete(&blob_key).await;
                guard.why = Some(e.to_string());
            }
        }
        recorded
    }

    /// Give up (the client sent too much, or bad content): nothing is kept, and the attempt
    /// is audited with `why`.
    pub fn abandon(mut self, why: &str) {
        self.guard.why = Some(why.to_owned());
    }
}

/// Everything known about a stored version before it is signed and recorded.
pub(crate) struct VersionFacts {
    pub document_id: String,
    pub patient_id: String,
    pub category: DataCategory,
    pub version: u32,
    pub file: FileDescription,
    pub author_id: String,
    pub uploader_id: String,
    pub wrapped_data_key: Vec<u8>,
    pub blob_key: String,
    pub size: u64,
    pub ciphertext_size: u64,
    pub ciphertext_hash: [u8; 32],
}

/// Length and BLAKE3 hash of a stream of ciphertext.
pub(crate) async fn hash_stream(
    mut stream: impl futures_util::Stream<Item = std::io::Result<Bytes>> + Unpin,
) -> std::io::Result<(u64, [u8; 32])> {
    let mut hasher = blake3::Hasher::new();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((len, *hasher.finalize().as_bytes()))
}

fn title_owner(document_id: &str) -> String {
    format!("document_title:{document_id}")
}
fn filename_owner(document_id: &str, version: u32) -> String {
    format!("document_filename:{document_id}:{version}")
}
fn note_owner(document_id: &str, version: u32) -> String {
    format!("document_note:{document_id}:{version}")
}

fn statement(doc: &DocumentRow, v: &VersionRow) -> Result<DocumentStatement, AppError> {
    Ok(DocumentStatement {
        document: v.document_id.clone(),
        version: u32::try_from(v.version).map_err(AppError::internal)?,
        patient: doc.patient_id.clone(),
        category: doc.category.clone(),
        media_type: v.media_type.clone(),
        size: u64::try_from(v.size).map_err(AppError::internal)?,
        ciphertext_hash: v
            .ciphertext_hash
            .as_slice()
            .try_into()
            .map_err(AppError::internal)?,
        signer: v.uploaded_by.clone(),
        signed_at: v.signed_at,
    })
}

impl App {
    /// Sign a stored version and record it (with its document when new), then audit.
    pub(crate) async fn record_version(
        &self,
        actor: &Actor,
        target: Target,
        f: VersionFacts,
    ) -> Result<DocumentView, AppError> {
        let now = self.now().as_seconds();
        let (signing_key_id, key) = self.signing_key_of(&f.uploader_id).await?;
        let statement = DocumentStatement {
            document: f.document_id.clone(),
            version: f.version,
            patient: f.patient_id.clone(),
            category: f.category.as_str().to_owned(),
            media_type: f.file.media_type.clone(),
            size: f.size,
            ciphertext_hash: f.ciphertext_hash,
            signer: f.uploader_id.clone(),
            signed_at: now,
        };
        let signature = key.sign(&statement).to_vec();
        let row = VersionRow {
            document_id: f.document_id.clone(),
            version: i64::from(f.version),
            blob_key: f.blob_key,
            wrapped_data_key: Some(f.wrapped_data_key),
            filename_sealed: Some(self.secrets().seal(
                f.file.filename.as_bytes(),
                &filename_owner(&f.document_id, f.version),
            )),
            media_type: f.file.media_type,
            size: i64::try_from(f.size).map_err(AppError::internal)?,
            ciphertext_size: i64::try_from(f.ciphertext_size).map_err(AppError::internal)?,
            ciphertext_hash: f.ciphertext_hash.to_vec(),
            content_format: i64::from(CONTENT_FORMAT),
            author_id: f.author_id,
            uploaded_by: f.uploader_id,
            signing_key_id,
            signature,
            signed_at: now,
            correction_note_sealed: match &target {
                Target::Correction { note_sealed } => Some(note_sealed.clone()),
                Target::New(_) => None,
            },
        };
        let released_now = matches!(&target, Target::New(doc) if doc.released_at.is_some());
        match target {
            Target::New(doc) => self.store().insert_document(&doc, &row).await?,
            Target::Correction { .. } => match self.store().insert_version(&row).await {
                Err(StoreError::Conflict(_)) => {
                    return Err(AppError::Conflict(
                        "another correction of this document was saved meanwhile; reload it and try again".into(),
                    ))
                }
                other => other?,
            },
        }
        self.audit(
            &actor.name(),
            AuditAction::DocumentStored,
            &format!("patient:{}", f.patient_id),
            "success",
            &actor.client,
            json!({
                "document": f.document_id,
                "version": f.version,
                "category": f.category.as_str(),
                "size": f.size,
                "ciphertext_blake3": hex::encode(f.ciphertext_hash),
            }),
        )
        .await?;
        if released_now {
            // A rule released it at once: the patient is told something is waiting.
            self.notify_new_document(&f.patient_id).await?;
        }
        let doc = self
            .store()
            .document(&f.document_id)
            .await?
            .ok_or_else(|| AppError::internal("a document vanished after it was stored"))?;
        self.document_view(doc, &mut StaffNames::default()).await
    }

    /// A staff member's display name, looked up once per request however many versions name
    /// them.
    pub(crate) async fn staff_name(
        &self,
        names: &mut StaffNames,
        user_id: &str,
    ) -> Result<String, AppError> {
        if let Some(n) = names.0.get(user_id) {
            return Ok(n.clone());
        }
        let name = self
            .store()
            .user_by_id(user_id)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_default();
        names.0.insert(user_id.to_owned(), name.clone());
        Ok(name)
    }

    /// Check a version's signature over its recorded metadata.
    async fn signature_status(&self, doc: &DocumentRow, v: &VersionRow) -> Result<bool, AppError> {
        let Some(key) = self.store().signing_key(&v.signing_key_id).await? else {
            return Ok(false);
        };
        Ok(key.user_id == v.uploaded_by
            && statement(doc, v)?
                .verify(&key.public_key, &v.signature)
                .is_ok())
    }

    pub(crate) async fn document_view(
        &self,
        doc: DocumentRow,
        names: &mut StaffNames,
    ) -> Result<DocumentView, AppError> {
        let mut versions = Vec::new();
        if doc.shredded_at.is_none() {
            for v in self.store().versions(&doc.id).await? {
                versions.push(self.version_view(&doc, &v, names).await?);
            }
        }
        let title = match &doc.title_sealed {
            Some(t) => Some(
                String::from_utf8(
                    self.secrets()
                        .open(t, &title_owner(&doc.id))
                        .map_err(AppError::internal)?,
                )
                .map_err(AppError::internal)?,
            ),
            None => None,
        };
        let release = ReleaseView::of(&doc, self.now().as_seconds());
        Ok(DocumentView {
            release,
            category: DataCategory::parse(&doc.category).map_err(AppError::internal)?,
            id: doc.id,
            patient_id: doc.patient_id,
            kind: doc.kind,
            title,
            episode_id: doc.episode_id,
            test_id: doc.test_id,
            retention_class: doc.retention_class,
            retain_until: doc.retain_until,
            legal_hold: doc.legal_hold_at.is_some(),
            created_at: doc.created_at,
            shredded_at: doc.shredded_at,
            shred_reason: doc.shred_reason,
            versions,
        })
    }

    async fn version_view(
        &self,
        doc: &DocumentRow,
        v: &VersionRow,
        names: &mut StaffNames,
    ) -> Result<VersionView, AppError> {
        let version = u32::try_from(v.version).map_err(AppError::internal)?;
        let open = |sealed: &Option<Vec<u8>>, owner: String| -> Result<Option<String>, AppError> {
            sealed
                .as_ref()
                .map(|s| {
                    self.secrets()
                        .open(s, &owner)
                        .map_err(AppError::internal)
                        .and_then(|b| String::from_utf8(b).map_err(AppError::internal))
                })
                .transpose()
        };
        // A version in another content format was signed over another statement: say so
        // rather than call it tampered.
        let status = if v.content_format != i64::from(CONTENT_FORMAT) {
            "unsupported_format"
        } else if self.signature_status(doc, v).await? {
            "verified"
        } else {
            "invalid"
        };
        Ok(VersionView {
            version,
            filename: open(&v.filename_sealed, filename_owner(&doc.id, version))?
                .unwrap_or_default(),
            media_type: v.media_type.clone(),
            size: u64::try_from(v.size).map_err(AppError::internal)?,
            author_id: v.author_id.clone(),
            author_name: self.staff_name(names, &v.author_id).await?,
            uploaded_by: v.uploaded_by.clone(),
            created_at: v.signed_at,
            correction_note: open(&v.correction_note_sealed, note_owner(&doc.id, version))?,
            ciphertext_blake3: hex::encode(&v.ciphertext_hash),
            signature: SignatureView {
                signer_id: v.uploaded_by.clone(),
                signer_name: self.staff_name(names, &v.uploaded_by).await?,
                signed_at: v.signed_at,
                status,
            },
        })
    }

    /// A patient's documents in the categories the reader may see (all but identification
    /// when none are asked), newest first.
    pub async fn documents(
        &self,
        actor: &Actor,
        patient_id: &str,
        categories: &[DataCategory],
    ) -> Result<DocumentList, AppError> {
        let asked = crate::patient_access::asked_or_clinical(categories);
        let permitted = self
            .open_patient(
                actor,
                patient_id,
                &asked,
                AccessAction::Read,
                AuditAction::DocumentsListed,
                json!({"view": "documents"}),
            )
            .await?
            .categories();
        let categories: Vec<String> = permitted.iter().map(|c| c.as_str().to_owned()).collect();
        let mut names = StaffNames::default();
        let mut documents = Vec::new();
        for d in self.store().documents_of(patient_id, &categories).await? {
            documents.push(self.document_view(d, &mut names).await?);
        }
        Ok(DocumentList {
            documents,
            withheld_categories: asked
                .into_iter()
                .filter(|c| !permitted.contains(c))
                .collect(),
        })
    }

    /// Decide and audit a read of one document; `NotFound` for one the reader may not know of.
    pub(crate) async fn open_document_row(
        &self,
        actor: &Actor,
        document_id: &str,
        action: AccessAction,
        audit: AuditAction,
        details: serde_json::Value,
    ) -> Result<DocumentRow, AppError> {
        if matches!(actor.principal, Principal::PatientAccount { .. }) {
            return self
                .open_document_for_account(actor, document_id, action, audit, details)
                .await;
        }
        staff_id(actor, action == AccessAction::Write)?;
        let doc = self
            .store()
            .document(document_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let category = DataCategory::parse(&doc.category).map_err(AppError::internal)?;
        self.require_patient_access(actor, &doc.patient_id, category, action, audit, details)
            .await?;
        Ok(doc)
    }

    /// One document with all its versions.
    pub async fn document(
        &self,
        actor: &Actor,
        document_id: &str,
    ) -> Result<DocumentView, AppError> {
        let doc = self
            .open_document_row(
                actor,
                document_id,
                AccessAction::Read,
                AuditAction::DocumentsListed,
                json!({"document": document_id, "view": "document"}),
            )
            .await?;
        self.document_view(doc, &mut StaffNames::default()).await
    }

    /// Open a version (the latest when `version` is `None`) for download, after checking its
    /// signature and the hash of every stored byte. Content is decrypted as it is sent, one
    /// authenticated segment at a time.
    pub async fn download_document(
        &self,
        actor: &Actor,
        document_id: &str,
        version: Option<u32>,
    ) -> Result<DocumentDownload, AppError> {
        let doc = self
            .open_document_row(
                actor,
                document_id,
                AccessAction::Read,
                AuditAction::DocumentRead,
                json!({"document": document_id, "version": version}),
            )
            .await?;
        if let Some(at) = doc.shredded_at {
            return Err(AppError::Gone(format!(
                "this document was destroyed on {} ({}); only the record that it existed remains",
                Timestamp(at).date_and_minute(),
                if doc
                    .shred_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("erasure:"))
                {
                    "approved erasure"
                } else {
                    "end of its retention period"
                }
            )));
        }
        let versions = self.store().versions(&doc.id).await?;
        let v = match version {
            None => versions.last(),
            Some(n) => versions.iter().find(|v| v.version == i64::from(n)),
        }
        .ok_or(AppError::NotFound)?
        .clone();
        let number = u32::try_from(v.version).map_err(AppError::internal)?;
        if v.content_format != i64::from(CONTENT_FORMAT) {
            return Err(AppError::Unavailable(format!(
                "version {number} of this document was stored by a pre-release build in content \
                 format {}, which this version of Sealroom does not read",
                v.content_format
            )));
        }
        if !self.signature_status(&doc, &v).await? {
            return Err(self
                .integrity_failure(actor, &doc, number, "the signature does not verify")
                .await);
        }
        match self.hash_blob(&v.blob_key).await {
            Ok((len, hash))
                if len == v.ciphertext_size as u64 && hash[..] == v.ciphertext_hash[..] => {}
            Ok(_) => {
                return Err(self
                    .integrity_failure(
                        actor,
                        &doc,
                        number,
                        "the stored content does not match its signed hash",
                    )
                    .await)
            }
            Err(BlobError::Missing) => {
                return Err(self
                    .integrity_failure(actor, &doc, number, "the stored content is missing")
                    .await)
            }
            Err(e) => return Err(blob_error(e)),
        }
        let patient_key = self.patient_key(&doc.patient_id).await?;
        let wrapped = v
            .wrapped_data_key
            .as_ref()
            .ok_or_else(|| AppError::internal("a live version has no data key"))?;
        let data_key = patient_key
            .unwrap(wrapped, &data_key_context(&doc.id, number))
            .map_err(AppError::internal)?;
        let decryptor = BlobDecryptor::new(
            &data_key,
            &Binding {
                document: doc.id.clone(),
                version: number,
            },
        )
        .map_err(AppError::internal)?;
        let blob = self.blobs().read(&v.blob_key).await.map_err(blob_error)?;
        let view = self
            .version_view(&doc, &v, &mut StaffNames::default())
            .await?;
        Ok(DocumentDownload {
            version: view,
            body: decrypting(blob, decryptor, self.clone(), actor.clone(), doc, number),
        })
    }

    /// Length and BLAKE3 hash of a stored blob, read in chunks.
    async fn hash_blob(&self, key: &str) -> Result<(u64, [u8; 32]), BlobError> {
        self.blobs().length_and_hash(key).await
    }

    /// Record a failed check (audit event and security alert) and say so plainly.
    pub(crate) async fn integrity_failure(
        &self,
        actor: &Actor,
        doc: &DocumentRow,
        version: u32,
        what: &str,
    ) -> AppError {
        let now = self.now().as_seconds();
        let _ = self
            .audit(
                &actor.name(),
                AuditAction::DocumentIntegrityFailed,
                &format!("patient:{}", doc.patient_id),
                "blocked",
                &actor.client,
                json!({"document": doc.id, "version": version, "check": what}),
            )
            .await;
        let _ = self
            .store()
            .insert_alert(&AlertRow {
                id: new_id(),
                kind: "document.integrity_failed".into(),
                subject: format!("document:{}", doc.id),
                created_at: now,
                acknowledged_at: None,
                acknowledged_by: None,
            })
            .await;
        tracing::error!(document = %doc.id, version, check = what, "a document failed its integrity check");
        AppError::Integrity(format!(
            "This document (version {version}) failed its integrity check: {what}. It was not sent, because its \
             stored copy was altered or damaged. The security officer has been alerted; other documents are not affected."
        ))
    }
}

/// Decrypt a blob stream; a segment that fails authentication ends the stream with an error
/// (and is audited), so nothing unauthenticated is ever sent.
fn decrypting(
    blob: BoxStream<'static, io::Result<Bytes>>,
    decryptor: BlobDecryptor,
    app: App,
    actor: Actor,
    doc: DocumentRow,
    version: u32,
) -> BoxStream<'static, io::Result<Bytes>> {
    enum Failure {
        Integrity,
        Read,
    }
    struct State {
        blob: BoxStream<'static, io::Result<Bytes>>,
        decryptor: Option<BlobDecryptor>,
        app: App,
        actor: Actor,
        doc: DocumentRow,
        version: u32,
    }
    let state = State {
        blob,
        decryptor: Some(decryptor),
        app,
        actor,
        doc,
        version,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            let decryptor = s.decryptor.as_mut()?;
            let result = match s.blob.next().await {
                Some(Ok(chunk)) => decryptor.update(&chunk).map_err(|_| Failure::Integrity),
                Some(Err(_)) => Err(Failure::Read),
                None => s.decryptor.take().map_or(Ok(Vec::new()), |d| {
                    d.finish().map_err(|_| Failure::Integrity)
                }),
            };
            match result {
                Ok(plain) if plain.is_empty() && s.decryptor.is_some() => continue,
                Ok(plain) if plain.is_empty() => return None,
                Ok(plain) => return Some((Ok(Bytes::from(plain)), s)),
                Err(Failure::Integrity) => {
                    s.decryptor = None;
                    let err = s
                        .app
                        .integrity_failure(
                            &s.actor,
                            &s.doc,
                            s.version,
                            "a segment failed authentication while it was read",
                        )
                        .await;
                    return Some((Err(io::Error::other(err.to_string())), s));
                }
                Err(Failure::Read) => {
                    s.decryptor = None;
                    return Some((
                        Err(io::Error::other("the document store failed while reading")),
                        s,
                    ));
                }
            }
        }
    })
    .boxed()
}
