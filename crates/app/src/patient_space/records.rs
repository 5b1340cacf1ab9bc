//! What a signed-in patient sees: their released documents (with who signed each and whether
//! the signature verified) and who in the organization looked at their data.
//!
//! Every read goes through the Cedar policy as a `PatientAccount` principal standing in the
//! `self` relation, and is audited on the patient like a staff read, so it shows in the
//! patient's own access history. On top of the policy, a per-test account sees only its test's
//! documents, and nobody in the patient space sees a document before it is released.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use sealroom_domain::{
    AccessAction, AuditAction, Capacity, CapacitySource, DataCategory, Relation, Timestamp,
};
use sealroom_store::{DocumentRow, PatientAccountRow};

use super::sessions::{PatientSession, OWN_CATEGORIES};
use crate::access_policy::AccessDecision;
use crate::accounts::Actor;
use crate::documents::{DocumentDownload, DocumentView, StaffNames};
use crate::policy::Principal;
use crate::release::ReleaseView;
use crate::{App, AppError};

/// A released document as the patient sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PatientDocument {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub category: DataCategory,
    pub released_at: Option<i64>,
    pub filename: String,
    pub media_type: String,
    pub size: u64,
    pub author_name: String,
    pub signer_name: String,
    pub signed_at: i64,
    /// `verified`, `invalid` or `unsupported_format`.
    pub signature: &'static str,
}

/// One entry of the patient's access history.
#[derive(Debug, Clone, Serialize)]
pub struct AccessHistoryEntry {
    pub at: i64,
    /// The staff member's name, or `None` when it was the patient, in their space.
    pub who: Option<String>,
    /// Whether it was the patient themselves.
    pub by_patient: bool,
    /// The audit action (`document.read`, `patient.read`, …).
    pub action: String,
    pub categories: Vec<String>,
    /// HL7 PurposeOfUse: `TREAT`, `ETREAT`, `HOPERAT`, `PATRQT`.
    pub purpose: Option<String>,
}

/// Audit actions that are a look at data rather than a change.
const READS: [&str; 4] = [
    "patient.read",
    "document.read",
    "documents.listed",
    "patient_space.read",
];

impl PatientDocument {
    fn of(view: DocumentView) -> Option<PatientDocument> {
        let latest = view.versions.last()?.clone();
        Some(PatientDocument {
            id: view.id,
            title: view.title.unwrap_or_default(),
            kind: view.kind,
            category: view.category,
            released_at: view.release.at,
            filename: latest.filename,
            media_type: latest.media_type,
            size: latest.size,
            author_name: latest.author_name,
            signer_name: latest.signature.signer_name,
            signed_at: latest.signature.signed_at,
            signature: latest.signature.status,
        })
    }
}

impl AccessHistoryEntry {
    /// Whether this entry was a look at data (else a change or a registration).
    pub fn is_read(&self) -> bool {
        READS.contains(&self.action.as_str())
    }
}

/// The capacity a patient's own account stands in.
pub(crate) fn own_capacity(account: &PatientAccountRow) -> Capacity {
    Capacity {
        role: "patient".into(),
        relation: Relation::OwnRecord,
        valid_from: Timestamp(account.activated_at.unwrap_or(account.created_at)),
        valid_until: account.closed_at.map(Timestamp),
        granted_categories: OWN_CATEGORIES.to_vec(),
        granted_actions: vec![AccessAction::Read],
        source: CapacitySource::PatientAccount(account.id.clone()),
    }
}

/// Whether an account's scope covers a document: a per-test account its test's documents, a
/// per-visit account its stay's (nothing added after discharge, `visit_end`), a per-patient
/// or proxy account all the patient's (a proxy's categories are the policy's to decide).
fn in_scope(account: &PatientAccountRow, doc: &DocumentRow, visit_end: Option<i64>) -> bool {
    doc.patient_id == account.patient_id
        && match account.model.as_str() {
            "per_test" => account.test_id.is_some() && doc.test_id == account.test_id,
            "per_visit" => {
                account.episode_id.is_some()
                    && doc.episode_id == account.episode_id
                    && visit_end.is_none_or(|end| doc.created_at <= end)
            }
            "per_patient" | "proxy" => true,
            _ => false,
        }
}

impl App {
    /// When a per-visit account's stay ended (discharge or transfer), if it did.
    async fn visit_end(&self, account: &PatientAccountRow) -> Result<Option<i64>, AppError> {
        match (&account.model[..], &account.episode_id) {
            ("per_visit", Some(e)) => Ok(self.store().episode(e).await?.and_then(|e| e.ended_at)),
            _ => Ok(None),
        }
    }

