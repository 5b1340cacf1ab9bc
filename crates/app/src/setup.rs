//! First start: a one-time set-up link creates the first administrator. There is no default
//! account and no default password anywhere.

use sealroom_crypto::token;
use sealroom_domain::{AuditAction, EmailAddress, Role, SessionState};
use sealroom_store::{LinkPurpose, LinkRow, StoreError};
use serde_json::json;

use crate::sessions::IssuedSession;
use crate::{App, AppError, Client};

impl App {
    /// When the database has no account, issue a fresh set-up link (spending older ones) and
    /// return its URL; otherwise `None`.
    pub async fn issue_setup_link_if_empty(&self) -> Result<Option<String>, AppError> {
        if self.store().count_users().await? > 0 {
            return Ok(None);
        }
        let now = self.now();
        self.store()
            .revoke_links(LinkPurpose::Setup, None, now.as_seconds())
            .await?;
        let issued = token::issue("");
        self.store()
            .insert_link(&LinkRow {
                digest: issued.digest,
                purpose: LinkPurpose::Setup.as_str().to_owned(),
                user_id: None,
                created_at: now.as_seconds(),
                expires_at: now.plus(self.settings().setup_link_validity).as_seconds(),
                used_at: None,
            })
            .await?;
        Ok(Some(self.link(&format!("/setup?token={}", issued.secret))))
    }

    /// Whether a set-up link is still usable (to show the form, without spending it).
    pub async fn setup_link_is_usable(&self, token_secret: &str) -> Result<bool, AppError> {
        Ok(self
            .store()
            .usable_link(
                &token::digest(token_secret),
                LinkPurpose::Setup,
                self.now().as_seconds(),
            )
            .await?
            .is_some())
    }

    /// Spend the set-up link and create the first administrator, who then enrols like anyone.
    pub async fn complete_setup(
        &self,
        token_secret: &str,
        email: &str,
        display_name: &str,
        client: &Client,
    ) -> Result<IssuedSession, AppError> {
        let email = EmailAddress::parse(email)?;
        let display_name = crate::accounts::parse_display_name(display_name)?;
        let now = self.now().as_seconds();
        if self.store().count_users().await? > 0 {
            return Err(AppError::LinkInvalid);
        }
        self.store()
            .spend_link(&token::digest(token_secret), LinkPurpose::Setup, now)
            .await?
            .ok_or(AppError::LinkInvalid)?;
        let user =
            crate::accounts::new_enrolling_user(&email, display_name, Role::Administrator, now);
        self.store().insert_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => AppError::LinkInvalid,
            other => other.into(),
        })?;
        self.audit(
            "setup-link",
            AuditAction::SetupCompleted,
            &format!("user:{}", user.id),
            "success",
            client,
            json!({"role": Role::Administrator.as_str()}),
        )
        .await?;
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
}
