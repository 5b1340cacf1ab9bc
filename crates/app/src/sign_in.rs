//! Signing in with a password and a second factor (TOTP, passkey or recovery code), and
//! step-up re-authentication. Every failure gives the same answer, in similar time.

use sealroom_domain::password::normalise;
use sealroom_domain::{AuditAction, EmailAddress, SessionState, SignInMethod};
use sealroom_store::{DelaySchedule, UserRow, UserStatus};
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
        let mut keys = ThrottleKeys::new(email, client);
        let user = match EmailAddress::parse(email) {
            Ok(e) => self.store().user_by_email(e.as_str()).await?,
            Err(_) => None,
        };
        let allowed = self.begin_attempt(&mut keys, user.as_ref(), client).await?;
        let usable = user.as_ref().filter(|u| {
            allowed
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
        // The lock may have been set while this attempt was being checked.
        let still_unlocked = match usable {
            Some(u) => self
                .store()
                .user_by_id(&u.id)
                .await?
                .is_some_and(|fresh| fresh.password_locked == 0),
            None => false,
        };
        match (ok && still_unlocked, usable) {
            (true, Some(u)) => {
                self.create_session(u, SessionState::AwaitingSecondFactor, client)
                    .await
            }
            _ => {
                let (action, outcome) = if !allowed {
                    (AuditAction::SignInThrottled, "throttled")
                } else if user.as_ref().is_some_and(|u| u.password_locked != 0) {
                    (AuditAction::SignInFailed, "locked")
                } else {
                    (AuditAction::SignInFailed, "failure")
                };
                if allowed {
                    self.attempt_failed(&keys, user.as_ref(), client).await?;
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

    /// Count a second-factor try on the pending session (before checking it) and on the
    /// throttle counters. Returns the account and keys, or the failure to answer with.
    async fn begin_second_factor(
        &self,
        me: &CurrentSession,
        client: &Client,
    ) -> Result<(UserRow, ThrottleKeys), AppError> {
        if me.state != SessionState::AwaitingSecondFactor {
            return Err(AppError::Unauthenticated);
        }
        let tries_key = format!("second-factor:{}", me.id);
        let tries = self
            .store()
            .count_attempt(&tries_key, self.now().as_seconds(), 0, &no_delay(), false)
            .await?
            .unwrap_or(i64::MAX);
        if tries > SECOND_FACTOR_TRIES {
            self.drop_pending_session(me).await?;
            return Err(AppError::SignInFailed);
        }
        let user = self.active_user(&me.user.id).await?;
        let mut keys = ThrottleKeys::new(&user.email, client);
        if !self.begin_attempt(&mut keys, Some(&user), client).await? || user.password_locked != 0 {
            return Err(AppError::SignInFailed);
        }
        Ok((user, keys))
    }

    async fn second_factor_failed(
        &self,
        me: &CurrentSession,
        user: &UserRow,
        keys: &ThrottleKeys,
        factor: &str,
        client: &Client,
    ) -> Result<AppError, AppError> {
        self.attempt_failed(keys, Some(user), client).await?;
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
        if tries >= SECOND_FACTOR_TRIES {
            self.drop_pending_session(me).await?;
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
        let (user, keys) = self.begin_second_factor(me, client).await?;
        if self.spend_totp_code(&user.id, code, true).await.is_err() {
            return Err(self
                .second_factor_failed(me, &user, &keys, "totp", client)
                .await?);
        }
        self.attempt_succeeded(&keys, &user, client).await?;
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
        let (user, keys) = self.begin_second_factor(me, client).await?;
        let digest = sealroom_crypto::recovery::digest(code);
        if !self
            .store()
            .use_recovery_code(&user.id, &digest, self.now().as_seconds())
            .await?
        {
            return Err(self
                .second_factor_failed(me, &user, &keys, "recovery_code", client)
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
        self.attempt_succeeded(&keys, &user, client).await?;
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
        let mut keys = ThrottleKeys::new(&user.email, client);
        let allowed =
            self.begin_attempt(&mut keys, Some(&user), client).await? && user.password_locked == 0;
        let password_ok = self
            .passwords()
            .verify(
                normalise(password),
                allowed.then(|| user.password_hash.clone()).flatten(),
            )
            .await?;
        let ok = password_ok && self.spend_totp_code(&user.id, code, true).await.is_ok();
        if !ok {
            if allowed {
                self.attempt_failed(&keys, Some(&user), client).await?;
            }
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
        self.attempt_succeeded(&keys, &user, client).await?;
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

/// A counter with no delay (used to count second-factor tries on one pending session).
fn no_delay() -> DelaySchedule {
    DelaySchedule {
        free: u32::MAX,
        steps: Vec::new(),
        max: 0,
    }
}
