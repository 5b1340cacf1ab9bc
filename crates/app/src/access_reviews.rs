//! Access reviews: per department, a report of who can reach which patients and why, and a
//! periodic attestation in which the department's manager confirms or removes each person's
//! assignment (removal ends it at once).
//!
//! The manager of a department is a clinician with a confirmed assignment in force there;
//! administrators may act too. Nobody attests their own assignment.

use serde::Serialize;
use serde_json::json;

use sealroom_crypto::token::new_id;
use sealroom_domain::{AuditAction, Duration};
use sealroom_store::{AccessReviewRow, AssignmentRow, ReviewItemRow};

use crate::accounts::Actor;
use crate::policy::{authorize, Action, Principal};
use crate::{App, AppError};

/// How long a manager has to complete a review.
const REVIEW_PERIOD: Duration = Duration::hours(24 * 14);

/// One person in a department's access report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportMember {
    pub user_id: String,
    pub display_name: String,
    pub assignment_id: String,
    pub role: String,
    pub valid_until: Option<i64>,
    pub temporary: bool,
    /// Patients reachable through this assignment, by relation (see docs/access-control.md).
    pub current_care_patients: i64,
    pub previous_care_patients: i64,
    pub assigned_test_patients: i64,
    /// One-off grants to the person in force, and break-glass openings in the last 30 days.
    pub personal_grants: usize,
    pub recent_break_glass: usize,
}

/// Who can reach which patients of a department, and why.
#[derive(Debug, Clone, Serialize)]
pub struct AccessReport {
    pub department_id: String,
    pub generated_at: i64,
    pub members: Vec<ReportMember>,
    /// Grants to the whole department in force: id, patient, categories, until.
    pub department_grants: Vec<serde_json::Value>,
}

