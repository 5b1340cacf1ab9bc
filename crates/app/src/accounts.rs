//! Administering staff accounts: create (with an enrolment link), list, change role, unlock,
//! end someone's sessions.

use sealroom_crypto::token;
use sealroom_domain::{AuditAction, EmailAddress, Role, SessionState};
use sealroom_store::{LinkPurpose, LinkRow, StoreError, UserRow, UserStatus};
use serde::Serialize;
use serde_json::json;

use crate::policy::{authorize, Action, Principal};
use crate::sessions::{EndReason, IssuedSession};
use crate::{App, AppError, Client};

/// A staff account as shown to administrators and the API. No secret is in here.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub status: String,
    pub password_locked: bool,
    pub created_at: i64,
}

impl From<UserRow> for UserSummary {
    fn from(u: UserRow) -> Self {
        UserSummary {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            status: u.status,
            password_locked: u.password_locked != 0,
            created_at: u.created_at,
        }
    }
}

/// Who is acting, with what freshness of re-authentication.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    /// Whether the person re-authenticated within the step-up window (always false for API
    /// tokens; the operator's command line is exempt).
    pub stepped_up: bool,
    pub client: Client,
}

impl Actor {
    pub fn name(&self) -> String {
        match &self.principal {
            Principal::Staff { user_id, .. } => format!("user:{user_id}"),
            Principal::Service { name, .. } => format!("service:{name}"),
            Principal::Operator => "cli".to_owned(),
            Principal::PatientAccount { account_id, .. } => {
                format!("patient_account:{account_id}")
            }
            Principal::OutsideRecipient { recipient_id, .. } => format!("outside:{recipient_id}"),
        }
    }

    fn require_step_up(&self) -> Result<(), AppError> {
        match self.principal {
            Principal::Operator => Ok(()),
            _ if self.stepped_up => Ok(()),
            _ => Err(AppError::StepUpRequired),
        }
    }
}

/// A new account and the link its owner uses to enrol (shown once).
pub struct CreatedUser {
    pub user: UserSummary,
    pub enrolment_link: String,
}

