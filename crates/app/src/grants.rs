//! One-off grants, break-glass emergency access, the security officer's review of both, and
//! a patient's access history.

use serde::Serialize;
use serde_json::json;

use sealroom_crypto::token::new_id;
use sealroom_domain::{
    AccessAction, AuditAction, DataCategory, OrganizationPatientId, Role, Timestamp,
};
use sealroom_store::{AlertRow, BreakGlassRow, GrantRow, UserStatus};

use crate::accounts::Actor;
use crate::patient_access::staff_id;
use crate::policy::{authorize, Action};
use crate::{App, AppError};

/// Who receives a grant.
#[derive(Debug, Clone)]
pub enum Grantee {
    Person(String),
    Department(String),
}

/// A grant as asked for.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub grantee: Grantee,
    pub categories: Vec<DataCategory>,
    /// Defaults to read only.
    pub allow_write: bool,
    pub purpose: String,
    pub valid_until: Timestamp,
}

/// A grant as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    pub id: String,
    pub patient_id: String,
    pub grantee_user_id: Option<String>,
    pub grantee_department_id: Option<String>,
    pub categories: Vec<String>,
    pub actions: Vec<String>,
    pub purpose: String,
    pub valid_from: i64,
    pub valid_until: i64,
    pub created_by: String,
    pub revoked_at: Option<i64>,
    /// In force now: not revoked and within its dates.
    pub in_force: bool,
}

/// A break-glass opening as the clinician gets it back.
#[derive(Debug, Clone, Serialize)]
pub struct BreakGlass {
    pub id: String,
    pub patient_id: String,
    pub opened_at: i64,
    pub expires_at: i64,
}

/// A break-glass opening on the security officer's review list.
#[derive(Debug, Clone, Serialize)]
pub struct BreakGlassReview {
    pub id: String,
    pub user_id: String,
    /// The display name of the person who opened it.
    pub user_name: String,
    pub patient_id: String,
    pub mrn: String,
    pub reason: String,
    pub opened_at: i64,
    pub expires_at: i64,
    pub review_state: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_comment: Option<String>,
    /// Audited uses of the opening (reads and writes it permitted).
    pub uses: i64,
}

/// A security alert (identifiers only).
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub created_at: i64,
}

/// One line of a patient's access history.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRecord {
    pub at: i64,
    /// `user:<id>` (or `service:<name>`).
    pub actor: String,
    /// The person's display name, when the actor is a staff account.
    pub actor_name: Option<String>,
    pub action: String,
    pub categories: Vec<String>,
    /// HL7 PurposeOfUse: TREAT, ETREAT, HOPERAT.
    pub purpose: Option<String>,
    /// The policies and capacities that permitted the access.
    pub reasons: serde_json::Value,
}

const MAX_GRANT_SECONDS: i64 = 366 * 24 * 3600;

fn grant_view(g: GrantRow, purpose: String, now: i64) -> Grant {
    let in_force = g.revoked_at.is_none() && g.valid_from <= now && now < g.valid_until;
    Grant {
        id: g.id,
        patient_id: g.patient_id,
        grantee_user_id: g.grantee_user_id,
        grantee_department_id: g.grantee_department_id,
        categories: g.categories.split(',').map(str::to_owned).collect(),
        actions: g.actions.split(',').map(str::to_owned).collect(),
        purpose,
        valid_from: g.valid_from,
        valid_until: g.valid_until,
        created_by: g.created_by,
        revoked_at: g.revoked_at,
        in_force,
    }
}

fn free_text(text: &str, what: &str, min: usize, max: usize) -> Result<String, AppError> {
    let t = text.trim();
    let n = t.chars().count();
    if n < min || n > max || t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::InvalidInput(format!(
            "the {what} must be {min} to {max} characters"
        )));
    }
    Ok(t.to_owned())
}

impl App {
    fn open_text(&self, sealed: &[u8], owner: &str) -> Result<String, AppError> {
        let plain = self
            .secrets()
            .open(sealed, owner)
            .map_err(AppError::internal)?;
        String::from_utf8(plain).map_err(AppError::internal)
    }

