//! Opening a per-test account with an access slip, and setting up (or changing) how the
//! patient signs in.
//!
//! Activation proves two factors: the slip's one-time secret (something the patient has,
//! handed over after an identity check at the desk) and the new password (something they
//! know). The second factor they choose is then confirmed by a first code before anything is
//! stored, so a typo in the set-up cannot lock them out. A slip redeemed for a test that
//! already has an account starts that account's set-up again: that is the recovery path (a
//! new slip at the desk), and it ends every session of the account.

use serde_json::json;

use sealroom_crypto::totp::TotpSecret;
use sealroom_domain::password::{NewPassword, PasswordContext};
use sealroom_domain::AuditAction;
use sealroom_store::{PatientAccountRow, PatientSignInMethod, StoreError};

use super::sessions::{IssuedPatientSession, PatientSession, PatientSessionState};
use super::sign_in::{CodeSent, Pending, PendingMethod};
use super::{account_owner, PatientProblem, SecondFactor};
use crate::enrolment::TotpEnrolment;
use crate::sessions::EndReason;
use crate::throttle::ThrottleKeys;
use crate::{App, AppError, Client};

/// A second factor the patient may choose now, with the verified contacts it could use.
#[derive(Debug, Clone)]
pub struct FactorChoice {
    pub factor: SecondFactor,
    /// (contact id, masked address) for SMS and e-mail; empty for an authenticator app.
    pub contacts: Vec<(String, String)>,
}

/// A set-up waiting for its first code.
pub struct SetupStarted {
    pub code: CodeSent,
    /// For an authenticator app: the key, its `otpauth://` URI and QR code.
    pub totp: Option<TotpEnrolment>,
}

/// The set-up choice of a passkey alone, without a password.
pub const PASSKEY_ONLY: &str = "passkey_only";

/// The account name an authenticator app shows: no name, no test, nothing about the patient.
fn totp_label(account_id: &str) -> String {
    format!(
        "patient space {}",
        account_id.get(..6).unwrap_or(account_id)
    )
}

