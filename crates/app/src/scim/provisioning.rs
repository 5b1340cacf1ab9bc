//! What a SCIM resource means for Sealroom: the staff account, its department assignment and
//! group-based assignments, joiners, movers and leavers.
//!
//! - **Joiner** (a new active User): an account waiting to enrol, its enrolment link sent by
//!   e-mail to the user's work address (never to the HR system), and an assignment in the
//!   enterprise `department` with the role named in `roles`, in force at once.
//! - **Mover** (a different department or role): the old assignment ends now; the new one
//!   waits for the new department's manager to confirm it.
//! - **Leaver** (`active: false`, or DELETE): the account is disabled, every session ends, every
//!   assignment ends, every grant to the person is revoked and break-glass closes, at once.
//! - **Groups** named `<department> / <role>` give each member that assignment (ended when the
//!   member leaves the group or the group is deleted); other groups grant nothing.

use serde_json::{json, Map, Value};

use sealroom_domain::{AssignmentRole, AuditAction, EmailAddress, Role};
use sealroom_store::{StoreError, UserStatus};

use super::schema::ENTERPRISE_USER;
use super::ScimError;
use crate::accounts::{new_enrolling_user, Actor};
use crate::{App, AppError};

/// What Sealroom reads from a User resource.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StaffFacts {
    email: Option<String>,
    display_name: String,
    active: bool,
    department: Option<String>,
    role: Option<String>,
}

/// The address enrolment links go to: the primary e-mail, else the work one, else the first.
fn chosen_email(doc: &Map<String, Value>) -> Option<String> {
    let emails = doc.get("emails")?.as_array()?;
    let pick = emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| {
            emails
                .iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
        })
        .or_else(|| emails.first())?;
    let value = pick.get("value")?.as_str()?;
    EmailAddress::parse(value)
        .ok()
        .map(|e| e.as_str().to_owned())
}

fn display_name_of(doc: &Map<String, Value>) -> String {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = doc.get("name");
    let from_parts = || {
        let given = text(name.and_then(|n| n.get("givenName")));
        let family = text(name.and_then(|n| n.get("familyName")));
        match (given, family) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (g, f) => g.or(f),
        }
    };
    let chosen = text(doc.get("displayName"))
        .or_else(|| text(name.and_then(|n| n.get("formatted"))))
        .or_else(from_parts)
        .or_else(|| text(doc.get("userName")))
        .unwrap_or_else(|| "Staff member".into());
    let clean: String = chosen
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    if clean.trim().is_empty() {
        "Staff member".into()
    } else {
        clean
    }
}

/// The id of the manager named in a User document.
fn manager_in(doc: &Map<String, Value>) -> Option<&str> {
    doc.get(ENTERPRISE_USER)?
        .get("manager")?
        .get("value")?
        .as_str()
}

impl App {
    fn facts_of(&self, doc: &Map<String, Value>) -> StaffFacts {
        let custom = &self.settings().access.custom_roles;
        let roles: Vec<&Value> = doc
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        let role = roles
            .iter()
            .filter(|r| r.get("primary") == Some(&Value::Bool(true)))
            .chain(roles.iter())
            .filter_map(|r| r.get("value").and_then(Value::as_str))
            .filter_map(|v| AssignmentRole::parse(v, custom).ok())
            // Provisioning never makes administrators or security officers.
            .find(|r| !matches!(r.as_str(), "administrator" | "security_officer"))
            .map(|r| r.as_str().to_owned());
        StaffFacts {
            email: chosen_email(doc),
            display_name: display_name_of(doc),
            active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
            department: doc
                .get(ENTERPRISE_USER)
                .and_then(|e| e.get("department"))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            role,
        }
    }

    /// The department a name refers to, if Sealroom has it (case-insensitive).
    async fn department_named(&self, name: &str) -> Result<Option<String>, ScimError> {
        Ok(self
            .store()
            .list_departments()
            .await?
            .into_iter()
            .find(|d| d.name.eq_ignore_ascii_case(name.trim()))
            .map(|d| d.id))
    }

    /// The (department, role) of a user's main assignment, when both are known to Sealroom.
    async fn main_assignment(
        &self,
        facts: &StaffFacts,
    ) -> Result<Option<(String, AssignmentRole)>, ScimError> {
        let (Some(dept), Some(role)) = (&facts.department, &facts.role) else {
            return Ok(None);
        };
        let Some(dept_id) = self.department_named(dept).await? else {
            return Ok(None);
        };
        let role = AssignmentRole::parse(role, &self.settings().access.custom_roles)
            .map_err(|e| ScimError::invalid_value(e.to_string()))?;
        Ok(Some((dept_id, role)))
    }

