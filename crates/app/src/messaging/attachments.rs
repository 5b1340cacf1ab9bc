//! Attachments: streamed in before the message is sent (encrypted as they arrive, under their
//! own data key, wrapped for the uploader's mailbox), re-wrapped under the thread key when the
//! message goes, and streamed out decrypted to readers of the thread after the signature and
//! the stored hash are checked.

use std::io;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;

use sealroom_crypto::envelope::{Binding, BlobDecryptor, BlobEncryptor, SymmetricKey};
use sealroom_crypto::signing::MessageStatement;
use sealroom_domain::AuditAction;
use sealroom_store::AttachmentRow;

use super::Reader;
use crate::accounts::Actor;
use crate::blobs::BlobWriter;
use crate::documents::{blob_error, FileDescription};
use crate::{App, AppError};

/// At most this many attachments per message.
pub(crate) const MAX_ATTACHMENTS: usize = 20;

/// Unsent attachments are discarded after this long.
const UNSENT_KEPT: i64 = 24 * 3600;

fn key_context(id: &str) -> String {
    format!("attachment:{id}")
}

fn filename_context(id: &str) -> String {
    format!("attachment-name:{id}")
}

pub(crate) fn binding(id: &str) -> Binding {
    Binding {
        document: format!("attachment:{id}"),
        version: 1,
    }
}

/// An attachment stored and waiting to be sent.
#[derive(Debug, Clone, Serialize)]
pub struct UploadedAttachment {
    pub id: String,
    pub filename: String,
    pub media_type: String,
    pub size: u64,
}

/// An attachment being received.
pub struct AttachmentUpload {
    app: App,
    actor: Actor,
    id: String,
    data_key: SymmetricKey,
    encryptor: BlobEncryptor,
    writer: BlobWriter,
    blob_key: String,
    file: FileDescription,
    sealed: Vec<u8>,
    hasher: blake3::Hasher,
    size: u64,
    ciphertext_size: u64,
}

/// An attachment's content, decrypted as it is read.
pub struct AttachmentContent {
    pub filename: String,
    pub media_type: String,
    pub size: u64,
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

impl App {
    /// Start receiving an attachment (staff and patient space accounts that may message).
    pub async fn start_attachment(
        &self,
        actor: &Actor,
        file: FileDescription,
    ) -> Result<AttachmentUpload, AppError> {
        self.attachment_writer(actor).await?;
        let file = self.checked_file(&file)?;
        let id = sealroom_crypto::token::new_id();
        let data_key = SymmetricKey::generate();
        let encryptor = BlobEncryptor::new(&data_key, &binding(&id)).map_err(AppError::internal)?;
        let blob_key = sealroom_crypto::token::new_id();
        let writer = self.blobs().create(&blob_key).await.map_err(blob_error)?;
        Ok(AttachmentUpload {
            app: self.clone(),
            actor: actor.clone(),
            id,
            data_key,
            sealed: Vec::new(),
            encryptor,
            writer,
            blob_key,
            file,
            hasher: blake3::Hasher::new(),
            size: 0,
            ciphertext_size: 0,
        })
    }

