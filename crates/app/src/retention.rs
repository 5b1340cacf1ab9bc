//! Retention and erasure: legal holds, lawful erasure approved by two people, and the end of
//! retention. Both end in crypto-shredding: the version data keys and every sealed
//! description are destroyed in one transaction, then the blobs are removed. What remains is
//! the record that the document existed and why it went; the audit log keeps the fact, never
//! the content.
//!
//! Records are managed by administrators and security officers (the records manager and the
//! data-protection officer), who never read the content they manage.

use serde::Serialize;
use serde_json::json;

use sealroom_crypto::token::new_id;
use sealroom_domain::{AuditAction, Timestamp};
use sealroom_store::{DocumentRow, ErasureRow};

use crate::accounts::Actor;
use crate::policy::{authorize, Action};
use crate::{App, AppError};

const MAX_REASON_CHARS: usize = 2_000;

/// Why an erasure is lawful before the end of retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegalBasis {
    /// The patient exercised the right to erasure (GDPR article 17) and it applies.
    RightToErasure,
    /// A court or a regulator ordered it.
    CourtOrder,
    /// Filed in error: the wrong patient, or a duplicate.
    FiledInError,
}

impl LegalBasis {
    pub const ALL: [LegalBasis; 3] = [
        LegalBasis::RightToErasure,
        LegalBasis::CourtOrder,
        LegalBasis::FiledInError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::RightToErasure => "right-to-erasure",
            LegalBasis::CourtOrder => "court-order",
            LegalBasis::FiledInError => "filed-in-error",
        }
    }

    pub fn parse(s: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                AppError::InvalidInput(format!(
                    "legal_basis must be one of: {}",
                    Self::ALL.map(LegalBasis::as_str).join(", ")
                ))
            })
    }
}

/// An erasure request as its reviewers see it (the reason is shown only to them).
#[derive(Debug, Clone, Serialize)]
pub struct ErasureView {
    pub id: String,
    pub document_id: String,
    pub patient_id: String,
    pub legal_basis: String,
    pub reason: Option<String>,
    pub requested_by: String,
    pub requested_at: i64,
    /// pending, approved or rejected.
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

/// One document whose retention has ended, and what a run does with it.
#[derive(Debug, Clone, Serialize)]
pub struct DueDocument {
    pub document_id: String,
    pub patient_id: String,
    pub retention_class: String,
    pub retain_until: i64,
    /// `shred`, or `held` when a legal hold keeps it.
    pub action: &'static str,
}

/// What a retention run found and did.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub due: Vec<DueDocument>,
    pub shredded: usize,
    pub held: usize,
    /// Blobs that could not be removed (their keys are destroyed all the same).
    pub blobs_left: usize,
}

fn hold_owner(document_id: &str) -> String {
    format!("legal_hold:{document_id}")
}
fn erasure_owner(id: &str) -> String {
    format!("erasure:{id}")
}