    /// Whether an account may still be used now: a proxy's while its access holds, a
    /// per-visit account until its stay's retention class ends (counted from discharge), the
    /// others while open. One that no longer holds is closed and its sessions end.
    pub(crate) async fn account_still_holds(
        &self,
        account: &PatientAccountRow,
    ) -> Result<bool, AppError> {
        let now = self.now().as_seconds();
        let holds = match account.model.as_str() {
            "proxy" => self.live_proxy(account).await?.is_some(),
            "per_visit" => {
                // The configuration always names a default class; were it missing, the space
                // would stay open rather than close at discharge.
                let docs = &self.settings().documents;
                match docs.retention_classes.get(&docs.default_retention_class) {
                    Some(days) => self
                        .visit_end(account)
                        .await?
                        .is_none_or(|end| now < end + days * 86_400),
                    None => true,
                }
            }
            _ => true,
        };
        if !holds {
            self.store().close_patient_account(&account.id, now).await?;
            self.store()
                .end_patient_sessions_of(&account.id, None, "account_closed", now)
                .await?;
        }
        Ok(holds)
    }

    /// The capacity an account stands in: the patient's own, or a proxy's within the approved
    /// scope and dates (a proxy access that ended gives a capacity that permits nothing).
    pub(crate) async fn capacity_of(
        &self,
        account: &PatientAccountRow,
    ) -> Result<Capacity, AppError> {
        let Some(proxy_id) = &account.proxy_id else {
            return Ok(own_capacity(account));
        };
        let proxy = self.store().proxy(proxy_id).await?;
        let live = proxy.as_ref().filter(|p| p.state == "approved");
        Ok(Capacity {
            role: "proxy".into(),
            relation: Relation::Proxy,
            valid_from: Timestamp(account.activated_at.unwrap_or(account.created_at)),
            valid_until: Some(Timestamp(live.map_or(0, |p| p.valid_until))),
            granted_categories: live
                .map(|p| {
                    p.categories
                        .split(',')
                        .filter_map(|c| DataCategory::parse(c).ok())
                        .collect()
                })
                .unwrap_or_default(),
            granted_actions: vec![AccessAction::Read],
            source: CapacitySource::PatientAccount(account.id.clone()),
        })
    }

    /// Ask the policy which of `categories` the account may read, and audit the permitted
    /// part on the patient (or the refusal).
    pub(crate) async fn decide_for_account(
        &self,
        actor: &Actor,
        account: &PatientAccountRow,
        categories: &[DataCategory],
        audit: AuditAction,
        details: serde_json::Value,
    ) -> Result<Vec<DataCategory>, AppError> {
        self.refresh_access_policy().await?;
        let engine = self.policy_engine();
        let capacity = self.capacity_of(account).await?;
        let now = self.now();
        let mut reasons: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let mut permitted = Vec::new();
        for &category in categories {
            if let AccessDecision::Permit { policy, .. } = engine.decide_for_account(
                &account.id,
                &account.patient_id,
                &capacity,
                category,
                AccessAction::Read,
                now,
            ) {
                reasons.entry(policy).or_default().push(category.as_str());
                permitted.push(category);
            }
        }
        let subject = format!("patient:{}", account.patient_id);
        let cats: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        if permitted.is_empty() {
            self.audit(
                &actor.name(),
                AuditAction::PatientSpaceDenied,
                &subject,
                "denied",
                &actor.client,
                json!({"categories": cats, "action": "read"}),
            )
            .await?;
            return Ok(permitted);
        }
        let via = capacity.source.to_string();
        let grouped: Vec<serde_json::Value> = reasons
            .into_iter()
            .map(|(policy, cats)| json!({"policy": policy, "via": via, "categories": cats}))
            .collect();
        let mut event = json!({
            "categories": permitted.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "purpose": "PATRQT",
            "reasons": grouped,
        });
        if let (Some(e), serde_json::Value::Object(mut d)) = (event.as_object_mut(), details) {
            e.append(&mut d);
        }
        self.audit(
            &actor.name(),
            audit,
            &subject,
            "granted",
            &actor.client,
            event,
        )
        .await?;
        Ok(permitted)
    }

    /// The account behind a patient principal, if it is still active.
    pub(crate) async fn active_account(
        &self,
        actor: &Actor,
    ) -> Result<PatientAccountRow, AppError> {
        let Principal::PatientAccount { account_id, .. } = &actor.principal else {
            return Err(AppError::Forbidden);
        };
        self.store()
            .patient_account(account_id)
            .await?
            .filter(|a| a.status == "active")
            .ok_or(AppError::Unauthenticated)
    }

