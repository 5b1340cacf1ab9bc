//! "My security": the factors a person holds, removing one, new recovery codes.
//! Every change needs a fresh step-up, and a person always keeps at least one second factor.

use sealroom_domain::AuditAction;
use serde_json::json;

use crate::passkeys::PasskeySummary;
use crate::sessions::CurrentSession;
use crate::{App, AppError, Client};

/// What "my security" shows.
pub struct SecurityOverview {
    pub totp: bool,
    pub passkeys: Vec<PasskeySummary>,
    pub unused_recovery_codes: i64,
}

impl App {
    pub async fn security_overview(
        &self,
        me: &CurrentSession,
    ) -> Result<SecurityOverview, AppError> {
        if !me.is_signed_in() {
            return Err(AppError::Unauthenticated);
        }
        Ok(SecurityOverview {
            totp: self
                .store()
                .totp_for(&me.user.id)
                .await?
                .is_some_and(|t| t.confirmed != 0),
            passkeys: self.my_passkeys(me).await?,
            unused_recovery_codes: self.store().unused_recovery_codes(&me.user.id).await?,
        })
    }

    fn require_step_up(&self, me: &CurrentSession) -> Result<(), AppError> {
        if !me.is_signed_in() {
            return Err(AppError::Unauthenticated);
        }
        if !me.stepped_up(self.now()) {
            return Err(AppError::StepUpRequired);
        }
        Ok(())
    }

    pub async fn remove_passkey(
        &self,
        me: &CurrentSession,
        passkey_id: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        self.require_step_up(me)?;
        let overview = self.security_overview(me).await?;
        if !overview.passkeys.iter().any(|p| p.id == passkey_id) {
            return Err(AppError::NotFound);
        }
        if !overview.totp && overview.passkeys.len() <= 1 {
            return Err(AppError::Conflict(
                "this is your only second factor; add another before removing it".into(),
            ));
        }
        self.store().delete_passkey(&me.user.id, passkey_id).await?;
        self.audit(
            &me.actor(),
            AuditAction::FactorRemoved,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({"factor": "passkey", "passkey": passkey_id}),
        )
        .await
    }

    pub async fn remove_totp(&self, me: &CurrentSession, client: &Client) -> Result<(), AppError> {
        self.require_step_up(me)?;
        let overview = self.security_overview(me).await?;
        if !overview.totp {
            return Err(AppError::NotFound);
        }
        if overview.passkeys.is_empty() {
            return Err(AppError::Conflict("the authenticator app is your only second factor; add a passkey before removing it".into()));
        }
        self.store().delete_totp(&me.user.id).await?;
        self.audit(
            &me.actor(),
            AuditAction::FactorRemoved,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({"factor": "totp"}),
        )
        .await
    }

    /// Replace all recovery codes (after a step-up); the new ones are shown once.
    pub async fn regenerate_recovery_codes(
        &self,
        me: &CurrentSession,
        client: &Client,
    ) -> Result<Vec<String>, AppError> {
        self.require_step_up(me)?;
        self.replace_recovery_codes(me, client).await
    }
}
