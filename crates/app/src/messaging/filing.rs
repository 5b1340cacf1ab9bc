//! Filing an attachment into the patient's record: a clinician reading a thread about a patient
//! makes one of its files a document of that patient's record.
//!
//! The file is read as any reader reads it (the message's signature and the blob's hash are
//! checked, the read is decided by the policy and audited), then stored through the document
//! store as a new document: a write of the chosen category for the patient, decided and
//! audited, encrypted under a fresh data key wrapped for the patient and signed by the
//! clinician who filed it. The attachment itself stays in the thread, and goes with it when the
//! message is recalled or expires; the document follows the record's retention instead.

use futures_util::StreamExt;
use serde_json::json;

use sealroom_domain::{AuditAction, DataCategory};

use crate::accounts::Actor;
use crate::documents::{DocumentKind, DocumentView, FileDescription, NewDocument};
use crate::{App, AppError};

/// How a filed attachment enters the record; every field has a default.
#[derive(Debug, Clone)]
pub struct FileInto {
    /// The document's title (the file name when absent).
    pub title: Option<String>,
    pub kind: DocumentKind,
    /// The thread's category when absent.
    pub category: Option<DataCategory>,
    /// The configured default retention class when absent.
    pub retention_class: Option<String>,
}

impl Default for FileInto {
    fn default() -> Self {
        FileInto {
            title: None,
            kind: DocumentKind::Other,
            category: None,
            retention_class: None,
        }
    }
}

impl App {
    /// File a sent attachment of a patient thread into that patient's record (staff only).
    pub async fn file_attachment(
        &self,
        actor: &Actor,
        attachment_id: &str,
        into: FileInto,
    ) -> Result<DocumentView, AppError> {
        crate::patient_access::staff_id(actor, true)?;
        // Reading it first: a non-reader learns nothing (404), and the read is audited.
        let content = self.attachment_content(actor, attachment_id).await?;
        let thread = match self
            .store()
            .attachment(attachment_id)
            .await?
            .and_then(|a| a.thread_id)
        {
            Some(t) => self.store().thread(&t).await?,
            None => None,
        }
        .ok_or(AppError::NotFound)?;
        let Some(patient_id) = thread.patient_id.clone() else {
            return Err(AppError::InvalidInput(
                "this conversation is not about a patient, so there is no record to file it into"
                    .into(),
            ));
        };
        let category = match into.category {
            Some(c) => c,
            None => Self::thread_category(thread.category.as_deref())?,
        };
        let title = into
            .title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| content.filename.clone());
        let mut upload = self
            .start_document(
                actor,
                NewDocument {
                    patient_id: patient_id.clone(),
                    category,
                    kind: into.kind,
                    title,
                    file: FileDescription {
                        filename: content.filename.clone(),
                        media_type: content.media_type.clone(),
                        declared_size: Some(content.size),
                    },
                    retention_class: into.retention_class,
                    episode_id: None,
                    test_id: None,
                    author_id: None,
                },
            )
            .await?;
        let mut body = content.body;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => upload.write(&bytes).await?,
                Err(e) => {
                    upload.abandon("the attachment could not be read to the end");
                    return Err(AppError::Integrity(format!(
                        "the attachment could not be read to the end ({e}); nothing was filed"
                    )));
                }
            }
        }
        let document = upload.finish().await?;
        self.audit(
            &actor.name(),
            AuditAction::AttachmentFiled,
            &format!("thread:{}", thread.id),
            "success",
            &actor.client,
            json!({"attachment": attachment_id, "patient": patient_id, "document": document.id, "category": category.as_str()}),
        )
        .await?;
        Ok(document)
    }
}