/// A review and its items.
#[derive(Debug, Clone, Serialize)]
pub struct AccessReview {
    pub id: String,
    pub department_id: String,
    pub started_at: i64,
    pub due_at: i64,
    pub completed_at: Option<i64>,
    pub items: Vec<ReviewItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewItem {
    pub assignment_id: String,
    pub user_id: String,
    pub role: String,
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

impl From<ReviewItemRow> for ReviewItem {
    fn from(i: ReviewItemRow) -> Self {
        ReviewItem {
            assignment_id: i.assignment_id,
            user_id: i.user_id,
            role: i.role,
            decision: i.decision,
            decided_by: i.decided_by,
            decided_at: i.decided_at,
        }
    }
}

fn in_force(a: &AssignmentRow, now: i64) -> bool {
    a.confirmed == 1 && a.valid_from <= now && a.valid_until.is_none_or(|u| now < u)
}

impl App {
    /// Administrators, the security officer, and the department's manager.
    async fn may_review(&self, actor: &Actor, department_id: &str) -> Result<(), AppError> {
        if authorize(&actor.principal, Action::ManageOrganization).is_ok()
            || authorize(&actor.principal, Action::ReviewSecurity).is_ok()
        {
            return Ok(());
        }
        if self.is_manager_of(actor, department_id).await? {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    async fn is_manager_of(&self, actor: &Actor, department_id: &str) -> Result<bool, AppError> {
        let Principal::Staff { user_id, .. } = &actor.principal else {
            return Ok(false);
        };
        authorize(&actor.principal, Action::ReadOrganization)?;
        let now = self.now().as_seconds();
        Ok(self
            .store()
            .assignments_of(user_id)
            .await?
            .iter()
            .any(|a| a.department_id == department_id && a.role == "clinician" && in_force(a, now)))
    }

    pub async fn department_access_report(
        &self,
        actor: &Actor,
        department_id: &str,
    ) -> Result<AccessReport, AppError> {
        self.may_review(actor, department_id).await?;
        self.store()
            .department(department_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let now = self.now();
        let window_start = now
            .minus(self.settings().access.previous_care_window)
            .as_seconds();
        let current = self.store().count_current_patients(department_id).await?;
        let recent = self
            .store()
            .count_recent_patients(department_id, window_start)
            .await?;
        let tests = self
            .store()
            .count_test_patients(
                department_id,
                now.minus(sealroom_domain::access::TEST_READ_WINDOW)
                    .as_seconds(),
            )
            .await?;
        let openings = self.store().break_glass_for_review(None, 10_000).await?;
        let mut members = Vec::new();
        for a in self
            .store()
            .assignments_in(department_id, now.as_seconds())
            .await?
        {
            if !in_force(&a, now.as_seconds()) {
                continue;
            }
            let user = self.store().user_by_id(&a.user_id).await?;
            let grants = self
                .store()
                .grants_involving(&a.user_id)
                .await?
                .into_iter()
                .filter(|g| {
                    g.grantee_user_id.as_deref() == Some(&a.user_id)
                        && g.revoked_at.is_none()
                        && now.as_seconds() < g.valid_until
                })
                .count();
            members.push(ReportMember {
                display_name: user.map(|u| u.display_name).unwrap_or_default(),
                current_care_patients: current,
                previous_care_patients: recent,
                assigned_test_patients: tests,
                personal_grants: grants,
                recent_break_glass: openings
                    .iter()
                    .filter(|b| {
                        b.user_id == a.user_id && b.opened_at > now.as_seconds() - 30 * 86_400
                    })
                    .count(),
                user_id: a.user_id,
                assignment_id: a.id,
                role: a.role,
                valid_until: a.valid_until,
                temporary: a.temporary == 1,
            });
        }
        let department_grants = self
            .store()
            .grants_to_department(department_id)
            .await?
            .into_iter()
            .filter(|g| g.revoked_at.is_none() && now.as_seconds() < g.valid_until)
            .map(|g| json!({"id": g.id, "patient_id": g.patient_id, "categories": g.categories, "valid_until": g.valid_until}))
            .collect();
        Ok(AccessReport {
            department_id: department_id.to_owned(),
            generated_at: now.as_seconds(),
            members,
            department_grants,
        })
    }

    /// Start an attestation of every assignment in force in the department.
    pub async fn start_access_review(
        &self,
        actor: &Actor,
        department_id: &str,
    ) -> Result<AccessReview, AppError> {
        self.may_review(actor, department_id).await?;
        self.store()
            .department(department_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let now = self.now();
        let review = AccessReviewRow {
            id: new_id(),
            department_id: department_id.to_owned(),
            started_by: actor.name(),
            started_at: now.as_seconds(),
            due_at: now.plus(REVIEW_PERIOD).as_seconds(),
            completed_at: None,
        };
        let items: Vec<ReviewItemRow> = self
            .store()
            .assignments_in(department_id, now.as_seconds())
            .await?
            .into_iter()
            .filter(|a| in_force(a, now.as_seconds()))
            .map(|a| ReviewItemRow {
                review_id: review.id.clone(),
                assignment_id: a.id,
                user_id: a.user_id,
                role: a.role,
                decision: None,
                decided_by: None,
                decided_at: None,
            })
            .collect();
        self.store().insert_access_review(&review, &items).await?;
        self.audit(
            &actor.name(),
            AuditAction::AccessReviewStarted,
            &format!("department:{department_id}"),
            "success",
            &actor.client,
            json!({"review": review.id, "items": items.len()}),
        )
        .await?;
        self.access_review(actor, &review.id).await
    }

    pub async fn access_review(
        &self,
        actor: &Actor,
        review_id: &str,
    ) -> Result<AccessReview, AppError> {
        let r = self
            .store()
            .access_review(review_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.may_review(actor, &r.department_id).await?;
        let items = self.store().access_review_items(&r.id).await?;
        Ok(AccessReview {
            id: r.id,
            department_id: r.department_id,
            started_at: r.started_at,
            due_at: r.due_at,
            completed_at: r.completed_at,
            items: items.into_iter().map(ReviewItem::from).collect(),
        })
    }

    /// Confirm (`keep = true`) or remove one person's assignment. Removal ends it now.
    pub async fn attest_assignment(
        &self,
        actor: &Actor,
        review_id: &str,
        assignment_id: &str,
        keep: bool,
    ) -> Result<AccessReview, AppError> {
        let r = self
            .store()
            .access_review(review_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.may_review(actor, &r.department_id).await?;
        let item = self
            .store()
            .access_review_items(&r.id)
            .await?
            .into_iter()
            .find(|i| i.assignment_id == assignment_id)
            .ok_or(AppError::NotFound)?;
        if matches!(&actor.principal, Principal::Staff { user_id, .. } if *user_id == item.user_id)
        {
            return Err(AppError::Conflict(
                "nobody attests their own access; another manager must".into(),
            ));
        }
        let now = self.now().as_seconds();
        let decision = if keep { "confirmed" } else { "removed" };
        if !self
            .store()
            .decide_review_item(&r.id, assignment_id, decision, &actor.name(), now)
            .await?
        {
            return Err(AppError::Conflict(
                "this assignment was already attested in this review".into(),
            ));
        }
        if !keep {
            self.store().end_assignment(assignment_id, now).await?;
        }
        self.audit(
            &actor.name(),
            AuditAction::AccessAttested,
            &format!("user:{}", item.user_id),
            decision,
            &actor.client,
            json!({"review": r.id, "assignment": assignment_id}),
        )
        .await?;
        self.access_review(actor, &r.id).await
    }
}
