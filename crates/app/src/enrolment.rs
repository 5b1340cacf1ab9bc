//! Enrolment: a person who arrived through a set-up or enrolment link sets a password and
//! enrols a second factor before anything else is possible; then receives recovery codes.
//! The TOTP part is shared with adding an authenticator app later (after a step-up).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrcode::render::svg;
use qrcode::QrCode;
use sealroom_crypto::recovery;
use sealroom_crypto::totp::{TotpRejected, TotpSecret};
use sealroom_domain::{AuditAction, NewPassword, PasswordContext, SessionState, SignInMethod};
use sealroom_store::UserStatus;
use serde_json::json;

use crate::sessions::CurrentSession;
use crate::{App, AppError, Client};

/// How long an unconfirmed authenticator-app key is shown again rather than replaced.
const PENDING_TOTP_SECONDS: i64 = 600;

/// What the person needs to add an authenticator app.
pub struct TotpEnrolment {
    /// The base32 secret, for typing by hand.
    pub secret_base32: String,
    /// The `otpauth://` URI.
    pub uri: String,
    /// The QR code of the URI as an SVG `data:` URI.
    pub qr_data_uri: String,
}

impl TotpEnrolment {
    /// What a person needs to add `secret` to an app: the key to type, the URI, its QR code.
    pub(crate) fn new(secret: &TotpSecret, uri: String) -> Result<TotpEnrolment, AppError> {
        let qr = QrCode::new(uri.as_bytes()).map_err(AppError::internal)?;
        let svg_text = qr
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build();
        Ok(TotpEnrolment {
            secret_base32: secret.base32(),
            uri,
            qr_data_uri: format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg_text)),
        })
    }
}

/// Where a person's enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolmentProgress {
    pub password_set: bool,
    pub totp: bool,
    pub passkeys: usize,
}