/// A new account, waiting for its owner to enrol.
pub(crate) fn new_enrolling_user(
    email: &EmailAddress,
    display_name: String,
    role: Role,
    now: i64,
) -> UserRow {
    UserRow {
        id: token::new_id(),
        email: email.as_str().to_owned(),
        display_name,
        role: role.as_str().to_owned(),
        status: UserStatus::Enrolling.as_str().to_owned(),
        password_hash: None,
        password_locked: 0,
        one_session_only: 0,
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn parse_display_name(input: &str) -> Result<String, AppError> {
    let name = input.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(AppError::InvalidInput(
            "the name must have 1 to 120 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

impl App {
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserSummary>, AppError> {
        authorize(&actor.principal, Action::ListUsers)?;
        Ok(self
            .store()
            .list_users()
            .await?
            .into_iter()
            .map(UserSummary::from)
            .collect())
    }

    /// Create a staff account in the enrolling state and return its enrolment link. Creating an
    /// administrator needs a fresh step-up.
    pub async fn create_user(
        &self,
        actor: &Actor,
        email: &str,
        display_name: &str,
        role: &str,
    ) -> Result<CreatedUser, AppError> {
        let email = EmailAddress::parse(email)?;
        let display_name = parse_display_name(display_name)?;
        let role: Role = role.parse()?;
        authorize(&actor.principal, Action::CreateUser { role })?;
        if role.is_privileged() {
            actor.require_step_up()?;
        }
        let now = self.now().as_seconds();
        let user = new_enrolling_user(&email, display_name, role, now);
        self.store().insert_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                AppError::Conflict("an account with this e-mail address already exists".into())
            }
            other => other.into(),
        })?;
        self.audit(
            &actor.name(),
            AuditAction::UserCreated,
            &format!("user:{}", user.id),
            "success",
            &actor.client,
            json!({"role": role.as_str()}),
        )
        .await?;
        let enrolment_link = self.issue_enrolment_link(&user.id).await?;
        Ok(CreatedUser {
            user: user.into(),
            enrolment_link,
        })
    }

    /// A new enrolment link for an account that has not finished enrolling (older links die).
    pub async fn reissue_enrolment_link(
        &self,
        actor: &Actor,
        user_id: &str,
    ) -> Result<String, AppError> {
        let user = self
            .store()
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let role: Role = user.role.parse()?;
        // Whoever can enrol the account can become it: the same rules as creating it.
        authorize(&actor.principal, Action::CreateUser { role })?;
        if role.is_privileged() {
            actor.require_step_up()?;
        }
        if UserStatus::parse(&user.status) != Some(UserStatus::Enrolling) {
            return Err(AppError::Conflict(
                "this account has already enrolled".into(),
            ));
        }
        self.reset_enrolment(&user.id).await?;
        self.issue_enrolment_link(&user.id).await
    }

    /// Forget a half-done enrolment: factors, password and enrolling sessions of an account
    /// that has not finished enrolling. A new link starts from nothing, so whoever used an
    /// earlier link (perhaps intercepted) keeps no foothold.
    async fn reset_enrolment(&self, user_id: &str) -> Result<(), AppError> {
        let now = self.now().as_seconds();
        self.store().reset_enrolment(user_id, now).await?;
        self.session_cache().remove_user(user_id);
        Ok(())
    }

    pub(crate) async fn issue_enrolment_link(&self, user_id: &str) -> Result<String, AppError> {
        let now = self.now();
        self.store()
            .revoke_links(LinkPurpose::Enrolment, Some(user_id), now.as_seconds())
            .await?;
        let issued = token::issue("");
        self.store()
            .insert_link(&LinkRow {
                digest: issued.digest,
                purpose: LinkPurpose::Enrolment.as_str().to_owned(),
                user_id: Some(user_id.to_owned()),
                created_at: now.as_seconds(),
                expires_at: now
                    .plus(self.settings().enrolment_link_validity)
                    .as_seconds(),
                used_at: None,
            })
            .await?;
        Ok(self.link(&format!("/enrol/accept?token={}", issued.secret)))
    }

    /// The e-mail address an enrolment link is for, if it is usable (to greet the person).
    pub async fn enrolment_link_email(
        &self,
        token_secret: &str,
    ) -> Result<Option<String>, AppError> {
        let Some(link) = self
            .store()
            .usable_link(
                &token::digest(token_secret),
                LinkPurpose::Enrolment,
                self.now().as_seconds(),
            )
            .await?
        else {
            return Ok(None);
        };
        let Some(user_id) = link.user_id else {
            return Ok(None);
        };
        Ok(self.store().user_by_id(&user_id).await?.map(|u| u.email))
    }

    /// Spend an enrolment link and start an enrolment session.
    pub async fn accept_enrolment(
        &self,
        token_secret: &str,
        client: &Client,
    ) -> Result<IssuedSession, AppError> {
        let link = self
            .store()
            .spend_link(
                &token::digest(token_secret),
                LinkPurpose::Enrolment,
                self.now().as_seconds(),
            )
            .await?
            .ok_or(AppError::LinkInvalid)?;
        let user_id = link.user_id.ok_or(AppError::LinkInvalid)?;
        let user = self
            .store()
            .user_by_id(&user_id)
            .await?
            .filter(|u| UserStatus::parse(&u.status) == Some(UserStatus::Enrolling))
            .ok_or(AppError::LinkInvalid)?;
        self.reset_enrolment(&user.id).await?;
        let session = self
            .create_session(&user, SessionState::Enrolling, client)
            .await?;
        self.audit(
            &format!("user:{}", user.id),
            AuditAction::EnrolmentStarted,
            &format!("user:{}", user.id),
            "success",
            client,
            json!({}),
        )
        .await?;
        Ok(session)
    }

    /// Change a person's role (needs step-up; the person's sessions end so the new role applies).
    pub async fn change_role(
        &self,
        actor: &Actor,
        user_id: &str,
        role: &str,
    ) -> Result<(), AppError> {
        let role: Role = role.parse()?;
        authorize(&actor.principal, Action::ChangeRole)?;
        actor.require_step_up()?;
        let user = self
            .store()
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let now = self.now().as_seconds();
        self.store()
            .set_user_role(&user.id, role.as_str(), now)
            .await?;
        self.store()
            .end_sessions_of_user(
                &user.id,
                None,
                EndReason::EndedByAdministrator.as_str(),
                now,
            )
            .await?;
        self.session_cache().remove_user(&user.id);
        self.audit(
            &actor.name(),
            AuditAction::RoleChanged,
            &format!("user:{}", user.id),
            "success",
            &actor.client,
            json!({"from": user.role, "to": role.as_str()}),
        )
        .await
    }

    /// Lift the password lock set after too many failures.
    pub async fn unlock_account(&self, actor: &Actor, email: &str) -> Result<(), AppError> {
        authorize(&actor.principal, Action::UnlockAccount)?;
        let email = EmailAddress::parse(email)?;
        let user = self
            .store()
            .user_by_email(email.as_str())
            .await?
            .ok_or(AppError::NotFound)?;
        let now = self.now().as_seconds();
        self.store()
            .set_password_locked(&user.id, false, now)
            .await?;
        let keys = crate::throttle::ThrottleKeys::new(&user.email, &actor.client);
        self.store().clear_failures(keys.account_key()).await?;
        self.audit(
            &actor.name(),
            AuditAction::AccountUnlocked,
            &format!("user:{}", user.id),
            "success",
            &actor.client,
            json!({}),
        )
        .await
    }

    /// End every session of a person (for example a lost laptop).
    pub async fn end_sessions_of(&self, actor: &Actor, user_id: &str) -> Result<usize, AppError> {
        authorize(&actor.principal, Action::EndAnyonesSessions)?;
        let ended = self
            .store()
            .end_sessions_of_user(
                user_id,
                None,
                EndReason::EndedByAdministrator.as_str(),
                self.now().as_seconds(),
            )
            .await?;
        self.session_cache().remove_user(user_id);
        for id in &ended {
            self.audit(
                &actor.name(),
                AuditAction::SessionEnded,
                &format!("session:{id}"),
                EndReason::EndedByAdministrator.as_str(),
                &actor.client,
                json!({"user": user_id}),
            )
            .await?;
        }
        Ok(ended.len())
    }
}