    fn grant_of(&self, g: GrantRow) -> Result<Grant, AppError> {
        let purpose = self.open_text(&g.purpose_sealed, &format!("grant:{}", g.id))?;
        Ok(grant_view(g, purpose, self.now().as_seconds()))
    }

    /// Share selected categories of one patient with a colleague or a department, for a
    /// purpose, until a date. Only a clinician who may read every shared category may share
    /// it; identification is always included so the receiver knows whose data it is.
    pub async fn create_grant(
        &self,
        actor: &Actor,
        patient_id: &str,
        new: NewGrant,
    ) -> Result<Grant, AppError> {
        let user_id = staff_id(actor, true)?.to_owned();
        let purpose = free_text(&new.purpose, "purpose", 5, 500)?;
        let now = self.now();
        if new.valid_until <= now || new.valid_until.since(now).as_seconds() > MAX_GRANT_SECONDS {
            return Err(AppError::InvalidInput(
                "a grant must end in the future and within a year".into(),
            ));
        }
        if new.categories.is_empty() {
            return Err(AppError::InvalidInput(
                "name at least one data category to share".into(),
            ));
        }
        let mut categories = vec![DataCategory::Identification];
        for c in &new.categories {
            if !categories.contains(c) {
                categories.push(*c);
            }
        }
        // The sharer must be a clinician now and able to read everything shared, through a
        // care relationship (not through a grant or break-glass: grants are not re-shared).
        let is_clinician = self
            .store()
            .assignments_of(&user_id)
            .await?
            .iter()
            .any(|a| {
                a.role == "clinician"
                    && a.confirmed == 1
                    && a.valid_from <= now.as_seconds()
                    && a.valid_until.is_none_or(|u| now.as_seconds() < u)
            });
        if self.store().patient(patient_id).await?.is_none() {
            return Err(AppError::NotFound);
        }
        let outcome = self
            .decide_patient_access(&user_id, patient_id, &categories, AccessAction::Read)
            .await?;
        let through_care = outcome
            .permitted
            .iter()
            .all(|r| r.via.starts_with("assignment:"));
        if !is_clinician || !outcome.denied.is_empty() || !through_care {
            self.audit_patient_refusal(actor, patient_id, &categories, AccessAction::Read)
                .await?;
            return Err(if outcome.allows(DataCategory::Identification) {
                AppError::Forbidden
            } else {
                AppError::NotFound
            });
        }
        match &new.grantee {
            Grantee::Person(id) => {
                let u = self.store().user_by_id(id).await?;
                if u.is_none_or(|u| UserStatus::parse(&u.status) != Some(UserStatus::Active)) {
                    return Err(AppError::InvalidInput(
                        "there is no active colleague with this id".into(),
                    ));
                }
                if *id == user_id {
                    return Err(AppError::InvalidInput(
                        "a grant to yourself gives nothing".into(),
                    ));
                }
            }
            Grantee::Department(id) => {
                if self.store().department(id).await?.is_none() {
                    return Err(AppError::InvalidInput("there is no such department".into()));
                }
            }
        }
        let id = new_id();
        let mut actions = vec!["read"];
        if new.allow_write {
            actions.push("write");
        }
        let row = GrantRow {
            id: id.clone(),
            patient_id: patient_id.to_owned(),
            grantee_user_id: match &new.grantee {
                Grantee::Person(p) => Some(p.clone()),
                Grantee::Department(_) => None,
            },
            grantee_department_id: match &new.grantee {
                Grantee::Department(d) => Some(d.clone()),
                Grantee::Person(_) => None,
            },
            categories: categories
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(","),
            actions: actions.join(","),
            purpose_sealed: self
                .secrets()
                .seal(purpose.as_bytes(), &format!("grant:{id}")),
            valid_from: now.as_seconds(),
            valid_until: new.valid_until.as_seconds(),
            created_by: user_id.clone(),
            created_at: now.as_seconds(),
            revoked_at: None,
            revoked_by: None,
        };
        self.store().insert_grant(&row).await?;
        self.audit_patient_access(
            actor,
            patient_id,
            &outcome.permitted,
            AuditAction::GrantCreated,
            json!({
                "grant": id,
                "grantee": row.grantee_user_id.as_ref().map(|u| format!("user:{u}"))
                    .or(row.grantee_department_id.as_ref().map(|d| format!("department:{d}"))),
                "granted_categories": row.categories,
                "granted_actions": row.actions,
                "valid_until": row.valid_until,
            }),
        )
        .await?;
        Ok(grant_view(row, purpose, now.as_seconds()))
    }