    /// Check, before anything else happens, that each attachment is the sender's and unsent.
    pub(crate) async fn check_attachments(
        &self,
        reader: &Reader,
        ids: &[String],
    ) -> Result<(), AppError> {
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(AppError::InvalidInput(format!(
                    "attachment {id} is listed twice"
                )));
            }
            let theirs =
                self.store().attachment(id).await?.is_some_and(|a| {
                    a.uploaded_by == reader.actor.name() && a.message_id.is_none()
                });
            if !theirs {
                return Err(AppError::InvalidInput(format!(
                    "attachment {id} is not one you uploaded and have not sent yet"
                )));
            }
        }
        Ok(())
    }

    /// Take the sender's uploaded attachments into a message: each must be theirs and not yet
    /// sent; its key is re-wrapped from their mailbox to the thread. Returns the re-wrapped keys
    /// and the stored blobs' hashes, in order.
    pub(crate) async fn take_attachments(
        &self,
        reader: &Reader,
        ids: &[String],
        thread_key: &SymmetricKey,
    ) -> Result<(Vec<(String, Vec<u8>)>, Vec<[u8; 32]>), AppError> {
        if ids.len() > MAX_ATTACHMENTS {
            return Err(AppError::InvalidInput(format!(
                "a message carries at most {MAX_ATTACHMENTS} attachments"
            )));
        }
        let own = reader.own.address();
        let mailbox_key = self.mailbox_key(&own).await?;
        let (mut keys, mut hashes) = (Vec::new(), Vec::new());
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(AppError::InvalidInput(format!(
                    "attachment {id} is listed twice"
                )));
            }
            let row = self
                .store()
                .attachment(id)
                .await?
                .filter(|a| a.uploaded_by == reader.actor.name() && a.message_id.is_none())
                .ok_or_else(|| {
                    AppError::InvalidInput(format!(
                        "attachment {id} is not one you uploaded and have not sent yet"
                    ))
                })?;
            let wrapped = row
                .wrapped_data_key
                .as_ref()
                .ok_or_else(|| AppError::internal("an unsent attachment has no key"))?;
            let key = mailbox_key
                .unwrap(wrapped, &key_context(id))
                .map_err(AppError::internal)?;
            keys.push((id.clone(), thread_key.wrap(&key, &key_context(id))));
            hashes.push(
                row.ciphertext_hash
                    .as_slice()
                    .try_into()
                    .map_err(AppError::internal)?,
            );
        }
        Ok((keys, hashes))
    }

    /// An attachment's data key, from the thread key (None once its message is destroyed).
    fn attachment_key(
        &self,
        a: &AttachmentRow,
        thread_key: &SymmetricKey,
    ) -> Result<Option<SymmetricKey>, AppError> {
        a.wrapped_data_key
            .as_ref()
            .map(|w| {
                thread_key.unwrap(w, &key_context(&a.id)).map_err(|_| {
                    AppError::Integrity("an attachment key failed its integrity check".into())
                })
            })
            .transpose()
    }

    pub(crate) fn attachment_filename(
        &self,
        a: &AttachmentRow,
        thread_key: &SymmetricKey,
    ) -> Result<String, AppError> {
        let Some(key) = self.attachment_key(a, thread_key)? else {
            return Ok(String::new());
        };
        let name = key
            .open(&a.filename_sealed, &filename_context(&a.id))
            .map_err(|_| {
                AppError::Integrity("an attachment's name failed its integrity check".into())
            })?;
        String::from_utf8(name).map_err(AppError::internal)
    }

    /// Open a sent attachment for a reader of its thread: the message must still be readable,
    /// its signature must hold and the stored blob must match its signed hash.
    pub async fn attachment_content(
        &self,
        actor: &Actor,
        attachment_id: &str,
    ) -> Result<AttachmentContent, AppError> {
        let reader = self.reader(actor).await?;
        let row = self.store().attachment(attachment_id).await?;
        let (Some(a), Some(thread_id), Some(message_id)) = (
            row.clone(),
            row.as_ref().and_then(|a| a.thread_id.clone()),
            row.as_ref().and_then(|a| a.message_id.clone()),
        ) else {
            // Unknown, or not sent yet: nobody but its uploader's next message may see it.
            self.audit(
                &actor.name(),
                AuditAction::MessageAccessDenied,
                &format!("attachment:{attachment_id}"),
                "denied",
                &actor.client,
                json!({"reason": "no_such_attachment"}),
            )
            .await?;
            return Err(AppError::NotFound);
        };
        let super::threads::OpenedThread {
            thread,
            key: thread_key,
            participants,
            ..
        } = self
            .open_thread(
                &reader,
                &thread_id,
                sealroom_domain::AccessAction::Read,
                AuditAction::AttachmentRead,
            )
            .await?;
        self.expire_due_in(&thread_id).await?;
        let m = self
            .store()
            .message(&message_id)
            .await?
            .ok_or_else(|| AppError::internal("an attachment's message is missing"))?;
        if m.sent_at < self.visible_since(&reader, &participants) {
            // Sent before the patient space joined: internal to the care team.
            return Err(AppError::NotFound);
        }
        let a = match self.store().attachment(&a.id).await? {
            Some(fresh) => fresh,
            None => a,
        };
        let Some(data_key) = self.attachment_key(&a, &thread_key)? else {
            return Err(AppError::Gone(format!(
                "this attachment's message was {}; its content no longer exists",
                m.destroyed_reason.as_deref().unwrap_or("destroyed")
            )));
        };
        let all = self.store().attachments_of(&thread_id).await?;
        let hashes = all
            .iter()
            .filter(|x| x.message_id.as_deref() == Some(&m.id))
            .map(|x| {
                x.ciphertext_hash
                    .as_slice()
                    .try_into()
                    .map_err(AppError::internal)
            })
            .collect::<Result<Vec<[u8; 32]>, AppError>>()?;
        let statement = MessageStatement {
            message: m.id.clone(),
            thread: m.thread_id.clone(),
            author: m.author.clone(),
            signer: m.signer.clone(),
            body_hash: m
                .body_hash
                .as_slice()
                .try_into()
                .map_err(AppError::internal)?,
            attachment_hashes: hashes,
            signed_at: m.sent_at,
        };
        if !self
            .message_signature_holds(&m, &statement, &mut super::sending::SignerKeys::default())
            .await?
        {
            return Err(AppError::Integrity(
                "this attachment's message signature does not verify; it is not served".into(),
            ));
        }
        let (len, hash) = self
            .blobs()
            .length_and_hash(&a.blob_key)
            .await
            .map_err(blob_error)?;
        if len != a.ciphertext_size as u64 || hash[..] != a.ciphertext_hash[..] {
            return Err(AppError::Integrity(
                "the stored attachment does not match its signed hash; it is not served".into(),
            ));
        }
        if thread.patient_id.is_none() {
            self.audit(
                &actor.name(),
                AuditAction::AttachmentRead,
                &format!("thread:{thread_id}"),
                "granted",
                &actor.client,
                json!({"message": m.id, "attachment": a.id}),
            )
            .await?;
        }
        let decryptor =
            BlobDecryptor::new(&data_key, &binding(&a.id)).map_err(AppError::internal)?;
        let blob = self.blobs().read(&a.blob_key).await.map_err(blob_error)?;
        Ok(AttachmentContent {
            filename: self.attachment_filename(&a, &thread_key)?,
            media_type: a.media_type.clone(),
            size: u64::try_from(a.size).map_err(AppError::internal)?,
            body: decrypting(blob, decryptor),
        })
    }
}

