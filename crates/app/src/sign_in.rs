//! Signing in with a password and a second factor (TOTP, passkey or recovery code), and
//! step-up re-authentication. Every failure gives the same answer, in similar time.

use sealroom_domain::password::normalise;
use sealroom_domain::{AuditAction, EmailAddress, SessionState, SignInMethod};
use sealroom_store::UserStatus;
use serde_json::json;

use crate::sessions::{CurrentSession, IssuedSession};
use crate::throttle::ThrottleKeys;
use crate::{App, AppError, Client};

/// Failed second-factor attempts after which a pending sign-in is abandoned.
const SECOND_FACTOR_TRIES: i64 = 5;

/// Which second factors the person may use now.
#[derive(Debug, Clone, Copy)]
pub struct SecondFactors {
    pub totp: bool,
    pub passkey: bool,
}

impl App {
    /// First step: e-mail and password. On success a pending session awaits the second factor.
    pub async fn sign_in_with_password(
        &self,
        email: &str,
        password: &str,
        client: &Client,
    ) -> Result<IssuedSession, AppError> {
        let keys = ThrottleKeys::new(email, client);
        let user = match EmailAddress::parse(email) {
            Ok(e) => self.store().user_by_email(e.as_str()).await?,
            Err(_) => None,
        };
        let throttled = self.sign_in_must_wait(&keys, user.as_ref(), client).await?;
        let usable = user.as_ref().filter(|u| {
            !throttled
                && u.password_locked == 0
                && UserStatus::parse(&u.status) == Some(UserStatus::Active)
        });
        // Always run one argon2 verification, against a decoy when there is nothing to check.
        let ok = self
            .passwords()
            .verify(
                normalise(password),
                usable.and_then(|u| u.password_hash.clone()),
            )
            .await?;
        let subject = user.as_ref().map_or_else(
            || "account:unknown".to_owned(),
            |u| format!("user:{}", u.id),
        );
        match (ok, usable) {
            (true, Some(u)) => {
                let session = self
                    .create_session(u, SessionState::AwaitingSecondFactor, client)
                    .await?;
                Ok(session)
            }
            _ => {
                let (action, outcome) = if throttled {
                    (AuditAction::SignInThrottled, "throttled")
                } else if user.as_ref().is_some_and(|u| u.password_locked != 0) {
                    (AuditAction::SignInFailed, "locked")
                } else {
                    (AuditAction::SignInFailed, "failure")
                };
                if !throttled {
                    self.sign_in_failed(&keys, user.as_ref(), client).await?;
                }
                self.audit(
                    "anonymous",
                    action,
                    &subject,
                    outcome,
                    client,
                    json!({"step": "password"}),
                )
                .await?;
                Err(AppError::SignInFailed)
            }
        }
    }

    pub async fn second_factors(&self, me: &CurrentSession) -> Result<SecondFactors, AppError> {
        let totp = self
            .store()
            .totp_for(&me.user.id)
            .await?
            .is_some_and(|t| t.confirmed != 0);
        let passkey = !self.store().passkeys_for(&me.user.id).await?.is_empty();
        Ok(SecondFactors { totp, passkey })
    }

    async fn second_factor_failed(
        &self,
        me: &CurrentSession,
        factor: &str,
        client: &Client,
    ) -> Result<AppError, AppError> {
        let user = self.store().user_by_id(&me.user.id).await?;
        let keys = ThrottleKeys::new(&me.user.email, client);
        self.sign_in_failed(&keys, user.as_ref(), client).await?;
        self.audit(
            "anonymous",
            AuditAction::SecondFactorFailed,
            &format!("user:{}", me.user.id),
            "failure",
            client,
            json!({"factor": factor}),
        )
        .await?;
        let tries = self
            .store()
            .failures(&format!("second-factor:{}", me.id))
            .await?
            .map_or(0, |r| r.failures);
        if tries + 1 >= SECOND_FACTOR_TRIES {
            self.drop_pending_session(me).await?;
        } else {
            self.store()
                .record_failure(&format!("second-factor:{}", me.id), self.now().as_seconds())
                .await?;
        }
        Ok(AppError::SignInFailed)
    }

    /// Second step with a TOTP code. Returns the new session token.
    pub async fn sign_in_with_totp(
        &self,
        me: &CurrentSession,
        code: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        if me.state != SessionState::AwaitingSecondFactor {
            return Err(AppError::Unauthenticated);
        }
        let user = self.active_user(&me.user.id).await?;
        let keys = ThrottleKeys::new(&user.email, client);
        if self.sign_in_must_wait(&keys, Some(&user), client).await?
            || self.spend_totp_code(&user.id, code, true).await.is_err()
        {
            return Err(self.second_factor_failed(me, "totp", client).await?);
        }
        self.sign_in_succeeded(&keys, &user, client).await?;
        self.complete_sign_in(me, &user, SignInMethod::PasswordAndTotp, client)
            .await
    }

    /// Second step with a recovery code (spent). Returns the new session token; the person is
    /// then asked to enrol a new factor.
    pub async fn sign_in_with_recovery_code(
        &self,
        me: &CurrentSession,
        code: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        if me.state != SessionState::AwaitingSecondFactor {
            return Err(AppError::Unauthenticated);
        }
        let user = self.active_user(&me.user.id).await?;
        let keys = ThrottleKeys::new(&user.email, client);
        let digest = sealroom_crypto::recovery::digest(code);
        if self.sign_in_must_wait(&keys, Some(&user), client).await?
            || !self
                .store()
                .use_recovery_code(&user.id, &digest, self.now().as_seconds())
                .await?
        {
            return Err(self
                .second_factor_failed(me, "recovery_code", client)
                .await?);
        }
        let left = self.store().unused_recovery_codes(&user.id).await?;
        self.audit(
            &format!("user:{}", user.id),
            AuditAction::RecoveryCodeUsed,
            &format!("user:{}", user.id),
            "success",
            client,
            json!({"remaining": left}),
        )
        .await?;
        self.sign_in_succeeded(&keys, &user, client).await?;
        self.complete_sign_in(me, &user, SignInMethod::PasswordAndRecoveryCode, client)
            .await
    }

    /// Step-up with password and TOTP code. Returns the new session token.
    pub async fn step_up_with_password_and_totp(
        &self,
        me: &CurrentSession,
        password: &str,
        code: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        if !me.is_signed_in() {
            return Err(AppError::Unauthenticated);
        }
        let user = self.active_user(&me.user.id).await?;
        let keys = ThrottleKeys::new(&user.email, client);
        let throttled = self.sign_in_must_wait(&keys, Some(&user), client).await?;
        let password_ok = self
            .passwords()
            .verify(
                normalise(password),
                (!throttled).then(|| user.password_hash.clone()).flatten(),
            )
            .await?;
        let ok = password_ok && self.spend_totp_code(&user.id, code, true).await.is_ok();
        if !ok {
            self.sign_in_failed(&keys, Some(&user), client).await?;
            self.audit(
                &me.actor(),
                AuditAction::StepUpFailed,
                &format!("user:{}", user.id),
                "failure",
                client,
                json!({"factor": "totp"}),
            )
            .await?;
            return Err(AppError::SignInFailed);
        }
        self.audit(
            &me.actor(),
            AuditAction::StepUpSucceeded,
            &format!("user:{}", user.id),
            "success",
            client,
            json!({"factor": "totp"}),
        )
        .await?;
        self.rotate_session(me, me.state, true).await
    }
}