impl EnrolmentProgress {
    pub fn has_second_factor(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

impl App {
    fn require_enrolling(&self, me: &CurrentSession) -> Result<(), AppError> {
        if me.state == SessionState::Enrolling {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    pub async fn enrolment_progress(
        &self,
        me: &CurrentSession,
    ) -> Result<EnrolmentProgress, AppError> {
        let user = self
            .store()
            .user_by_id(&me.user.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let totp = self
            .store()
            .totp_for(&me.user.id)
            .await?
            .is_some_and(|t| t.confirmed != 0);
        let passkeys = self.store().passkeys_for(&me.user.id).await?.len();
        Ok(EnrolmentProgress {
            password_set: user.password_hash.is_some(),
            totp,
            passkeys,
        })
    }

    fn password_context<'a>(&'a self, me: &'a CurrentSession) -> PasswordContext<'a> {
        PasswordContext {
            organization: &self.settings().organization_name,
            display_name: &me.user.display_name,
            email: &me.user.email,
        }
    }

    /// Set the first password during enrolment.
    pub async fn set_initial_password(
        &self,
        me: &CurrentSession,
        password: &str,
        confirmation: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        self.require_enrolling(me)?;
        let chosen = NewPassword::choose(password, confirmation, &self.password_context(me))?;
        let hash = self.passwords().hash(chosen.expose().to_owned()).await?;
        self.store()
            .set_password_hash(&me.user.id, &hash, self.now().as_seconds())
            .await?;
        self.audit(
            &me.actor(),
            AuditAction::PasswordSet,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({}),
        )
        .await
    }

    /// Change the password of a signed-in person; the current password is required.
    pub async fn change_password(
        &self,
        me: &CurrentSession,
        current: &str,
        new: &str,
        confirmation: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        if !me.is_signed_in() {
            return Err(AppError::Unauthenticated);
        }
        let user = self
            .store()
            .user_by_id(&me.user.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        // Guessing the current password here is throttled like signing in.
        let mut keys = crate::throttle::ThrottleKeys::new(&user.email, client);
        let allowed =
            self.begin_attempt(&mut keys, Some(&user), client).await? && user.password_locked == 0;
        let ok = self
            .passwords()
            .verify(
                sealroom_domain::password::normalise(current),
                allowed.then(|| user.password_hash.clone()).flatten(),
            )
            .await?;
        if !ok {
            if allowed {
                self.attempt_failed(&keys, Some(&user), client).await?;
            }
            self.audit(
                &me.actor(),
                AuditAction::PasswordChanged,
                &format!("user:{}", me.user.id),
                "wrong_current_password",
                client,
                json!({}),
            )
            .await?;
            return Err(AppError::InvalidInput(
                "the current password is not correct".into(),
            ));
        }
        self.attempt_succeeded(&keys, &user, client).await?;
        let chosen = NewPassword::choose(new, confirmation, &self.password_context(me))?;
        let hash = self.passwords().hash(chosen.expose().to_owned()).await?;
        self.store()
            .set_password_hash(&me.user.id, &hash, self.now().as_seconds())
            .await?;
        self.audit(
            &me.actor(),
            AuditAction::PasswordChanged,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({}),
        )
        .await
    }

    /// Draw a new TOTP secret (replacing an unconfirmed one) and return what the app needs.
    pub async fn start_totp_enrolment(
        &self,
        me: &CurrentSession,
    ) -> Result<TotpEnrolment, AppError> {
        self.require_factor_change_allowed(me)?;
        let existing = self.store().totp_for(&me.user.id).await?;
        if existing.as_ref().is_some_and(|t| t.confirmed != 0) {
            return Err(AppError::Conflict(
                "an authenticator app is already enrolled; remove it first to replace it".into(),
            ));
        }
        // Showing the page again (a reload, a mistyped code) keeps the key the person may have
        // scanned already, for as long as the enrolment may reasonably take.
        let now = self.now().as_seconds();
        let reusable = existing.filter(|t| now - t.created_at < PENDING_TOTP_SECONDS);
        let secret = match reusable {
            Some(t) => TotpSecret::from_bytes(
                self.secrets()
                    .open(&t.sealed_secret, &format!("totp:{}", me.user.id))
                    .map_err(AppError::internal)?,
            ),
            None => {
                let secret = TotpSecret::generate();
                let sealed = self
                    .secrets()
                    .seal(secret.as_bytes(), &format!("totp:{}", me.user.id));
                self.store()
                    .put_pending_totp(&me.user.id, &sealed, now)
                    .await?;
                secret
            }
        };
        let uri = secret.otpauth_uri(&self.settings().organization_name, &me.user.email);
        TotpEnrolment::new(&secret, uri)
    }

    pub(crate) async fn totp_secret_of(
        &self,
        user_id: &str,
    ) -> Result<Option<(TotpSecret, Option<i64>, bool)>, AppError> {
        let Some(row) = self.store().totp_for(user_id).await? else {
            return Ok(None);
        };
        let bytes = self
            .secrets()
            .open(&row.sealed_secret, &format!("totp:{user_id}"))
            .map_err(AppError::internal)?;
        Ok(Some((
            TotpSecret::from_bytes(bytes),
            row.last_used_step,
            row.confirmed != 0,
        )))
    }

    /// Check a TOTP code for a person and spend its time step. The spend is an atomic
    /// conditional update, so two requests racing with the same code cannot both pass.
    pub(crate) async fn spend_totp_code(
        &self,
        user_id: &str,
        code: &str,
        must_be_confirmed: bool,
    ) -> Result<(), TotpRejected> {
        let Ok(Some((secret, last_used, confirmed))) = self.totp_secret_of(user_id).await else {
            return Err(TotpRejected::Wrong);
        };
        if must_be_confirmed && !confirmed {
            return Err(TotpRejected::Wrong);
        }
        let now = self.now().as_seconds().max(0) as u64;
        let step = secret.verify(code, now, last_used.map(|s| s.max(0) as u64))?;
        match self.store().use_totp_step(user_id, step as i64).await {
            Ok(true) => Ok(()),
            _ => Err(TotpRejected::Replayed),
        }
    }

    /// Confirm a pending authenticator app with a code from it.
    pub async fn confirm_totp(
        &self,
        me: &CurrentSession,
        code: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        self.require_factor_change_allowed(me)?;
        let pending = self.store().totp_for(&me.user.id).await?;
        if pending.is_none_or(|t| t.confirmed != 0) {
            return Err(AppError::InvalidInput(
                "no authenticator app is waiting for confirmation; start again".into(),
            ));
        }
        self.spend_totp_code(&me.user.id, code, false)
            .await
            .map_err(|e| {
                AppError::InvalidInput(format!(
                    "{e}; check the time on your phone and try the current code"
                ))
            })?;
        self.audit(
            &me.actor(),
            AuditAction::FactorAdded,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({"factor": "totp"}),
        )
        .await
    }

    /// Finish enrolment: with a password and a second factor in place, activate the account,
    /// sign the session in under a new token, and return the recovery codes (shown once).
    pub async fn finish_enrolment(
        &self,
        me: &CurrentSession,
        client: &Client,
    ) -> Result<(String, Vec<String>), AppError> {
        self.require_enrolling(me)?;
        let progress = self.enrolment_progress(me).await?;
        if !progress.password_set {
            return Err(AppError::InvalidInput("choose a password first".into()));
        }
        if !progress.has_second_factor() {
            return Err(AppError::InvalidInput(
                "enrol a passkey or an authenticator app first".into(),
            ));
        }
        let codes = self.replace_recovery_codes(me, client).await?;
        self.store()
            .set_user_status(&me.user.id, UserStatus::Active, self.now().as_seconds())
            .await?;
        let method = if progress.passkeys > 0 {
            SignInMethod::PasswordAndPasskey
        } else {
            SignInMethod::PasswordAndTotp
        };
        let token = self
            .rotate_session(me, SessionState::SignedIn(method), true)
            .await?;
        let user = self
            .store()
            .user_by_id(&me.user.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        self.after_sign_in(&me.id, &user, method, client).await?;
        Ok((token, codes))
    }

    pub(crate) async fn replace_recovery_codes(
        &self,
        me: &CurrentSession,
        client: &Client,
    ) -> Result<Vec<String>, AppError> {
        let codes = recovery::generate();
        let digests: Vec<String> = codes.iter().map(|c| recovery::digest(c)).collect();
        self.store()
            .replace_recovery_codes(&me.user.id, &digests)
            .await?;
        self.audit(
            &me.actor(),
            AuditAction::RecoveryCodesGenerated,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({"count": codes.len()}),
        )
        .await?;
        Ok(codes)
    }
}