impl App {
    /// Discard attachments uploaded more than a day ago and never sent (the periodic job):
    /// their rows, keys and blobs. Returns how many.
    pub async fn discard_unsent_attachments(&self) -> Result<usize, AppError> {
        let before = self.now().as_seconds() - UNSENT_KEPT;
        let mut done = 0;
        for (id, blob) in self.store().unsent_attachments(before, 1000).await? {
            if self.store().delete_unsent_attachment(&id).await? {
                if let Err(e) = self.blobs().delete(&blob).await {
                    tracing::warn!(blob = %blob, error = %e, "an unsent attachment's blob could not be deleted");
                }
                done += 1;
            }
        }
        Ok(done)
    }
}

/// Decrypt a blob as it is read; a segment that fails authentication ends the stream with an
/// error (the client sees a broken download, never altered content).
fn decrypting(
    blob: BoxStream<'static, io::Result<Bytes>>,
    decryptor: BlobDecryptor,
) -> BoxStream<'static, io::Result<Bytes>> {
    futures_util::stream::unfold(
        (blob, Some(decryptor)),
        |(mut blob, mut decryptor)| async move {
            loop {
                let d = decryptor.as_mut()?;
                let result = match blob.next().await {
                    Some(Ok(chunk)) => d.update(&chunk),
                    Some(Err(e)) => {
                        return Some((Err(e), (blob, None)));
                    }
                    None => match decryptor.take() {
                        Some(d) => d.finish(),
                        None => return None,
                    },
                };
                match result {
                    Ok(plain) if plain.is_empty() && decryptor.is_some() => continue,
                    Ok(plain) if plain.is_empty() => return None,
                    Ok(plain) => return Some((Ok(Bytes::from(plain)), (blob, decryptor))),
                    Err(_) => {
                        return Some((
                            Err(io::Error::other(
                                "an attachment segment failed authentication",
                            )),
                            (blob, None),
                        ))
                    }
                }
            }
        },
    )
    .boxed()
}

