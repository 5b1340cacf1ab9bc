//! Proxy access: someone the patient relies on (a parent, a guardian, a partner, a legal
//! representative) reads part of the patient's space with an account of their own.
//!
//! One staff member proposes it (the proxy's name and contact, the relationship, the legal
//! basis, the categories it covers and an end date); a second, different one approves or
//! rejects it. Both are administrative writes on the patient, decided by the policy and
//! audited; the four-eyes rule is checked in the same statement that records the decision. On
//! approval the proxy receives an invitation code at their own contact (staff see only the
//! invitation's reference), opens an account with it and sets up a password and a second
//! factor like a patient. The patient is told that someone was given access, and sees who on
//! their account page, where they may end it if the operator allows.

use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;

use sealroom_crypto::slip;
use sealroom_crypto::token::new_id;
use sealroom_domain::{AccessAction, AuditAction, DataCategory, Timestamp};
use sealroom_store::{ContactRow, PatientAccountRow, ProxyRow, StoreError};

use super::sessions::{IssuedPatientSession, PatientSession, PatientSessionState};
use super::PatientProblem;
use crate::accounts::Actor;
use crate::throttle::ThrottleKeys;
use crate::{App, AppError, Client};

/// Wrong invitation codes after which the invitation stops working.
pub const MAX_INVITATION_ATTEMPTS: i64 = 5;
/// The longest a proxy access may be approved for.
const MAX_YEARS: i64 = 20;

/// Who the proxy is to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Parent,
    Guardian,
    SpouseOrPartner,
    Child,
    OtherFamily,
    LegalRepresentative,
    Carer,
}

/// Why the proxy may see the patient's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// The patient agreed (recorded at the desk).
    PatientConsent,
    /// Parental authority over a minor.
    ParentalAuthority,
    /// A court-appointed guardianship.
    Guardianship,
    /// A power of attorney for health matters.
    PowerOfAttorney,
}