    /// Open one document for a patient space account: it must be the account's patient's, in
    /// the account's scope and released; then the policy decides and the read is audited.
    /// Anything else is `NotFound`, so nothing unreleased is revealed.
    pub(crate) async fn open_document_for_account(
        &self,
        actor: &Actor,
        document_id: &str,
        action: AccessAction,
        audit: AuditAction,
        details: serde_json::Value,
    ) -> Result<DocumentRow, AppError> {
        if action != AccessAction::Read {
            return Err(AppError::Forbidden);
        }
        let account = self.active_account(actor).await?;
        let doc = self
            .store()
            .document(document_id)
            .await?
            .filter(|d| d.shredded_at.is_none())
            .ok_or(AppError::NotFound)?;
        let released = ReleaseView::of(&doc, self.now().as_seconds()).state == "released";
        let visit_end = self.visit_end(&account).await?;
        if !in_scope(&account, &doc, visit_end) || !released {
            return Err(AppError::NotFound);
        }
        let category = DataCategory::parse(&doc.category).map_err(AppError::internal)?;
        let permitted = self
            .decide_for_account(actor, &account, &[category], audit, details)
            .await?;
        if permitted.is_empty() {
            return Err(AppError::NotFound);
        }
        Ok(doc)
    }

    /// The signed-in patient's released documents, newest first.
    pub async fn patient_documents(
        &self,
        session: &PatientSession,
    ) -> Result<Vec<PatientDocument>, AppError> {
        let actor = session.actor()?;
        let account = self.active_account(&actor).await?;
        let now = self.now().as_seconds();
        let visit_end = self.visit_end(&account).await?;
        let docs: Vec<DocumentRow> = self
            .store()
            .released_documents_of(&account.patient_id, now)
            .await?
            .into_iter()
            .filter(|d| in_scope(&account, d, visit_end))
            .collect();
        let mut categories: Vec<DataCategory> = docs
            .iter()
            .filter_map(|d| DataCategory::parse(&d.category).ok())
            .collect();
        categories.sort();
        categories.dedup();
        let permitted = if categories.is_empty() {
            Vec::new()
        } else {
            self.decide_for_account(
                &actor,
                &account,
                &categories,
                AuditAction::PatientSpaceRead,
                json!({"view": "documents", "documents": docs.len()}),
            )
            .await?
        };
        let mut names = StaffNames::default();
        let mut out = Vec::new();
        for d in docs {
            let category = DataCategory::parse(&d.category).map_err(AppError::internal)?;
            if !permitted.contains(&category) {
                continue;
            }
            if let Some(doc) = PatientDocument::of(self.document_view(d, &mut names).await?) {
                out.push(doc);
            }
        }
        Ok(out)
    }