impl AttachmentUpload {
    /// Encrypt and store the next piece.
    pub async fn write(&mut self, plaintext: &[u8]) -> Result<(), AppError> {
        self.size += plaintext.len() as u64;
        if self.size > self.app.settings().documents.max_upload_bytes {
            return Err(self.app.limit_error());
        }
        let mut sealed = std::mem::take(&mut self.sealed);
        self.encryptor
            .update_into(plaintext, &mut sealed)
            .map_err(AppError::internal)?;
        let stored = self.store(&sealed).await;
        sealed.clear();
        self.sealed = sealed;
        stored
    }

    async fn store(&mut self, ciphertext: &[u8]) -> Result<(), AppError> {
        if ciphertext.is_empty() {
            return Ok(());
        }
        self.hasher.update(ciphertext);
        self.ciphertext_size += ciphertext.len() as u64;
        self.writer.write(ciphertext).await.map_err(blob_error)
    }

    /// Finish: the blob is committed and the attachment recorded, its key wrapped for the
    /// uploader's mailbox until it is sent.
    pub async fn finish(mut self) -> Result<UploadedAttachment, AppError> {
        let mut tail = std::mem::take(&mut self.sealed);
        let AttachmentUpload {
            app,
            actor,
            id,
            data_key,
            encryptor,
            writer,
            blob_key,
            file,
            hasher,
            size,
            ciphertext_size,
            ..
        } = self;
        tail.extend(encryptor.finish().map_err(AppError::internal)?);
        let mut upload = PartialTail {
            writer,
            hasher,
            ciphertext_size,
        };
        upload.store(&tail).await?;
        upload.writer.commit().await.map_err(blob_error)?;
        let wrapped_data_key = app
            .uploader_mailbox_key(&actor)
            .await?
            .wrap(&data_key, &key_context(&id));
        app.record_attachment(
            &actor,
            &data_key,
            StoredAttachment {
                id,
                blob_key,
                wrapped_data_key,
                file,
                size,
                ciphertext_size: upload.ciphertext_size,
                ciphertext_hash: *upload.hasher.finalize().as_bytes(),
            },
        )
        .await
    }
}

/// An attachment's encrypted content, in the blob store and ready to be recorded.
pub(crate) struct StoredAttachment {
    pub(crate) id: String,
    pub(crate) blob_key: String,
    /// Its data key, wrapped for the uploader's mailbox.
    pub(crate) wrapped_data_key: Vec<u8>,
    pub(crate) file: FileDescription,
    pub(crate) size: u64,
    pub(crate) ciphertext_size: u64,
    pub(crate) ciphertext_hash: [u8; 32],
}

impl App {
    /// The key of the mailbox an unsent attachment belongs to: its uploader's own, who must be
    /// someone who may write messages now.
    pub(crate) async fn uploader_mailbox_key(
        &self,
        actor: &Actor,
    ) -> Result<SymmetricKey, AppError> {
        let reader = self.attachment_writer(actor).await?;
        self.mailbox_key(&reader.own.address()).await
    }

