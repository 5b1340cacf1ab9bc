//! Results release: when a document becomes visible in the patient space. Per data category,
//! the operator chooses a rule: at once, after a number of days (time for the clinician to
//! call the patient first), or only when a clinician releases it. Until then the patient sees
//! nothing of it; whoever may write the document's category for the patient may release it
//! earlier, through the policy decision point and the audit log.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use sealroom_domain::{AccessAction, AuditAction, DataCategory, Duration};
use sealroom_store::DocumentRow;

use crate::accounts::Actor;
use crate::documents::DocumentView;
use crate::documents::StaffNames;
use crate::{App, AppError};

/// When documents of one category reach the patient space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseRule {
    Immediately,
    AfterDays(i64),
    AfterReview,
}

impl ReleaseRule {
    /// `immediately`, `after_review`, or `after N days` (1 to 365).
    pub fn parse(s: &str) -> Result<ReleaseRule, String> {
        let s = s.trim();
        match s {
            "immediately" => return Ok(ReleaseRule::Immediately),
            "after_review" => return Ok(ReleaseRule::AfterReview),
            _ => {}
        }
        let days = s
            .strip_prefix("after ")
            .and_then(|rest| {
                rest.strip_suffix(" days")
                    .or_else(|| rest.strip_suffix(" day"))
            })
            .and_then(|n| n.trim().parse::<i64>().ok())
            .filter(|n| (1..=365).contains(n));
        days.map(ReleaseRule::AfterDays).ok_or_else(|| {
            format!(
                "\"{s}\" is not a release rule; use \"immediately\", \"after_review\" or \"after N days\" (N from 1 to 365)"
            )
        })
    }

    pub fn describe(self) -> String {
        match self {
            ReleaseRule::Immediately => "immediately".into(),
            ReleaseRule::AfterDays(n) => format!("after {n} days"),
            ReleaseRule::AfterReview => "after_review".into(),
        }
    }
}

/// The release rule of each category; a category not named waits for a clinician.
#[derive(Debug, Clone, Default)]
pub struct ReleaseSettings {
    pub rules: BTreeMap<DataCategory, ReleaseRule>,
}

impl ReleaseSettings {
    pub fn rule_for(&self, category: DataCategory) -> ReleaseRule {
        self.rules
            .get(&category)
            .copied()
            .unwrap_or(ReleaseRule::AfterReview)
    }
}

/// Where a document stands toward the patient space.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReleaseView {
    /// `released`, `scheduled` (visible from `at`) or `awaiting_review`.
    pub state: &'static str,
    pub at: Option<i64>,
    /// Who released it: `user:<id>`, or `rule:<rule>` when a rule did.
    pub by: Option<String>,
}

impl ReleaseView {
    pub(crate) fn of(doc: &DocumentRow, now: i64) -> ReleaseView {
        match (doc.released_at, doc.release_due_at) {
            (Some(at), _) => ReleaseView {
                state: "released",
                at: Some(at),
                by: doc.released_by.clone(),
            },
            (None, Some(due)) if due <= now => ReleaseView {
                state: "released",
                at: Some(due),
                by: Some("rule:after_days".into()),
            },
            (None, Some(due)) => ReleaseView {
                state: "scheduled",
                at: Some(due),
                by: None,
            },
            (None, None) => ReleaseView {
                state: "awaiting_review",
                at: None,
                by: None,
            },
        }
    }
}

/// What a new document's release columns start as, under `rule`:
/// (released_at, released_by, release_due_at).
pub(crate) fn initial_release(
    rule: ReleaseRule,
    now: i64,
) -> (Option<i64>, Option<String>, Option<i64>) {
    match rule {
        ReleaseRule::Immediately => (Some(now), Some("rule:immediately".into()), None),
        ReleaseRule::AfterDays(n) => (None, None, Some(now + Duration::hours(24 * n).as_seconds())),
        ReleaseRule::AfterReview => (None, None, None),
    }
}

impl App {
    /// Release a document to the patient space now (a clinician's review is done). Needs
    /// write access to the document's category for its patient; audited.
    pub async fn release_document(
        &self,
        actor: &Actor,
        document_id: &str,
    ) -> Result<DocumentView, AppError> {
        let doc = self
            .open_document_row(
                actor,
                document_id,
                AccessAction::Write,
                AuditAction::DocumentReleased,
                json!({"document": document_id}),
            )
            .await?;
        if doc.shredded_at.is_some() {
            return Err(AppError::Gone(
                "this document was destroyed; there is nothing to release".into(),
            ));
        }
        let now = self.now().as_seconds();
        if ReleaseView::of(&doc, now).state != "released" {
            self.store()
                .release_document(&doc.id, now, &actor.name())
                .await?;
            self.notify_new_document(&doc.patient_id).await?;
        }
        let doc = self
            .store()
            .document(&doc.id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.document_view(doc, &mut StaffNames::default()).await
    }

    /// Tell patients about documents an "after N days" rule has made visible: one message per
    /// patient however many documents came due (the periodic job's work; safe to run on
    /// several instances, as each document is claimed once). Returns how many patients were
    /// told.
    pub async fn notify_due_releases(&self) -> Result<usize, AppError> {
        let now = self.now().as_seconds();
        let mut told = 0;
        for patient in self.store().patients_with_due_release_notices(now).await? {
            // Claim first, all of the patient's at once: of two instances, one tells.
            if self.store().claim_release_notices(&patient, now).await? > 0 {
                self.notify_new_document(&patient).await?;
                told += 1;
            }
        }
        Ok(told)
    }

    /// A patient's documents that the patient may see now: released, and not destroyed.
    /// (The patient space's list; who reads it is decided there.)
    pub async fn released_documents(&self, patient_id: &str) -> Result<Vec<DocumentRow>, AppError> {
        let now = self.now().as_seconds();
        Ok(self.store().released_documents_of(patient_id, now).await?)
    }
}