    /// The security officer (for an existing patient), or someone the policy lets read the
    /// patient's administrative data (audited as a read of `view`).
    async fn require_officer_or_administrative_read(
        &self,
        actor: &Actor,
        patient_id: &str,
        view: &str,
    ) -> Result<(), AppError> {
        if authorize(&actor.principal, Action::ReviewSecurity).is_ok() {
            return match self.store().patient(patient_id).await? {
                Some(_) => Ok(()),
                None => Err(AppError::NotFound),
            };
        }
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Read,
            AuditAction::PatientRead,
            json!({"view": view}),
        )
        .await?;
        Ok(())
    }

    /// Grants on a patient: for those who may read the patient's administrative data, and the
    /// security officer.
    pub async fn grants_on_patient(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<Vec<Grant>, AppError> {
        self.require_officer_or_administrative_read(actor, patient_id, "grants")
            .await?;
        self.store()
            .grants_on(patient_id)
            .await?
            .into_iter()
            .map(|g| self.grant_of(g))
            .collect()
    }

    /// Grants I made or received.
    pub async fn my_grants(&self, actor: &Actor) -> Result<Vec<Grant>, AppError> {
        let user_id = staff_id(actor, false)?.to_owned();
        self.store()
            .grants_involving(&user_id)
            .await?
            .into_iter()
            .map(|g| self.grant_of(g))
            .collect()
    }

    /// Revoke a grant: its maker, a clinician who may write the patient's administrative
    /// data, or the security officer.
    pub async fn revoke_grant(&self, actor: &Actor, grant_id: &str) -> Result<(), AppError> {
        let g = self
            .store()
            .grant(grant_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let maker = staff_id(actor, true).is_ok_and(|me| me == g.created_by);
        if !maker && authorize(&actor.principal, Action::ReviewSecurity).is_err() {
            let user_id = staff_id(actor, true)?;
            let outcome = self
                .decide_patient_access(
                    user_id,
                    &g.patient_id,
                    &[DataCategory::Administrative],
                    AccessAction::Write,
                )
                .await?;
            if outcome.permitted.is_empty() {
                return Err(AppError::NotFound);
            }
        }
        let changed = self
            .store()
            .revoke_grant(&g.id, self.now().as_seconds(), &actor.name())
            .await?;
        self.audit(
            &actor.name(),
            AuditAction::GrantRevoked,
            &format!("patient:{}", g.patient_id),
            if changed {
                "success"
            } else {
                "already_revoked"
            },
            &actor.client,
            json!({"grant": g.id}),
        )
        .await
    }

    /// Open emergency access to a patient found by their identifier, with a written reason.
    /// Only a clinician (by a current assignment) may; the security officer is alerted at once.
    pub async fn open_break_glass(
        &self,
        actor: &Actor,
        mrn: &str,
        reason: &str,
    ) -> Result<BreakGlass, AppError> {
        let user_id = staff_id(actor, true)?.to_owned();
        let reason = free_text(reason, "reason", 10, 1000)?;
        let mrn =
            OrganizationPatientId::parse(mrn).map_err(|e| AppError::InvalidInput(e.to_string()))?;
        let now = self.now();
        let is_clinician = self
            .store()
            .assignments_of(&user_id)
            .await?
            .iter()
            .any(|a| {
                a.role == "clinician"
                    && a.confirmed == 1
                    && a.valid_from <= now.as_seconds()
                    && a.valid_until.is_none_or(|u| now.as_seconds() < u)
            });
        if !is_clinician {
            return Err(AppError::Forbidden);
        }
        let patient = self
            .store()
            .patient_by_mrn(mrn.as_str())
            .await?
            .ok_or(AppError::NotFound)?;
        let id = new_id();
        let row = BreakGlassRow {
            id: id.clone(),
            user_id: user_id.clone(),
            patient_id: patient.id.clone(),
            reason_sealed: self
                .secrets()
                .seal(reason.as_bytes(), &format!("break_glass:{id}")),
            opened_at: now.as_seconds(),
            expires_at: now
                .plus(self.settings().access.break_glass_duration)
                .as_seconds(),
            review_state: "pending".into(),
            reviewed_by: None,
            reviewed_at: None,
            review_comment_sealed: None,
        };
        self.store().insert_break_glass(&row).await?;
        self.store()
            .insert_alert(&AlertRow {
                id: new_id(),
                kind: "break_glass.opened".into(),
                subject: format!("break_glass:{id}"),
                created_at: now.as_seconds(),
                acknowledged_at: None,
                acknowledged_by: None,
            })
            .await?;
        self.audit(
            &actor.name(),
            AuditAction::BreakGlassOpened,
            &format!("patient:{}", patient.id),
            "success",
            &actor.client,
            json!({"break_glass": id, "expires_at": row.expires_at, "purpose": "ETREAT"}),
        )
        .await?;
        self.mail_break_glass_alert(&user_id, now).await?;
        Ok(BreakGlass {
            id,
            patient_id: patient.id,
            opened_at: row.opened_at,
            expires_at: row.expires_at,
        })
    }

    /// E-mail every active security officer that emergency access was opened (who and when,
    /// never the patient or the reason).
    async fn mail_break_glass_alert(&self, opener_id: &str, at: Timestamp) -> Result<(), AppError> {
        let users = self.store().list_users().await?;
        let opener = users
            .iter()
            .find(|u| u.id == opener_id)
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| "A staff member".into());
        let review_link = self.link("/security/review");
        for officer in users.iter().filter(|u| {
            u.role == Role::SecurityOfficer.as_str()
                && UserStatus::parse(&u.status) == Some(UserStatus::Active)
        }) {
            self.send_mail_in_background(
                crate::mail::templates::break_glass_alert(
                    &officer.email,
                    &self.settings().organization_name,
                    &opener,
                    &at.date_and_minute(),
                    &review_link,
                ),
                "break_glass_alert",
            );
        }
        Ok(())
    }

    /// The security officer's review list (pending first when `pending_only`).
    pub async fn break_glass_reviews(
        &self,
        actor: &Actor,
        pending_only: bool,
    ) -> Result<Vec<BreakGlassReview>, AppError> {
        authorize(&actor.principal, Action::ReviewSecurity)?;
        let rows = self
            .store()
            .break_glass_for_review(pending_only.then_some("pending"), 500)
            .await?;
        let names: std::collections::HashMap<String, String> = self
            .store()
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect();
        let mut out = Vec::new();
        for b in rows {
            let mrn = self
                .store()
                .patient(&b.patient_id)
                .await?
                .map(|p| p.mrn)
                .unwrap_or_default();
            let uses = self
                .store()
                .count_audit_mentioning(
                    &format!("patient:{}", b.patient_id),
                    &format!("break_glass:{}", b.id),
                )
                .await?;
            out.push(BreakGlassReview {
                reason: self.open_text(&b.reason_sealed, &format!("break_glass:{}", b.id))?,
                review_comment: match &b.review_comment_sealed {
                    Some(c) => Some(self.open_text(c, &format!("break_glass_review:{}", b.id))?),
                    None => None,
                },
                user_name: names
                    .get(&b.user_id)
                    .cloned()
                    .unwrap_or_else(|| "A staff member".into()),
                id: b.id,
                user_id: b.user_id,
                patient_id: b.patient_id,
                mrn,
                opened_at: b.opened_at,
                expires_at: b.expires_at,
                review_state: b.review_state,
                reviewed_by: b.reviewed_by,
                reviewed_at: b.reviewed_at,
                uses,
            });
        }
        self.audit(
            &actor.name(),
            AuditAction::BreakGlassReviewRead,
            "break_glass",
            "success",
            &actor.client,
            json!({"listed": out.len()}),
        )
        .await?;
        Ok(out)
    }

    /// Mark an opening justified or not, with a comment.
    pub async fn review_break_glass(
        &self,
        actor: &Actor,
        id: &str,
        justified: bool,
        comment: &str,
    ) -> Result<(), AppError> {
        authorize(&actor.principal, Action::ReviewSecurity)?;
        let comment = free_text(comment, "review comment", 1, 2000)?;
        let b = self
            .store()
            .break_glass(id)
            .await?
            .ok_or(AppError::NotFound)?;
        let state = if justified {
            "justified"
        } else {
            "unjustified"
        };
        let sealed = self
            .secrets()
            .seal(comment.as_bytes(), &format!("break_glass_review:{}", b.id));
        if !self
            .store()
            .review_break_glass(
                &b.id,
                state,
                &actor.name(),
                self.now().as_seconds(),
                &sealed,
            )
            .await?
        {
            return Err(AppError::Conflict(
                "this opening was already reviewed".into(),
            ));
        }
        self.audit(
            &actor.name(),
            AuditAction::BreakGlassReviewed,
            &format!("break_glass:{}", b.id),
            state,
            &actor.client,
            json!({"user": format!("user:{}", b.user_id)}),
        )
        .await
    }

    /// Open security alerts.
    pub async fn open_alerts(&self, actor: &Actor) -> Result<Vec<Alert>, AppError> {
        authorize(&actor.principal, Action::ReviewSecurity)?;
        Ok(self
            .store()
            .open_alerts(200)
            .await?
            .into_iter()
            .map(|a| Alert {
                id: a.id,
                kind: a.kind,
                subject: a.subject,
                created_at: a.created_at,
            })
            .collect())
    }

    pub async fn acknowledge_alert(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        authorize(&actor.principal, Action::ReviewSecurity)?;
        if !self
            .store()
            .acknowledge_alert(id, &actor.name(), self.now().as_seconds())
            .await?
        {
            return Err(AppError::NotFound);
        }
        self.audit(
            &actor.name(),
            AuditAction::AlertAcknowledged,
            &format!("alert:{id}"),
            "success",
            &actor.client,
            json!({}),
        )
        .await
    }

    /// Who looked at or changed this patient's data, when, which categories, and why: for the
    /// security officer and for those who may read the patient's administrative data.
    pub async fn access_history(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<Vec<AccessRecord>, AppError> {
        self.require_officer_or_administrative_read(actor, patient_id, "access_history")
            .await?;
        let subject = format!("patient:{patient_id}");
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store().audit_of_subject(&subject, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page {
                if e.outcome != "granted" && e.action != AuditAction::BreakGlassOpened.as_str() {
                    continue;
                }
                let details: serde_json::Value =
                    serde_json::from_str(&e.details).unwrap_or_default();
                let categories = details["categories"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let actor_name = match e.actor.strip_prefix("user:") {
                    Some(id) => self.store().user_by_id(id).await?.map(|u| u.display_name),
                    None => None,
                };
                out.push(AccessRecord {
                    at: e.at,
                    actor: e.actor,
                    actor_name,
                    action: e.action,
                    categories,
                    purpose: details["purpose"].as_str().map(str::to_owned),
                    reasons: details["reasons"].clone(),
                });
            }
        }
        self.audit(
            &actor.name(),
            AuditAction::AccessHistoryRead,
            &format!("patient_history:{patient_id}"),
            "success",
            &actor.client,
            json!({"entries": out.len()}),
        )
        .await?;
        Ok(out)
    }
}