impl App {
    /// Redeem an access slip and open (or restart) the test's account; the session that comes
    /// back may only set up how the patient signs in. Attempts are throttled per address and
    /// test on top of the slip's own limit of 5 wrong secrets.
    pub async fn activate_patient_space(
        &self,
        patient_number: &str,
        test_reference: &str,
        secret: &str,
        client: &Client,
    ) -> Result<IssuedPatientSession, AppError> {
        let reference = sealroom_crypto::slip::canonical_reference(test_reference)
            .unwrap_or_else(|| test_reference.trim().to_owned());
        let mut keys = ThrottleKeys::new(&format!("slip:{reference}"), client);
        if !self.begin_attempt(&mut keys, None, client).await? {
            self.audit(
                "anonymous",
                AuditAction::AccessSlipRefused,
                "patient_space",
                "throttled",
                client,
                json!({}),
            )
            .await?;
            return Err(PatientProblem::Paused.into());
        }
        let redeemed = match self
            .redeem_access_slip(client, patient_number, test_reference, secret)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.attempt_failed(&keys, None, client).await?;
                return Err(e);
            }
        };
        self.clear_attempts(&keys).await?;
        let account = match (&redeemed.test_id, &redeemed.account_id) {
            (Some(test), _) => {
                self.account_for_test(&redeemed.patient_id, test, client)
                    .await?
            }
            (None, Some(account)) => self.restart_account(account, client).await?,
            (None, None) => return Err(AppError::internal("a slip opens nothing")),
        };
        self.create_patient_session(&account.id, PatientSessionState::Activating, client)
            .await
    }

    /// A per-patient or per-visit account its slip was redeemed for: ready for set-up (an
    /// active one starts again, which is the recovery path, and its sessions end).
    async fn restart_account(
        &self,
        account_id: &str,
        client: &Client,
    ) -> Result<PatientAccountRow, AppError> {
        let account = self
            .store()
            .patient_account(account_id)
            .await?
            .ok_or(AppError::NotFound)?;
        match account.status.as_str() {
            "closed" => Err(PatientProblem::SpaceClosed.into()),
            "activating" => Ok(account),
            _ => {
                self.restart(&account, client).await?;
                self.store()
                    .patient_account(account_id)
                    .await?
                    .ok_or(AppError::NotFound)
            }
        }
    }

    /// Put an active account back to set-up and end its sessions (audited).
    async fn restart(&self, account: &PatientAccountRow, client: &Client) -> Result<(), AppError> {
        let now = self.now().as_seconds();
        self.store().restart_patient_account(&account.id).await?;
        let ended = self
            .store()
            .end_patient_sessions_of(&account.id, None, EndReason::Replaced.as_str(), now)
            .await?;
        self.audit(
            "patient_space",
            AuditAction::PatientAccountRestarted,
            &format!("patient_account:{}", account.id),
            "success",
            client,
            json!({"sessions_ended": ended.len()}),
        )
        .await
    }

    async fn account_for_test(
        &self,
        patient_id: &str,
        test_id: &str,
        client: &Client,
    ) -> Result<PatientAccountRow, AppError> {
        let now = self.now().as_seconds();
        if let Some(existing) = self.store().patient_account_for_test(test_id).await? {
            if existing.status == "closed" {
                return Err(PatientProblem::SpaceClosed.into());
            }
            self.restart(&existing, client).await?;
            return self
                .store()
                .patient_account(&existing.id)
                .await?
                .ok_or(AppError::NotFound);
        }
        let row = PatientAccountRow {
            test_id: Some(test_id.to_owned()),
            ..super::new_account(patient_id, "per_test", now)
        };
        match self.store().insert_patient_account(&row).await {
            Ok(()) => Ok(row),
            // Two slips for one test cannot be redeemed at once (one active slip per test),
            // but fail plainly if it ever happens.
            Err(StoreError::Conflict(_)) => Err(AppError::Conflict(
                "this test's patient space was opened at the same moment; try again".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether this session may set up a sign-in method: while activating, or signed in and
    /// re-authenticated within the last five minutes.
    pub(crate) fn may_set_up(&self, session: &PatientSession) -> Result<(), AppError> {
        match session.state {
            PatientSessionState::Activating => Ok(()),
            PatientSessionState::SignedIn if session.stepped_up(self.now()) => Ok(()),
            PatientSessionState::SignedIn => Err(AppError::StepUpRequired),
            PatientSessionState::SecondFactor | PatientSessionState::Recovering => {
                Err(AppError::Unauthenticated)
            }
        }
    }

    /// Whether the set-up may offer a passkey alone: not to a proxy, whose sign-in is the
    /// invitation reference and a password.
    pub fn may_choose_passkey_alone(&self, session: &PatientSession) -> bool {
        session.account.proxy_id.is_none()
    }

    /// The second factors the patient may choose: those the operator allows, SMS and e-mail
    /// only with a contact verified at the desk.
    pub async fn patient_factor_choices(
        &self,
        session: &PatientSession,
    ) -> Result<Vec<FactorChoice>, AppError> {
        // A proxy's codes go to their own contact, a patient's to theirs.
        let contacts = match &session.account.proxy_id {
            Some(proxy) => self
                .store()
                .proxy_contact(proxy)
                .await?
                .into_iter()
                .filter(|c| c.verified_at.is_some())
                .collect(),
            None => {
                self.store()
                    .verified_contacts(&session.account.patient_id)
                    .await?
            }
        };
        // A slip alone must not open a space whose owner has a phone or mailbox verified at
        // the desk: the first sign-in method is then confirmed through it (an authenticator
        // app can be added afterwards, after re-authenticating).
        let contact_required =
            session.state == PatientSessionState::Activating && !contacts.is_empty();
        let mut out = Vec::new();
        for &factor in &self.settings().patient_space.factors {
            if contact_required && factor.contact_kind().is_none() {
                continue;
            }
            let mut list = Vec::new();
            if let Some(kind) = factor.contact_kind() {
                for c in contacts.iter().filter(|c| c.kind == kind) {
                    list.push((
                        c.id.clone(),
                        crate::patient_contacts::masked(&self.contact_address(c)?),
                    ));
                }
                if list.is_empty() {
                    continue;
                }
            }
            out.push(FactorChoice {
                factor,
                contacts: list,
            });
        }
        Ok(out)
    }

    /// Judge a new patient password (the same rules as staff: length, common and breached
    /// passwords, guessability, the organization's name) and hash it.
    pub(crate) async fn new_patient_password(
        &self,
        password: &str,
        confirmation: &str,
    ) -> Result<String, AppError> {
        let chosen = NewPassword::choose(
            password,
            confirmation,
            &PasswordContext {
                organization: &self.settings().organization_name,
                ..PasswordContext::default()
            },
        )?;
        self.passwords().hash(chosen.expose().to_owned()).await
    }

    /// Start setting up a sign-in method: a new password and a second factor. For SMS and
    /// e-mail a code is sent now; for an authenticator app the secret is returned to be added
    /// to the app. Nothing is stored on the account until [`App::confirm_patient_setup`].
    pub async fn begin_patient_setup(
        &self,
        session: &PatientSession,
        password: &str,
        confirmation: &str,
        factor: &str,
        contact_id: Option<&str>,
    ) -> Result<SetupStarted, AppError> {
        self.may_set_up(session)?;
        // Only what the choices page offered: an allowed factor, and at activation a verified
        // contact when the patient has one.
        let choices = self.patient_factor_choices(session).await?;
        // A passkey alone, without a password: offered wherever a passkey is, except to a proxy
        // (who signs in with an invitation reference alone, through the password form).
        let passkey_only = factor == PASSKEY_ONLY;
        if passkey_only && !self.may_choose_passkey_alone(session) {
            return Err(PatientProblem::ChooseFactor.into());
        }
        let factor = if passkey_only { "passkey" } else { factor };
        let factor = SecondFactor::parse(factor)
            .filter(|f| choices.iter().any(|c| c.factor == *f))
            .ok_or(PatientProblem::ChooseFactor)?;
        let password_hash = if passkey_only {
            None
        } else {
            Some(self.new_patient_password(password, confirmation).await?)
        };
        let contact_id = match factor.contact_kind() {
            Some(_) => {
                let id = contact_id
                    .filter(|c| !c.is_empty())
                    .ok_or(PatientProblem::ChooseContact)?;
                Some(self.factor_contact(&session.account, factor, id).await?.id)
            }
            None => None,
        };
        let totp = (factor == SecondFactor::Totp).then(TotpSecret::generate);
        let pending = Pending::Setup(PendingMethod {
            password_hash,
            factor,
            contact_id: contact_id.clone(),
            totp_secret: totp.as_ref().map(|t| t.as_bytes().to_vec()),
            passkey_state: None,
        });
        let sealed = self.seal_pending(&session.id, &pending)?;
        self.store()
            .set_patient_session_pending(&session.id, Some(&sealed))
            .await?;
        let code = match &contact_id {
            Some(c) => {
                self.send_patient_code(&session.id, &session.account, factor, c, &session.client)
                    .await?
            }
            None => CodeSent { factor, to: None },
        };
        let label = totp_label(&session.account.id);
        Ok(SetupStarted {
            code,
            totp: totp
                .map(|t| {
                    let uri = t.otpauth_uri(&self.settings().organization_name, &label);
                    TotpEnrolment::new(&t, uri)
                })
                .transpose()?,
        })
    }

    /// The authenticator-app key being set up in this session, if that is the method, to
    /// show on the confirmation page.
    pub fn patient_setup_totp(&self, session: &PatientSession) -> Option<TotpEnrolment> {
        match self.open_pending(session).ok()? {
            Pending::Setup(PendingMethod {
                totp_secret: Some(secret),
                ..
            }) => {
                let t = TotpSecret::from_bytes(secret);
                let uri = t.otpauth_uri(
                    &self.settings().organization_name,
                    &totp_label(&session.account.id),
                );
                TotpEnrolment::new(&t, uri).ok()
            }
            _ => None,
        }
    }

    /// Confirm the method being set up with its first code: it is stored and remembered, the
    /// account's other sessions end, and this session is signed in under a new token (returned).
    pub async fn confirm_patient_setup(
        &self,
        session: &PatientSession,
        code: &str,
    ) -> Result<String, AppError> {
        self.may_set_up(session)?;
        let Pending::Setup(method) = self.open_pending(session)? else {
            return Err(PatientProblem::NothingPending.into());
        };
        let totp_last_step = match (&method.factor, &method.totp_secret) {
            (SecondFactor::Totp, Some(secret)) => {
                let now = u64::try_from(self.now().as_seconds()).map_err(AppError::internal)?;
                let step = TotpSecret::from_bytes(secret.clone())
                    .verify(code, now, None)
                    .map_err(|_| PatientProblem::AppCodeWrong)?;
                Some(i64::try_from(step).map_err(AppError::internal)?)
            }
            (SecondFactor::Totp, None) => {
                return Err(AppError::internal("a TOTP set-up has no secret"))
            }
            // A passkey is confirmed by creating it (see `patient_space::passkey`).
            (SecondFactor::Passkey, _) => return Err(PatientProblem::UsePasskey.into()),
            _ => {
                self.check_patient_code(session, code).await?;
                None
            }
        };
        self.complete_patient_setup(session, method, totp_last_step, None)
            .await
    }

    /// Store a confirmed method, sign this session in under a new token (returned) and end
    /// the account's other sessions.
    pub(crate) async fn complete_patient_setup(
        &self,
        session: &PatientSession,
        method: PendingMethod,
        totp_last_step: Option<i64>,
        passkey_json: Option<String>,
    ) -> Result<String, AppError> {
        let account_id = &session.account.id;
        let has_password = method.password_hash.is_some();
        let stored = PatientSignInMethod {
            password_hash: method.password_hash,
            second_factor: method.factor.as_str().to_owned(),
            factor_contact_id: method.contact_id,
            totp_sealed: method
                .totp_secret
                .as_ref()
                .map(|s| self.secrets().seal(s, &account_owner(account_id, "totp"))),
            totp_last_step,
            passkey_json,
        };
        let now = self.now().as_seconds();
        if !self
            .store()
            .set_patient_sign_in_method(account_id, &stored, now, &session.id, &session.digest)
            .await?
        {
            return Err(AppError::SessionEnded(EndReason::message(None)));
        }
        let activating = session.state == PatientSessionState::Activating;
        let token = self
            .rotate_patient_session(session, PatientSessionState::SignedIn, true)
            .await?;
        let ended = self
            .store()
            .end_patient_sessions_of(
                account_id,
                Some(&session.id),
                EndReason::Replaced.as_str(),
                now,
            )
            .await?;
        // A proxy's own sign-in is not the patient's to hear about.
        if !activating && session.account.proxy_id.is_none() {
            self.notify_sign_in_change(&session.account.patient_id, "sign_in_method_changed")
                .await?;
        }
        self.audit(
            &session.actor_name(),
            if activating {
                AuditAction::PatientAccountActivated
            } else {
                AuditAction::PatientSignInMethodChanged
            },
            &format!("patient_account:{account_id}"),
            "success",
            &session.client,
            json!({
                "second_factor": method.factor.as_str(),
                "password": has_password,
                "other_sessions_ended": ended.len(),
            }),
        )
        .await?;
        Ok(token)
    }
}