    /// What the signed-in patient types to sign in: their patient ID and the test or account
    /// ID. A patient invited by e-mail or SMS activated without the patient ID and learns it
    /// here. Reading it is a read of their identification, decided and audited; a proxy signs
    /// in with its own invitation reference and is shown nothing here.
    pub async fn patient_sign_in_identifiers(
        &self,
        session: &PatientSession,
    ) -> Result<Option<(String, String)>, AppError> {
        let actor = session.actor()?;
        let account = self.active_account(&actor).await?;
        let reference = match (&account.model[..], &account.test_id) {
            ("proxy", _) => return Ok(None),
            ("per_test", Some(test)) => self.store().test_reference(test).await?,
            _ => account.reference.clone(),
        };
        let Some(reference) = reference else {
            return Ok(None);
        };
        let permitted = self
            .decide_for_account(
                &actor,
                &account,
                &[DataCategory::Identification],
                AuditAction::PatientSpaceRead,
                json!({"view": "sign_in_identifiers"}),
            )
            .await?;
        if permitted.is_empty() {
            return Ok(None);
        }
        let patient = self
            .store()
            .patient(&account.patient_id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(Some((patient.mrn, reference)))
    }

    /// One released document of the signed-in patient.
    pub async fn patient_document(
        &self,
        session: &PatientSession,
        document_id: &str,
    ) -> Result<PatientDocument, AppError> {
        let actor = session.actor()?;
        let doc = self
            .open_document_for_account(
                &actor,
                document_id,
                AccessAction::Read,
                AuditAction::PatientSpaceRead,
                json!({"document": document_id, "view": "document"}),
            )
            .await?;
        PatientDocument::of(self.document_view(doc, &mut StaffNames::default()).await?)
            .ok_or(AppError::NotFound)
    }

    /// Download a released document's latest version, after the same signature and hash
    /// checks as every download.
    pub async fn patient_download(
        &self,
        session: &PatientSession,
        document_id: &str,
    ) -> Result<DocumentDownload, AppError> {
        let actor = session.actor()?;
        self.download_document(&actor, document_id, None).await
    }

    /// Who looked at or changed the patient's data, when, which categories and why, newest
    /// first: staff by name, and the patient's own reads in their space.
    pub async fn patient_access_history(
        &self,
        session: &PatientSession,
    ) -> Result<Vec<AccessHistoryEntry>, AppError> {
        let actor = session.actor()?;
        let account = self.active_account(&actor).await?;
        // The history names every category and every reader: it is the patient's alone.
        if account.proxy_id.is_some() {
            return Err(AppError::Forbidden);
        }
        let permitted = self
            .decide_for_account(
                &actor,
                &account,
                &[DataCategory::Administrative],
                AuditAction::PatientSpaceRead,
                json!({"view": "access_history"}),
            )
            .await?;
        if permitted.is_empty() {
            return Err(AppError::Forbidden);
        }
        let subject = format!("patient:{}", account.patient_id);
        let me = actor.name();
        let mut proxy_names: std::collections::HashMap<String, Option<String>> =
            std::collections::HashMap::new();
        let mut names = StaffNames::default();
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store().audit_of_subject(&subject, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page {
                if e.outcome != "granted" {
                    continue;
                }
                let (who, by_patient) = match e.actor.strip_prefix("user:") {
                    Some(id) => (Some(self.staff_name(&mut names, id).await?), false),
                    None if e.actor == me => (None, true),
                    None => match e.actor.strip_prefix("patient_account:") {
                        // A proxy's read, under the name the proxy access was approved for.
                        // Looked up once per account, however many reads it made.
                        Some(id) => {
                            let name = match proxy_names.get(id) {
                                Some(n) => n.clone(),
                                None => {
                                    let n = self.proxy_name_of_account(id).await?;
                                    proxy_names.insert(id.to_owned(), n.clone());
                                    n
                                }
                            };
                            match name {
                                Some(name) => (Some(name), false),
                                None => (None, true),
                            }
                        }
                        None => continue,
                    },
                };
                // The history view itself is not a look at data worth listing.
                let details: serde_json::Value =
                    serde_json::from_str(&e.details).unwrap_or_default();
                if details["view"] == "access_history" {
                    continue;
                }
                let categories = details["categories"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(AccessHistoryEntry {
                    at: e.at,
                    who,
                    by_patient,
                    action: e.action,
                    categories,
                    purpose: details["purpose"].as_str().map(str::to_owned),
                });
            }
        }
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(model: &str) -> PatientAccountRow {
        PatientAccountRow {
            id: "pa".into(),
            patient_id: "p1".into(),
            model: model.into(),
            test_id: Some("t1".into()),
            episode_id: Some("e1".into()),
            status: "active".into(),
            password_hash: None,
            second_factor: None,
            factor_contact_id: None,
            totp_sealed: None,
            totp_last_step: None,
            created_at: 0,
            activated_at: Some(0),
            closed_at: None,
            proxy_id: None,
            reference: None,
            passkey_json: None,
        }
    }

    fn doc(patient: &str, test: Option<&str>, episode: Option<&str>) -> DocumentRow {
        DocumentRow {
            id: "d".into(),
            patient_id: patient.into(),
            episode_id: episode.map(Into::into),
            test_id: test.map(Into::into),
            category: "results".into(),
            kind: "result".into(),
            retention_class: "x".into(),
            retain_until: 0,
            title_sealed: None,
            created_by: "u".into(),
            created_at: 0,
            legal_hold_at: None,
            legal_hold_by: None,
            legal_hold_reason_sealed: None,
            shredded_at: None,
            shred_reason: None,
            released_at: Some(1),
            released_by: None,
            release_due_at: None,
        }
    }

    #[test]
    fn an_account_sees_only_its_own_scope() {
        let per_test = account("per_test");
        assert!(in_scope(&per_test, &doc("p1", Some("t1"), None), None));
        assert!(!in_scope(&per_test, &doc("p1", Some("t2"), None), None));
        assert!(!in_scope(&per_test, &doc("p1", None, Some("e1")), None));
        assert!(!in_scope(&per_test, &doc("p2", Some("t1"), None), None));
        let per_visit = account("per_visit");
        assert!(in_scope(&per_visit, &doc("p1", None, Some("e1")), None));
        assert!(!in_scope(&per_visit, &doc("p1", Some("t1"), None), None));
        // Nothing added to a stay after discharge.
        let mut late = doc("p1", None, Some("e1"));
        late.created_at = 100;
        assert!(in_scope(&per_visit, &late, Some(100)));
        assert!(!in_scope(&per_visit, &late, Some(99)));
        let per_patient = account("per_patient");
        assert!(in_scope(&per_patient, &doc("p1", None, None), None));
        assert!(!in_scope(&per_patient, &doc("p2", None, None), None));
        assert!(!in_scope(
            &account("unknown"),
            &doc("p1", Some("t1"), Some("e1")),
            None
        ));
    }
}