    /// A placeholder address for a user provisioned without a usable e-mail address: it can
    /// receive nothing, so no enrolment link goes out until the HR system adds a real one.
    fn placeholder_email(id: &str) -> String {
        format!("unassigned.{id}@scim.invalid")
    }

    pub(super) async fn provision_new_user(
        &self,
        actor: &Actor,
        id: &str,
        doc: &Map<String, Value>,
    ) -> Result<(), ScimError> {
        let facts = self.facts_of(doc);
        let now = self.now().as_seconds();
        let email_text = facts
            .email
            .clone()
            .unwrap_or_else(|| Self::placeholder_email(id));
        let email = EmailAddress::parse(&email_text)
            .map_err(|e| ScimError::invalid_value(e.to_string()))?;
        let account_role = facts
            .role
            .as_deref()
            .and_then(|r| r.parse::<Role>().ok())
            .unwrap_or(Role::Nurse);
        let mut user = new_enrolling_user(&email, facts.display_name.clone(), account_role, now);
        user.id = id.to_owned();
        if !facts.active {
            user.status = UserStatus::Disabled.as_str().to_owned();
        }
        self.store().insert_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                ScimError::uniqueness("another account already uses this e-mail address".into())
            }
            other => other.into(),
        })?;
        self.audit(
            &actor.name(),
            AuditAction::UserCreated,
            &format!("user:{id}"),
            "success",
            &actor.client,
            json!({"role": user.role, "source": "provisioning", "active": facts.active}),
        )
        .await?;
        if !facts.active {
            return Ok(());
        }
        if let Some((dept_id, role)) = self.main_assignment(&facts).await? {
            self.provision_assignment(actor, id, &dept_id, &role, false)
                .await?;
        }
        if facts.email.is_some() {
            self.send_enrolment_invitation(id, &email_text).await?;
        }
        Ok(())
    }

    async fn send_enrolment_invitation(&self, user_id: &str, email: &str) -> Result<(), ScimError> {
        let link = self.issue_enrolment_link(user_id).await?;
        self.send_mail_in_background(
            crate::mail::templates::enrolment_invitation(
                email,
                &self.settings().organization_name,
                &link,
                self.settings().enrolment_link_validity.as_seconds() / 3600,
            ),
            "enrolment_invitation",
        );
        Ok(())
    }

    pub(super) async fn provision_user_change(
        &self,
        actor: &Actor,
        id: &str,
        old_doc: &Map<String, Value>,
        new_doc: &Map<String, Value>,
    ) -> Result<(), ScimError> {
        let old = self.facts_of(old_doc);
        let new = self.facts_of(new_doc);
        let user = self
            .store()
            .user_by_id(id)
            .await?
            .ok_or_else(ScimError::not_found)?;
        let now = self.now().as_seconds();
        let status = UserStatus::parse(&user.status);

        let email = new
            .email
            .clone()
            .unwrap_or_else(|| Self::placeholder_email(id));
        if email != user.email || new.display_name != user.display_name {
            self.store()
                .set_user_identity(id, &email, &new.display_name, now)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => ScimError::uniqueness(
                        "another account already uses this e-mail address".into(),
                    ),
                    other => other.into(),
                })?;
        }
        // The account-level role follows provisioning only between ordinary staff roles.
        if let (Some(new_role), Ok(current)) = (
            new.role.as_deref().and_then(|r| r.parse::<Role>().ok()),
            user.role.parse::<Role>(),
        ) {
            if new_role != current && !current.is_privileged() {
                self.store()
                    .set_user_role(id, new_role.as_str(), now)
                    .await?;
            }
        }

        if old.active && !new.active {
            // A leaver: everything ends now.
            self.offboard(actor, id).await?;
            return Ok(());
        }
        if !old.active && new.active {
            let back = if user.password_hash.is_some() {
                UserStatus::Active
            } else {
                UserStatus::Enrolling
            };
            self.store().set_user_status(id, back, now).await?;
            self.audit(
                &actor.name(),
                AuditAction::StaffReactivated,
                &format!("user:{id}"),
                "success",
                &actor.client,
                json!({"status": back.as_str()}),
            )
            .await?;
            // Access comes back only through a confirmed assignment.
            if let Some((dept_id, role)) = self.main_assignment(&new).await? {
                self.provision_assignment(actor, id, &dept_id, &role, true)
                    .await?;
            }
            if back == UserStatus::Enrolling && new.email.is_some() {
                self.send_enrolment_invitation(id, &email).await?;
            }
            return Ok(());
        }
        if !new.active {
            return Ok(());
        }
        // A mover: the old department's assignment ends now, the new one waits.
        let before = self.main_assignment(&old).await?;
        let after = self.main_assignment(&new).await?;
        if before != after {
            if let Some((dept_id, role)) = &before {
                self.end_assignments_in(actor, id, dept_id, Some(role.as_str()))
                    .await?;
            }
            if let Some((dept_id, role)) = &after {
                self.provision_assignment(actor, id, dept_id, role, true)
                    .await?;
                self.mail_manager_to_confirm(manager_in(new_doc), &new.display_name)
                    .await?;
            }
        }
        // A real address arriving for someone still waiting to enrol: send the link now.
        if old.email.is_none() && new.email.is_some() && status == Some(UserStatus::Enrolling) {
            self.send_enrolment_invitation(id, &email).await?;
        }
        Ok(())
    }

    /// The manager the HR system names for a person (EnterpriseUser `manager.value`), if any.
    pub(crate) async fn provisioned_manager_of(
        &self,
        user_id: &str,
    ) -> Result<Option<String>, AppError> {
        let Some(row) = self.store().scim_resource("User", user_id).await? else {
            return Ok(None);
        };
        let doc: Map<String, Value> =
            serde_json::from_str(&row.document).map_err(AppError::internal)?;
        Ok(manager_in(&doc).map(str::to_owned))
    }

    /// Tell the person's manager, if HR names one with an account, that a new assignment
    /// waits for their confirmation.
    async fn mail_manager_to_confirm(
        &self,
        manager_id: Option<&str>,
        display_name: &str,
    ) -> Result<(), ScimError> {
        let Some(manager_id) = manager_id else {
            return Ok(());
        };
        let Some(manager) = self.store().user_by_id(manager_id).await? else {
            return Ok(());
        };
        if UserStatus::parse(&manager.status) != Some(UserStatus::Active) {
            return Ok(());
        }
        self.send_mail_in_background(
            crate::mail::templates::assignment_to_confirm(
                &manager.email,
                &self.settings().organization_name,
                display_name,
                &self.link("/"),
            ),
            "assignment_to_confirm",
        );
        Ok(())
    }

    /// The (department, role) a group named `<department> / <role>` stands for.
    async fn group_mapping(
        &self,
        doc: Option<&Map<String, Value>>,
    ) -> Result<Option<(String, AssignmentRole)>, ScimError> {
        let Some(name) = doc
            .and_then(|d| d.get("displayName"))
            .and_then(Value::as_str)
        else {
            return Ok(None);
        };
        let Some((dept, role)) = name.rsplit_once(" / ") else {
            return Ok(None);
        };
        let Ok(role) = AssignmentRole::parse(role, &self.settings().access.custom_roles) else {
            return Ok(None);
        };
        if matches!(role.as_str(), "administrator" | "security_officer") {
            return Ok(None);
        }
        Ok(self.department_named(dept).await?.map(|d| (d, role)))
    }

    /// Bring assignments and membership in line with a group going from `old` to `new`
    /// (`None`: not there).
    pub(super) async fn provision_group(
        &self,
        actor: &Actor,
        group_id: &str,
        old: Option<&Map<String, Value>>,
        new: Option<&Map<String, Value>>,
    ) -> Result<(), ScimError> {
        let members = |d: Option<&Map<String, Value>>| d.map(super::member_ids).unwrap_or_default();
        let (old_members, new_members) = (members(old), members(new));
        let (old_map, new_map) = (
            self.group_mapping(old).await?,
            self.group_mapping(new).await?,
        );
        if let Some((dept, role)) = &old_map {
            for m in &old_members {
                if new_map.as_ref() != old_map.as_ref() || !new_members.contains(m) {
                    self.end_assignments_in(actor, m, dept, Some(role.as_str()))
                        .await?;
                }
            }
        }
        if let Some((dept, role)) = &new_map {
            for m in &new_members {
                if new_map.as_ref() == old_map.as_ref() && old_members.contains(m) {
                    continue;
                }
                let active =
                    self.store().user_by_id(m).await?.is_some_and(|u| {
                        UserStatus::parse(&u.status) != Some(UserStatus::Disabled)
                    });
                if active {
                    self.provision_assignment(actor, m, dept, role, false)
                        .await?;
                }
            }
        }
        if new.is_some() {
            self.store()
                .set_scim_group_members(group_id, &new_members)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enrolment_address_and_the_name_are_chosen_sensibly() {
        let doc = json!({"userName": "apop", "emails": [
            {"value": "ana@home.example", "type": "home"},
            {"value": "ana.pop@hospital.example", "type": "work"}
        ], "name": {"givenName": "Ana", "familyName": "Pop"}});
        let doc = doc.as_object().unwrap();
        assert_eq!(
            chosen_email(doc).as_deref(),
            Some("ana.pop@hospital.example")
        );
        assert_eq!(display_name_of(doc), "Ana Pop");
        let doc = json!({"userName": "apop", "emails": [{"value": "not an address"}]});
        assert_eq!(chosen_email(doc.as_object().unwrap()), None);
        assert_eq!(display_name_of(doc.as_object().unwrap()), "apop");
    }
}