fn check_reason(reason: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::InvalidInput("give a reason".into()));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::InvalidInput(format!(
            "the reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(reason.to_owned())
}

impl App {
    async fn managed_document(&self, document_id: &str) -> Result<DocumentRow, AppError> {
        let doc = self
            .store()
            .document(document_id)
            .await?
            .ok_or(AppError::NotFound)?;
        if doc.shredded_at.is_some() {
            return Err(AppError::Gone("this document was already destroyed".into()));
        }
        Ok(doc)
    }

    /// Keep a document past its retention and out of reach of erasure until released.
    pub async fn place_legal_hold(
        &self,
        actor: &Actor,
        document_id: &str,
        reason: &str,
    ) -> Result<(), AppError> {
        authorize(&actor.principal, Action::ManageRecords)?;
        let reason = check_reason(reason)?;
        let doc = self.managed_document(document_id).await?;
        if doc.legal_hold_at.is_some() {
            return Err(AppError::Conflict(
                "this document is already under legal hold".into(),
            ));
        }
        let sealed = self.secrets().seal(reason.as_bytes(), &hold_owner(&doc.id));
        let name = actor.name();
        self.store()
            .set_legal_hold(&doc.id, Some((self.now().as_seconds(), &name, &sealed)))
            .await?;
        self.audit(
            &name,
            AuditAction::DocumentLegalHoldSet,
            &format!("patient:{}", doc.patient_id),
            "success",
            &actor.client,
            json!({"document": doc.id}),
        )
        .await
    }

    pub async fn release_legal_hold(
        &self,
        actor: &Actor,
        document_id: &str,
    ) -> Result<(), AppError> {
        authorize(&actor.principal, Action::ManageRecords)?;
        let doc = self.managed_document(document_id).await?;
        if doc.legal_hold_at.is_none() {
            return Err(AppError::Conflict(
                "this document is not under legal hold".into(),
            ));
        }
        self.store().set_legal_hold(&doc.id, None).await?;
        self.audit(
            &actor.name(),
            AuditAction::DocumentLegalHoldReleased,
            &format!("patient:{}", doc.patient_id),
            "success",
            &actor.client,
            json!({"document": doc.id}),
        )
        .await
    }

    /// Ask for a document to be erased before the end of its retention. Nothing happens until
    /// a second, different person approves.
    pub async fn request_erasure(
        &self,
        actor: &Actor,
        document_id: &str,
        legal_basis: &str,
        reason: &str,
    ) -> Result<ErasureView, AppError> {
        authorize(&actor.principal, Action::ManageRecords)?;
        let basis = LegalBasis::parse(legal_basis)?;
        let reason = check_reason(reason)?;
        let doc = self.managed_document(document_id).await?;
        if doc.legal_hold_at.is_some() {
            return Err(AppError::Conflict(
                "this document is under legal hold; the hold must be released before it can be erased".into(),
            ));
        }
        let id = new_id();
        let row = ErasureRow {
            reason_sealed: self.secrets().seal(reason.as_bytes(), &erasure_owner(&id)),
            id,
            document_id: doc.id.clone(),
            legal_basis: basis.as_str().to_owned(),
            requested_by: actor.name(),
            requested_at: self.now().as_seconds(),
            state: "pending".into(),
            decided_by: None,
            decided_at: None,
            patient_id: doc.patient_id.clone(),
        };
        self.store().insert_erasure(&row).await?;
        self.audit(
            &actor.name(),
            AuditAction::DocumentErasureRequested,
            &format!("patient:{}", doc.patient_id),
            "success",
            &actor.client,
            json!({"document": doc.id, "request": row.id, "legal_basis": row.legal_basis}),
        )
        .await?;
        self.erasure_view(row)
    }

    /// The requests waiting for a second person.
    pub async fn pending_erasures(&self, actor: &Actor) -> Result<Vec<ErasureView>, AppError> {
        authorize(&actor.principal, Action::ManageRecords)?;
        self.store()
            .pending_erasures()
            .await?
            .into_iter()
            .map(|row| self.erasure_view(row))
            .collect()
    }

    /// Approve (the document is shredded at once) or reject a pending erasure. The person who
    /// asked can never decide.
    pub async fn decide_erasure(
        &self,
        actor: &Actor,
        request_id: &str,
        approve: bool,
    ) -> Result<ErasureView, AppError> {
        authorize(&actor.principal, Action::ManageRecords)?;
        let row = self
            .store()
            .erasure(request_id)
            .await?
            .ok_or(AppError::NotFound)?;
        if row.requested_by == actor.name() {
            return Err(AppError::Conflict(
                "an erasure needs a second person: someone other than who asked for it must decide"
                    .into(),
            ));
        }
        if row.state != "pending" {
            return Err(AppError::Conflict(format!(
                "this request was already {}",
                row.state
            )));
        }
        let doc = self
            .store()
            .document(&row.document_id)
            .await?
            .ok_or_else(|| AppError::internal("an erasure request names no document"))?;
        if approve && doc.legal_hold_at.is_some() {
            return Err(AppError::Conflict(
                "this document was put under legal hold after the request; it cannot be erased while held".into(),
            ));
        }
        let state = if approve { "approved" } else { "rejected" };
        let now = self.now().as_seconds();
        if !self
            .store()
            .decide_erasure(&row.id, state, &actor.name(), now)
            .await?
        {
            return Err(AppError::Conflict(
                "someone else decided this request meanwhile".into(),
            ));
        }
        self.audit(
            &actor.name(),
            AuditAction::DocumentErasureDecided,
            &format!("patient:{}", doc.patient_id),
            "success",
            &actor.client,
            json!({"document": doc.id, "request": row.id, "decision": state,
                   "requested_by": row.requested_by}),
        )
        .await?;
        if approve {
            self.shred(actor, &doc, &format!("erasure:{}", row.id))
                .await?;
        }
        let row = self
            .store()
            .erasure(&row.id)
            .await?
            .ok_or_else(|| AppError::internal("an erasure request vanished"))?;
        self.erasure_view(row)
    }

    /// Shred every document whose retention has ended and that no legal hold keeps; with
    /// `dry_run`, only say what would go and why.
    pub async fn run_retention(
        &self,
        actor: &Actor,
        dry_run: bool,
    ) -> Result<RetentionReport, AppError> {
        authorize(&actor.principal, Action::ManageRecords)?;
        let now = self.now().as_seconds();
        let mut report = RetentionReport {
            dry_run,
            due: Vec::new(),
            shredded: 0,
            held: 0,
            blobs_left: 0,
        };
        for doc in self.store().documents_due(now).await? {
            let held = doc.legal_hold_at.is_some();
            report.due.push(DueDocument {
                document_id: doc.id.clone(),
                patient_id: doc.patient_id.clone(),
                retention_class: doc.retention_class.clone(),
                retain_until: doc.retain_until,
                action: if held { "held" } else { "shred" },
            });
            if held {
                report.held += 1;
            } else if !dry_run {
                let reason = format!("retention:{}", doc.retention_class);
                if let Some(left) = self.shred(actor, &doc, &reason).await? {
                    report.shredded += 1;
                    report.blobs_left += left;
                }
            }
        }
        Ok(report)
    }

    /// Destroy a document's keys and descriptions, then its blobs. `None` when it was already
    /// shredded or a hold arrived meanwhile; otherwise the number of blobs left behind.
    async fn shred(
        &self,
        actor: &Actor,
        doc: &DocumentRow,
        reason: &str,
    ) -> Result<Option<usize>, AppError> {
        let versions = self.store().versions(&doc.id).await?;
        let now = self.now().as_seconds();
        if !self.store().shred_document(&doc.id, now, reason).await? {
            return Ok(None);
        }
        // The keys are gone: what remains of each blob is ciphertext nobody can open. Remove it
        // all the same; a blob that cannot be removed now is reported, not fatal.
        let mut left = 0;
        for v in &versions {
            if let Err(e) = self.blobs().delete(&v.blob_key).await {
                tracing::warn!(document = %doc.id, error = %e, "a shredded document's blob could not be removed");
                left += 1;
            }
        }
        self.audit(
            &actor.name(),
            AuditAction::DocumentShredded,
            &format!("patient:{}", doc.patient_id),
            "success",
            &actor.client,
            json!({
                "document": doc.id,
                "reason": reason,
                "retention_class": doc.retention_class,
                "retain_until": Timestamp(doc.retain_until).date(),
                "versions": versions.len(),
                "blobs_left": left,
            }),
        )
        .await?;
        Ok(Some(left))
    }

    fn erasure_view(&self, row: ErasureRow) -> Result<ErasureView, AppError> {
        let reason = if row.reason_sealed.is_empty() {
            None
        } else {
            Some(
                String::from_utf8(
                    self.secrets()
                        .open(&row.reason_sealed, &erasure_owner(&row.id))
                        .map_err(AppError::internal)?,
                )
                .map_err(AppError::internal)?,
            )
        };
        Ok(ErasureView {
            id: row.id,
            document_id: row.document_id,
            patient_id: row.patient_id,
            legal_basis: row.legal_basis,
            reason,
            requested_by: row.requested_by,
            requested_at: row.requested_at,
            state: row.state,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
        })
    }
}
