//! Departments and staff assignments: who works where, in which role, from when until when.
//!
//! An assignment is what gives a staff member a relation to patients; its end date is
//! enforced at every decision (see `sealroom_domain::access::capacities`), never by a job.
//! Ending employment (a leaver) ends every assignment, revokes every grant to the person,
//! closes their break-glass openings and ends their sessions in one call.

use serde::Serialize;
use serde_json::json;

use sealroom_crypto::token::new_id;
use sealroom_domain::{AssignmentRole, AuditAction, Timestamp};
use sealroom_store::{AssignmentRow, DepartmentRow, UserStatus};

use crate::accounts::Actor;
use crate::policy::{authorize, Action, Principal};
use crate::sessions::EndReason;
use crate::{App, AppError};

/// What a department is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentKind {
    /// A care unit: patients are admitted to it.
    Care,
    /// A laboratory: tests are assigned to it.
    Laboratory,
    /// Administration: reception, records, management.
    Administration,
}

impl DepartmentKind {
    pub fn parse(s: &str) -> Result<Self, AppError> {
        match s.trim() {
            "care" => Ok(DepartmentKind::Care),
            "laboratory" => Ok(DepartmentKind::Laboratory),
            "administration" => Ok(DepartmentKind::Administration),
            _ => Err(AppError::InvalidInput(
                "the department kind must be one of: care, laboratory, administration".into(),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DepartmentKind::Care => "care",
            DepartmentKind::Laboratory => "laboratory",
            DepartmentKind::Administration => "administration",
        }
    }
}

/// A department as shown to staff.
#[derive(Debug, Clone, Serialize)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub kind: String,
}

impl From<DepartmentRow> for Department {
    fn from(d: DepartmentRow) -> Self {
        Department {
            id: d.id,
            name: d.name,
            kind: d.kind,
        }
    }
}

/// A request to assign someone to a department.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub department_id: String,
    pub role: String,
    /// Defaults to now.
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    /// Temporary staff (locums, students, agency nurses) must have an end date.
    pub temporary: bool,
    /// Whether the assignment waits for the department manager's confirmation (a mover's new
    /// department). Unconfirmed assignments grant nothing.
    pub needs_confirmation: bool,
}

/// An assignment as shown to administrators and the person.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub id: String,
    pub user_id: String,
    pub department_id: String,
    pub role: String,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub temporary: bool,
    pub confirmed: bool,
    /// Whether it grants anything now (confirmed and within its dates).
    pub in_force: bool,
}

impl Assignment {
    fn from_row(a: AssignmentRow, now: i64) -> Assignment {
        let in_force =
            a.confirmed == 1 && a.valid_from <= now && a.valid_until.is_none_or(|u| now < u);
        Assignment {
            id: a.id,
            user_id: a.user_id,
            department_id: a.department_id,
            role: a.role,
            valid_from: a.valid_from,
            valid_until: a.valid_until,
            temporary: a.temporary == 1,
            confirmed: a.confirmed == 1,
            in_force,
        }
    }
}

/// The longest an assignment may be dated ahead or last when temporary.
const MAX_TEMPORARY_SECONDS: i64 = 2 * 366 * 24 * 3600;