    /// Who may upload an attachment: anyone who may write messages; in the patient space,
    /// an account whose space holds messages (the patient's lasting one, or a proxy's), so a
    /// space per test or per stay stores nothing it could never send.
    pub(crate) async fn attachment_writer(&self, actor: &Actor) -> Result<Reader, AppError> {
        let reader = self.writer(actor).await?;
        if let crate::policy::Principal::PatientAccount { .. } = &actor.principal {
            if self
                .messaging_account(actor, Some("attachment"))
                .await?
                .is_none()
            {
                return Err(AppError::Forbidden);
            }
        }
        Ok(reader)
    }

    /// Begin an attachment that arrives over several requests: the file checked, its id and
    /// a fresh data key, wrapped for the uploader's mailbox as a finished attachment's is.
    pub(crate) async fn begin_attachment(
        &self,
        actor: &Actor,
        file: &FileDescription,
    ) -> Result<(FileDescription, String, SymmetricKey, Vec<u8>), AppError> {
        let mailbox_key = self.uploader_mailbox_key(actor).await?;
        let file = self.checked_file(file)?;
        let id = sealroom_crypto::token::new_id();
        let data_key = SymmetricKey::generate();
        let wrapped = mailbox_key.wrap(&data_key, &key_context(&id));
        Ok((file, id, data_key, wrapped))
    }

    /// The data key of an attachment still being uploaded, from the mailbox of its uploader
    /// (checked by [`App::attachment_writer`]).
    pub(crate) async fn unsent_attachment_key(
        &self,
        uploader: &Reader,
        id: &str,
        wrapped: &[u8],
    ) -> Result<SymmetricKey, AppError> {
        self.mailbox_key(&uploader.own.address())
            .await?
            .unwrap(wrapped, &key_context(id))
            .map_err(AppError::internal)
    }

    /// Record a stored attachment as its uploader's, unsent, and audit it.
    pub(crate) async fn record_attachment(
        &self,
        actor: &Actor,
        data_key: &SymmetricKey,
        a: StoredAttachment,
    ) -> Result<UploadedAttachment, AppError> {
        let StoredAttachment {
            id,
            blob_key,
            wrapped_data_key,
            file,
            size,
            ciphertext_size,
            ciphertext_hash,
        } = a;
        self.store()
            .insert_attachment(&AttachmentRow {
                id: id.clone(),
                thread_id: None,
                message_id: None,
                position: 0,
                uploaded_by: actor.name(),
                blob_key,
                wrapped_data_key: Some(wrapped_data_key),
                filename_sealed: data_key.seal(file.filename.as_bytes(), &filename_context(&id)),
                media_type: file.media_type.clone(),
                size: i64::try_from(size).map_err(AppError::internal)?,
                ciphertext_size: i64::try_from(ciphertext_size).map_err(AppError::internal)?,
                ciphertext_hash: ciphertext_hash.to_vec(),
                created_at: self.now().as_seconds(),
            })
            .await?;
        self.audit(
            &actor.name(),
            AuditAction::AttachmentUploaded,
            &format!("attachment:{id}"),
            "success",
            &actor.client,
            json!({"size": size, "media_type": file.media_type}),
        )
        .await?;
        Ok(UploadedAttachment {
            id,
            filename: file.filename,
            media_type: file.media_type,
            size,
        })
    }
}

/// The end of an upload after the encryptor is consumed.
struct PartialTail {
    writer: BlobWriter,
    hasher: blake3::Hasher,
    ciphertext_size: u64,
}

impl PartialTail {
    async fn store(&mut self, ciphertext: &[u8]) -> Result<(), AppError> {
        self.hasher.update(ciphertext);
        self.ciphertext_size += ciphertext.len() as u64;
        self.writer.write(ciphertext).await.map_err(blob_error)
    }
}