fn name_of<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A proposal, as staff send it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyProposal {
    /// The proxy's full name, as on their identity document.
    pub name: String,
    pub relationship: Relationship,
    pub legal_basis: LegalBasis,
    /// The categories the proxy may read.
    pub categories: Vec<DataCategory>,
    /// The last day it holds, `YYYY-MM-DD` (it ends at the start of the next day, UTC).
    pub valid_until: String,
    /// Where the proxy's invitation and sign-in codes go: one of the two.
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A proxy access as staff and the patient see it.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyView {
    pub id: String,
    pub patient_id: String,
    pub name: String,
    pub relationship: String,
    pub legal_basis: String,
    pub categories: Vec<String>,
    /// Unix seconds: when it ends.
    pub valid_until: i64,
    /// `proposed`, `approved`, `rejected`, `revoked` or `expired`.
    pub state: String,
    pub proposed_by: String,
    pub decided_by: Option<String>,
    /// The proxy's contact, masked.
    pub contact: Option<String>,
    /// The printed reference of the invitation (approved only); the code went to the contact.
    pub invitation_reference: Option<String>,
    /// Whether the proxy has opened their account.
    pub activated: bool,
}

fn name_owner(proxy_id: &str) -> String {
    format!("proxy_name:{proxy_id}")
}

/// The end of the day `date` (`YYYY-MM-DD`), UTC, as Unix seconds.
fn end_of_day(date: &str) -> Option<i64> {
    Timestamp::from_date(date).map(|t| t.as_seconds() + 86_400)
}

impl App {
    fn proxy_view(&self, p: &ProxyRow, contact: Option<String>) -> Result<ProxyView, AppError> {
        let name = String::from_utf8(
            self.secrets()
                .open(&p.name_sealed, &name_owner(&p.id))
                .map_err(AppError::internal)?,
        )
        .map_err(AppError::internal)?;
        let now = self.now().as_seconds();
        let state = if p.state == "approved" && p.valid_until <= now {
            "expired".to_owned()
        } else {
            p.state.clone()
        };
        Ok(ProxyView {
            id: p.id.clone(),
            patient_id: p.patient_id.clone(),
            name,
            relationship: p.relationship.clone(),
            legal_basis: p.legal_basis.clone(),
            categories: p
                .categories
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            valid_until: p.valid_until,
            state,
            proposed_by: p.proposed_by.clone(),
            decided_by: p.decided_by.clone(),
            contact,
            invitation_reference: p.invitation_reference.clone(),
            activated: p.invitation_used_at.is_some(),
        })
    }

    async fn proxy_view_full(&self, p: &ProxyRow) -> Result<ProxyView, AppError> {
        let contact = match self.store().proxy_contact(&p.id).await? {
            Some(c) => Some(crate::patient_contacts::masked(&self.contact_address(&c)?)),
            None => None,
        };
        self.proxy_view(p, contact)
    }

    /// Propose a proxy access (the first of two people). An administrative write on the
    /// patient, decided by the policy and audited; nothing is usable until someone else
    /// approves it.
    pub async fn propose_proxy(
        &self,
        actor: &Actor,
        patient_id: &str,
        p: ProxyProposal,
    ) -> Result<ProxyView, AppError> {
        let name = p.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::InvalidInput(
                "name: give the proxy's full name (at most 200 characters)".into(),
            ));
        }
        let mut categories = p.categories.clone();
        categories.sort();
        categories.dedup();
        if categories.is_empty() {
            return Err(AppError::InvalidInput(
                "categories: name at least one data category the proxy may read".into(),
            ));
        }
        let now = self.now().as_seconds();
        let valid_until = end_of_day(&p.valid_until)
            .filter(|t| *t > now && *t <= now + MAX_YEARS * 366 * 86_400)
            .ok_or_else(|| {
                AppError::InvalidInput(format!(
                    "valid_until: give the last day as YYYY-MM-DD, in the future and within {MAX_YEARS} years"
                ))
            })?;
        let (kind, value) = match (p.email.as_deref(), p.phone.as_deref()) {
            (Some(e), None) if crate::mail::is_mailbox(e.trim()) && e.contains('@') && !e.contains('<') => {
                ("email", e.trim().to_owned())
            }
            (None, Some(ph)) => {
                let ph: String = ph.chars().filter(|c| !c.is_whitespace()).collect();
                if !crate::sms::is_phone_number(&ph) {
                    return Err(AppError::InvalidInput(
                        "phone: write it in international form, such as +32470123456".into(),
                    ));
                }
                ("phone", ph)
            }
            _ => {
                return Err(AppError::InvalidInput(
                    "give the proxy's e-mail address (email) or mobile number (phone), one of the two, where their invitation will go".into(),
                ))
            }
        };
        let id = new_id();
        let cats: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::ProxyProposed,
            json!({"proxy": id, "relationship": name_of(p.relationship),
                   "legal_basis": name_of(p.legal_basis), "proxy_categories": cats,
                   "valid_until": valid_until}),
        )
        .await?;
        let row = ProxyRow {
            id: id.clone(),
            patient_id: patient_id.to_owned(),
            name_sealed: self.secrets().seal(name.as_bytes(), &name_owner(&id)),
            relationship: name_of(p.relationship),
            legal_basis: name_of(p.legal_basis),
            categories: cats.join(","),
            valid_until,
            state: "proposed".into(),
            proposed_by: actor.name(),
            proposed_at: now,
            decided_by: None,
            decided_at: None,
            revoked_by: None,
            revoked_at: None,
            invitation_reference: None,
            invitation_digest: None,
            invitation_attempts: 0,
            invitation_used_at: None,
        };
        self.store().insert_proxy(&row).await?;
        let contact_id = new_id();
        self.store()
            .insert_contact(&ContactRow {
                id: contact_id.clone(),
                patient_id: patient_id.to_owned(),
                kind: kind.into(),
                value_sealed: self
                    .secrets()
                    .seal(value.as_bytes(), &format!("patient_contact:{contact_id}")),
                code_digest: None,
                code_expires_at: None,
                code_attempts: 0,
                verified_at: None,
                verified_by: None,
                created_by: actor.name(),
                created_at: now,
                removed_at: None,
                proxy_id: Some(id.clone()),
            })
            .await?;
        self.proxy_view(&row, Some(crate::patient_contacts::masked(&value)))
    }

    /// A patient's proxy accesses, for staff who may read the patient's administrative data.
    pub async fn proxies_of(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<Vec<ProxyView>, AppError> {
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Read,
            AuditAction::PatientRead,
            json!({"view": "proxies"}),
        )
        .await?;
        let mut out = Vec::new();
        for p in self.store().proxies_of(patient_id).await? {
            out.push(self.proxy_view_full(&p).await?);
        }
        Ok(out)
    }

    /// The second person's decision. Approving sends the proxy their invitation code and tells
    /// the patient; the one who proposed can never decide.
    pub async fn decide_proxy(
        &self,
        actor: &Actor,
        proxy_id: &str,
        approve: bool,
    ) -> Result<ProxyView, AppError> {
        let p = self
            .store()
            .proxy(proxy_id)
            .await?
            .ok_or(AppError::NotFound)?;
        // Checked first, so a refused self-approval is never audited as a decision.
        if p.proposed_by == actor.name() {
            return Err(AppError::Conflict(
                "a proxy access needs a second person: someone other than who proposed it must approve or reject it".into(),
            ));
        }
        if approve {
            self.require_care_read_of(actor, &p).await?;
        }
        self.require_patient_access(
            actor,
            &p.patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            if approve {
                AuditAction::ProxyApproved
            } else {
                AuditAction::ProxyRejected
            },
            json!({"proxy": p.id}),
        )
        .await?;
        if p.state != "proposed" {
            return Err(AppError::Conflict(
                "this proxy access is no longer waiting for a decision".into(),
            ));
        }
        let now = self.now().as_seconds();
        let (reference, code) = if approve {
            (
                Some(self.free_reference().await?),
                Some(slip::generate_secret()),
            )
        } else {
            (None, None)
        };
        let digest = code.as_deref().and_then(slip::secret_digest);
        let decided = self
            .store()
            .decide_proxy(
                &p.id,
                approve,
                &actor.name(),
                now,
                reference.as_deref(),
                digest.as_deref(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AppError::Conflict(
                    "an invitation reference was drawn twice; approve again".into(),
                ),
                e => e.into(),
            })?;
        if !decided {
            return Err(AppError::Conflict(
                "this proxy access is no longer waiting for a decision, or you proposed it".into(),
            ));
        }
        if let (Some(reference), Some(code)) = (&reference, &code) {
            self.send_proxy_invitation(&p, reference, code).await?;
            self.notify_patient_of_proxy(&p.patient_id).await?;
        }
        let p = self
            .store()
            .proxy(proxy_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.proxy_view_full(&p).await
    }

    /// The approver must be able to read every category the proxy would, through a care
    /// relationship (as for sharing a grant): nobody can hand on what they may not see
    /// themselves, and two desk clerks cannot open a patient's mental-health record to an
    /// outsider.
    async fn require_care_read_of(&self, actor: &Actor, p: &ProxyRow) -> Result<(), AppError> {
        let user_id = crate::patient_access::staff_id(actor, false)?.to_owned();
        let categories: Vec<DataCategory> = p
            .categories
            .split(',')
            .filter_map(|c| DataCategory::parse(c).ok())
            .collect();
        let outcome = self
            .decide_patient_access(&user_id, &p.patient_id, &categories, AccessAction::Read)
            .await?;
        let through_care = outcome
            .permitted
            .iter()
            .all(|r| r.via.starts_with("assignment:"));
        if outcome.denied.is_empty() && through_care {
            return Ok(());
        }
        self.audit_patient_refusal(actor, &p.patient_id, &categories, AccessAction::Read)
            .await?;
        let identifies = self
            .decide_patient_access(
                &user_id,
                &p.patient_id,
                &[DataCategory::Identification],
                AccessAction::Read,
            )
            .await?;
        if identifies.permitted.is_empty() {
            // Someone with no relation to the patient learns nothing of them.
            return Err(AppError::NotFound);
        }
        Err(AppError::InvalidInput(
            "only someone who may read every category of this proxy access through a care relationship may approve it (a clinician of the patient's care team)".into(),
        ))
    }

    async fn send_proxy_invitation(
        &self,
        p: &ProxyRow,
        reference: &str,
        code: &str,
    ) -> Result<(), AppError> {
        let contact = self
            .store()
            .proxy_contact(&p.id)
            .await?
            .ok_or_else(|| AppError::internal("a proxy has no contact"))?;
        let address = self.contact_address(&contact)?;
        let organization = &self.settings().organization_name;
        let url = format!("{}/proxy", self.patient_space_url());
        if contact.kind == "phone" {
            self.send_sms_in_background(
                address,
                crate::sms::templates::proxy_invitation(organization, reference, code, &url),
                "proxy invitation",
            );
        } else {
            self.send_mail_in_background(
                crate::mail::templates::proxy_invitation(
                    &address,
                    organization,
                    reference,
                    code,
                    &url,
                ),
                "proxy invitation",
            );
        }
        Ok(())
    }

    /// Tell the patient, at each verified contact, that someone was given access (never who).
    async fn notify_patient_of_proxy(&self, patient_id: &str) -> Result<(), AppError> {
        let organization = self.settings().organization_name.clone();
        let space = self.patient_space_url();
        self.notify_patient(
            patient_id,
            "proxy_added",
            |to| crate::mail::templates::proxy_added(to, &organization, &space),
            crate::sms::templates::proxy_added(&organization, &space),
        )
        .await
    }

    /// End a proxy access (staff): its account closes and its sessions end.
    pub async fn revoke_proxy(&self, actor: &Actor, proxy_id: &str) -> Result<ProxyView, AppError> {
        let p = self
            .store()
            .proxy(proxy_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.require_patient_access(
            actor,
            &p.patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::ProxyRevoked,
            json!({"proxy": p.id}),
        )
        .await?;
        self.end_proxy(&p, &actor.name()).await?;
        let p = self
            .store()
            .proxy(proxy_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.proxy_view_full(&p).await
    }

    async fn end_proxy(&self, p: &ProxyRow, by: &str) -> Result<(), AppError> {
        let now = self.now().as_seconds();
        if !self.store().revoke_proxy(&p.id, by, now).await? {
            return Err(AppError::Conflict(
                "this proxy access has already ended".into(),
            ));
        }
        if let Some(account) = self.store().patient_account_for_proxy(&p.id).await? {
            self.store().close_patient_account(&account.id, now).await?;
            self.store()
                .end_patient_sessions_of(&account.id, None, "proxy_revoked", now)
                .await?;
        }
        Ok(())
    }

    /// The proxy accesses to the signed-in patient's space (a proxy sees none).
    pub async fn patient_proxies(
        &self,
        session: &PatientSession,
    ) -> Result<Vec<ProxyView>, AppError> {
        session.actor()?;
        if session.account.model == "proxy" {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let now = self.now().as_seconds();
        for p in self.store().proxies_of(&session.account.patient_id).await? {
            if p.state == "approved" && p.valid_until > now {
                out.push(self.proxy_view(&p, None)?);
            }
        }
        Ok(out)
    }

    /// Whether patients may end their proxies' access themselves.
    pub fn patients_may_revoke_proxies(&self) -> bool {
        self.settings().patient_space.patients_may_revoke_proxies
    }

    /// The patient ends a proxy's access (if the operator allows).
    pub async fn patient_revoke_proxy(
        &self,
        session: &PatientSession,
        proxy_id: &str,
    ) -> Result<(), AppError> {
        session.actor()?;
        if !self.patients_may_revoke_proxies() || session.account.model == "proxy" {
            return Err(AppError::Forbidden);
        }
        let p = self
            .store()
            .proxy(proxy_id)
            .await?
            .filter(|p| p.patient_id == session.account.patient_id)
            .ok_or(AppError::NotFound)?;
        self.end_proxy(&p, &session.actor_name()).await?;
        self.audit(
            &session.actor_name(),
            AuditAction::ProxyRevoked,
            &format!("patient:{}", p.patient_id),
            "success",
            &session.client,
            json!({"proxy": p.id, "by": "patient"}),
        )
        .await
    }

    /// The proxy opens their account with the invitation's reference and code; the session
    /// that comes back may only set up how they sign in. Five wrong codes void the invitation.
    pub async fn activate_proxy_invitation(
        &self,
        reference: &str,
        code: &str,
        client: &Client,
    ) -> Result<IssuedPatientSession, AppError> {
        let canonical =
            slip::canonical_reference(reference).unwrap_or_else(|| reference.trim().to_owned());
        let mut keys = ThrottleKeys::new(&format!("proxy:{canonical}"), client);
        if !self.begin_attempt(&mut keys, None, client).await? {
            return Err(PatientProblem::Paused.into());
        }
        let refused = |subject: String, why: &'static str| async move {
            self.audit(
                "patient_space",
                AuditAction::ProxyInvitationRefused,
                &subject,
                "failure",
                client,
                json!({"why": why}),
            )
            .await
        };
        let Some(p) = self.store().proxy_by_invitation(&canonical).await? else {
            self.attempt_failed(&keys, None, client).await?;
            return Err(PatientProblem::SlipWrong.into());
        };
        let subject = format!("patient:{}", p.patient_id);
        let now = self.now().as_seconds();
        let usable = p.state == "approved"
            && p.invitation_used_at.is_none()
            && p.invitation_attempts < MAX_INVITATION_ATTEMPTS
            && p.valid_until > now;
        if !usable {
            self.attempt_failed(&keys, None, client).await?;
            refused(subject, "invitation no longer usable").await?;
            return Err(PatientProblem::SlipNoLonger.into());
        }
        let typed = slip::secret_digest(code).unwrap_or_default();
        let matches: bool = typed
            .as_bytes()
            .ct_eq(p.invitation_digest.as_deref().unwrap_or("").as_bytes())
            .into();
        if !matches {
            self.attempt_failed(&keys, None, client).await?;
            let attempts = self.store().proxy_invitation_failed(&p.id).await?;
            refused(subject, "wrong invitation code").await?;
            return Err(if attempts.is_some_and(|n| n >= MAX_INVITATION_ATTEMPTS) {
                PatientProblem::SlipNoLonger
            } else {
                PatientProblem::SlipWrong
            }
            .into());
        }
        if !self
            .store()
            .use_proxy_invitation(&p.id, now, MAX_INVITATION_ATTEMPTS)
            .await?
        {
            refused(subject, "invitation no longer usable").await?;
            return Err(PatientProblem::SlipNoLonger.into());
        }
        self.clear_attempts(&keys).await?;
        // The code reached the proxy's contact: it is theirs.
        self.store().verify_proxy_contact(&p.id, now).await?;
        let account = PatientAccountRow {
            proxy_id: Some(p.id.clone()),
            ..super::new_account(&p.patient_id, "proxy", now)
        };
        self.store().insert_patient_account(&account).await?;
        self.audit(
            &format!("patient_account:{}", account.id),
            AuditAction::ProxyInvitationRedeemed,
            &subject,
            "success",
            client,
            json!({"proxy": p.id}),
        )
        .await?;
        self.create_patient_session(&account.id, PatientSessionState::Activating, client)
            .await
    }

    /// The proxy access behind a proxy's account, if it still holds now.
    pub(crate) async fn live_proxy(
        &self,
        account: &PatientAccountRow,
    ) -> Result<Option<ProxyRow>, AppError> {
        let Some(id) = &account.proxy_id else {
            return Ok(None);
        };
        let now = self.now().as_seconds();
        Ok(self
            .store()
            .proxy(id)
            .await?
            .filter(|p| p.state == "approved" && p.valid_until > now))
    }

    /// The name of the proxy behind an account (None for a patient's own account).
    pub(crate) async fn proxy_name_of_account(
        &self,
        account_id: &str,
    ) -> Result<Option<String>, AppError> {
        let Some(account) = self.store().patient_account(account_id).await? else {
            return Ok(None);
        };
        match &account.proxy_id {
            Some(id) => match self.store().proxy(id).await? {
                Some(p) => Ok(Some(self.proxy_view(&p, None)?.name)),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Whether `t` is within the proxy's validity (for views).
    pub fn proxy_is_current(&self, p: &ProxyView) -> bool {
        p.state == "approved" && Timestamp(p.valid_until) > self.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_end_at_the_end_of_their_day_and_bad_ones_are_refused() {
        assert_eq!(end_of_day("1970-01-01"), Some(86_400));
        assert_eq!(end_of_day("2027-03-31"), Some(1_806_537_600));
        assert_eq!(end_of_day("2027-02-30"), None);
        assert_eq!(end_of_day("tomorrow"), None);
        assert_eq!(
            name_of(Relationship::LegalRepresentative),
            "legal_representative"
        );
        assert_eq!(name_of(LegalBasis::ParentalAuthority), "parental_authority");
    }
}