impl App {
    pub async fn create_department(
        &self,
        actor: &Actor,
        name: &str,
        kind: &str,
    ) -> Result<Department, AppError> {
        authorize(&actor.principal, Action::ManageOrganization)?;
        let kind = DepartmentKind::parse(kind)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::InvalidInput(
                "the department name must be 1 to 100 characters without control characters".into(),
            ));
        }
        let row = DepartmentRow {
            id: new_id(),
            name: name.to_owned(),
            kind: kind.as_str().to_owned(),
            created_at: self.now().as_seconds(),
        };
        self.store()
            .insert_department(&row)
            .await
            .map_err(|e| match e {
                sealroom_store::StoreError::Conflict(_) => {
                    AppError::Conflict("a department with this name already exists".into())
                }
                other => other.into(),
            })?;
        self.audit(
            &actor.name(),
            AuditAction::DepartmentCreated,
            &format!("department:{}", row.id),
            "success",
            &actor.client,
            json!({"kind": row.kind}),
        )
        .await?;
        Ok(row.into())
    }

    pub async fn list_departments(&self, actor: &Actor) -> Result<Vec<Department>, AppError> {
        authorize(&actor.principal, Action::ReadOrganization)?;
        Ok(self
            .store()
            .list_departments()
            .await?
            .into_iter()
            .map(Department::from)
            .collect())
    }

    /// Assign a staff member to a department in a role.
    pub async fn assign_staff(
        &self,
        actor: &Actor,
        user_id: &str,
        request: NewAssignment,
    ) -> Result<Assignment, AppError> {
        authorize(&actor.principal, Action::ManageOrganization)?;
        require_step_up_for_people(actor)?;
        let role = AssignmentRole::parse(&request.role, &self.settings().access.custom_roles)
            .map_err(|e| {
                AppError::InvalidInput(format!(
                    "unknown role '{}': use a built-in role or one declared in access.custom_roles",
                    e.0
                ))
            })?;
        let now = self.now();
        let from = request.valid_from.unwrap_or(now);
        if let Some(until) = request.valid_until {
            if until <= from {
                return Err(AppError::InvalidInput(
                    "the end date must be after the start date".into(),
                ));
            }
            if request.temporary && until.since(from).as_seconds() > MAX_TEMPORARY_SECONDS {
                return Err(AppError::InvalidInput(
                    "a temporary assignment may last at most two years".into(),
                ));
            }
        } else if request.temporary {
            return Err(AppError::InvalidInput(
                "temporary staff must have an end date (valid_until)".into(),
            ));
        }
        let user = self
            .store()
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::NotFound)?;
        if UserStatus::parse(&user.status) == Some(UserStatus::Disabled) {
            return Err(AppError::Conflict(
                "this account is disabled; enable it before assigning it".into(),
            ));
        }
        let department = self
            .store()
            .department(&request.department_id)
            .await?
            .ok_or_else(|| AppError::InvalidInput("there is no such department".into()))?;
        let row = AssignmentRow {
            id: new_id(),
            user_id: user.id.clone(),
            department_id: department.id.clone(),
            role: role.as_str().to_owned(),
            valid_from: from.as_seconds(),
            valid_until: request.valid_until.map(Timestamp::as_seconds),
            temporary: i64::from(request.temporary),
            confirmed: i64::from(!request.needs_confirmation),
            created_by: actor.name(),
            created_at: now.as_seconds(),
        };
        self.store().insert_assignment(&row).await?;
        self.audit(
            &actor.name(),
            AuditAction::AssignmentCreated,
            &format!("user:{}", user.id),
            "success",
            &actor.client,
            json!({
                "assignment": row.id,
                "department": department.id,
                "role": row.role,
                "valid_from": row.valid_from,
                "valid_until": row.valid_until,
                "temporary": request.temporary,
                "confirmed": row.confirmed == 1,
            }),
        )
        .await?;
        Ok(Assignment::from_row(row, now.as_seconds()))
    }

    /// A person's assignments (administrators, or the person themselves).
    pub async fn assignments_of(
        &self,
        actor: &Actor,
        user_id: &str,
    ) -> Result<Vec<Assignment>, AppError> {
        let own = matches!(&actor.principal, Principal::Staff { user_id: me, .. } if me == user_id);
        if !own {
            authorize(&actor.principal, Action::ManageOrganization)?;
        }
        let now = self.now().as_seconds();
        Ok(self
            .store()
            .assignments_of(user_id)
            .await?
            .into_iter()
            .map(|a| Assignment::from_row(a, now))
            .collect())
    }

    /// End an assignment now.
    pub async fn end_assignment(&self, actor: &Actor, assignment_id: &str) -> Result<(), AppError> {
        authorize(&actor.principal, Action::ManageOrganization)?;
        let a = self
            .store()
            .assignment(assignment_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let now = self.now().as_seconds();
        let changed = self.store().end_assignment(&a.id, now).await?;
        self.audit(
            &actor.name(),
            AuditAction::AssignmentEnded,
            &format!("user:{}", a.user_id),
            if changed { "success" } else { "already_ended" },
            &actor.client,
            json!({"assignment": a.id, "department": a.department_id}),
        )
        .await
    }

    /// Confirm an assignment that waits for its department (a mover's new department). The
    /// department's manager does this: an administrator, or a clinician currently assigned to
    /// that department in a confirmed assignment.
    pub async fn confirm_assignment(
        &self,
        actor: &Actor,
        assignment_id: &str,
    ) -> Result<Assignment, AppError> {
        let a = self
            .store()
            .assignment(assignment_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let now = self.now().as_seconds();
        let allowed = match &actor.principal {
            Principal::Staff { user_id, .. } if *user_id == a.user_id => false,
            Principal::Staff { user_id, .. } => {
                authorize(&actor.principal, Action::ManageOrganization).is_ok()
                    || self.provisioned_manager_of(&a.user_id).await?.as_deref()
                        == Some(user_id.as_str())
                    || self.store().assignments_of(user_id).await?.iter().any(|m| {
                        m.department_id == a.department_id
                            && m.role == "clinician"
                            && m.confirmed == 1
                            && m.valid_from <= now
                            && m.valid_until.is_none_or(|u| now < u)
                    })
            }
            _ => false,
        };
        if !allowed {
            return Err(AppError::Forbidden);
        }
        self.store().confirm_assignment(&a.id).await?;
        self.audit(
            &actor.name(),
            AuditAction::AssignmentConfirmed,
            &format!("user:{}", a.user_id),
            "success",
            &actor.client,
            json!({"assignment": a.id, "department": a.department_id}),
        )
        .await?;
        let row = self
            .store()
            .assignment(&a.id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(Assignment::from_row(row, now))
    }

    /// A leaver: disable the account, end every assignment, revoke every grant made to the
    /// person, close their break-glass openings, end all their sessions and retire their
    /// signing key (its private half is destroyed; the public half stays, so what they signed
    /// still verifies), now.
    pub async fn offboard_staff(&self, actor: &Actor, user_id: &str) -> Result<(), AppError> {
        authorize(&actor.principal, Action::ManageOrganization)?;
        self.offboard(actor, user_id).await
    }

    /// The leaver's changes, once the caller is authorized (administration or provisioning).
    pub(crate) async fn offboard(&self, actor: &Actor, user_id: &str) -> Result<(), AppError> {
        let user = self
            .store()
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let now = self.now().as_seconds();
        self.store()
            .set_user_status(&user.id, UserStatus::Disabled, now)
            .await?;
        let assignments = self.store().end_assignments_of(&user.id, now).await?;
        let grants = self
            .store()
            .revoke_grants_to(&user.id, now, &actor.name())
            .await?;
        let openings = self.store().close_break_glass_of(&user.id, now).await?;
        let sessions = self
            .store()
            .end_sessions_of_user(&user.id, None, EndReason::AccountDisabled.as_str(), now)
            .await?;
        self.session_cache().remove_user(&user.id);
        self.store().retire_signing_key(&user.id, now).await?;
        self.audit(
            &actor.name(),
            AuditAction::StaffOffboarded,
            &format!("user:{}", user.id),
            "success",
            &actor.client,
            json!({
                "assignments_ended": assignments,
                "grants_revoked": grants,
                "break_glass_closed": openings,
                "sessions_ended": sessions.len(),
                "signing_key_retired": true,
            }),
        )
        .await
    }
}

impl App {
    /// Assign someone through provisioning (SCIM), once the caller is authorized: from now,
    /// open-ended, waiting for the department's confirmation when `needs_confirmation`.
    pub(crate) async fn provision_assignment(
        &self,
        actor: &Actor,
        user_id: &str,
        department_id: &str,
        role: &AssignmentRole,
        needs_confirmation: bool,
    ) -> Result<(), AppError> {
        let now = self.now().as_seconds();
        let row = AssignmentRow {
            id: new_id(),
            user_id: user_id.to_owned(),
            department_id: department_id.to_owned(),
            role: role.as_str().to_owned(),
            valid_from: now,
            valid_until: None,
            temporary: 0,
            confirmed: i64::from(!needs_confirmation),
            created_by: actor.name(),
            created_at: now,
        };
        self.store().insert_assignment(&row).await?;
        self.audit(
            &actor.name(),
            AuditAction::AssignmentCreated,
            &format!("user:{user_id}"),
            "success",
            &actor.client,
            json!({
                "assignment": row.id,
                "department": department_id,
                "role": row.role,
                "valid_from": now,
                "valid_until": null,
                "temporary": false,
                "confirmed": !needs_confirmation,
                "source": "provisioning",
            }),
        )
        .await
    }

    /// End, now, a person's assignments in `department_id` (with `role`, if given) that are
    /// in force or waiting; returns how many ended.
    pub(crate) async fn end_assignments_in(
        &self,
        actor: &Actor,
        user_id: &str,
        department_id: &str,
        role: Option<&str>,
    ) -> Result<usize, AppError> {
        let now = self.now().as_seconds();
        let mut ended = 0;
        for a in self.store().assignments_of(user_id).await? {
            let current = a.valid_until.is_none_or(|u| now < u);
            if a.department_id == department_id && current && role.is_none_or(|r| a.role == r) {
                if self.store().end_assignment(&a.id, now).await? {
                    ended += 1;
                }
                self.audit(
                    &actor.name(),
                    AuditAction::AssignmentEnded,
                    &format!("user:{user_id}"),
                    "success",
                    &actor.client,
                    json!({"assignment": a.id, "department": a.department_id, "source": "provisioning"}),
                )
                .await?;
            }
        }
        Ok(ended)
    }
}

/// People administering in a browser session need a fresh re-authentication; API tokens are
/// limited by their scopes, and the operator's command line by access to the host.
fn require_step_up_for_people(actor: &Actor) -> Result<(), AppError> {
    match actor.principal {
        Principal::Staff { scopes: None, .. } if !actor.stepped_up => Err(AppError::StepUpRequired),
        _ => Ok(()),
    }
}
