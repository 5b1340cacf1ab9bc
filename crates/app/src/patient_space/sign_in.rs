//! How a patient proves who they are: a password (something they know) and the second factor
//! they chose (something they have: an authenticator app, a passkey, or a phone or mailbox
//! verified at the desk), remembered on the account; or a passkey alone, whose required user
//! verification makes it two factors by itself. The patient ID and test ID only say which account; they
//! are never counted as a factor. A code by SMS or e-mail has 6 digits, works for 10 minutes
//! and once, is bound to the sign-in it was sent for, and allows 5 tries; one sign-in sends at
//! most 5 codes, 30 seconds apart. Password attempts are throttled like staff sign-in (per
//! account, per address and per pair).

use serde::{Deserialize, Serialize};
use serde_json::json;

use sealroom_crypto::totp::{TotpRejected, TotpSecret};
use sealroom_domain::password::normalise;
use sealroom_domain::{AuditAction, Duration};
use sealroom_store::{ContactRow, PatientAccountRow};

use super::sessions::{IssuedPatientSession, PatientSession, PatientSessionState};
use super::{
    account_owner, code_digest, new_code, PatientProblem, SecondFactor, CODES_PER_SIGN_IN,
    CODE_MINUTES, CODE_RESEND_SECONDS, CODE_TRIES,
};
use crate::mail::templates;
use crate::throttle::ThrottleKeys;
use crate::{App, AppError, Client};

/// What a sign-in is waiting for, sealed in the session until the code confirms it.
#[derive(Serialize, Deserialize)]
pub(crate) enum Pending {
    /// A new sign-in method (activation, or a change after re-authentication).
    Setup(PendingMethod),
    /// A signed-in patient re-authenticating: the password was right, the code is next.
    Reauthentication,
    /// A forgotten password being recovered (per-patient spaces).
    Recovery(super::recovery::Recovery),
    /// A passkey ceremony under way, for a sign-in or a re-authentication.
    PasskeyAuthentication {
        state: webauthn_rs::prelude::PasskeyAuthentication,
        reauthentication: bool,
    },
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PendingMethod {
    /// `None` when the method is a passkey alone, without a password.
    pub(crate) password_hash: Option<String>,
    pub(crate) factor: SecondFactor,
    pub(crate) contact_id: Option<String>,
    pub(crate) totp_secret: Option<Vec<u8>>,
    /// A passkey registration under way (passkey as the second factor).
    #[serde(default)]
    pub(crate) passkey_state: Option<webauthn_rs::prelude::PasskeyRegistration>,
}

/// Where the code of a sign-in went, for the page that asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSent {
    pub factor: SecondFactor,
    /// The masked address or number (none for an authenticator app).
    pub to: Option<String>,
}

fn pending_owner(session_id: &str) -> String {
    format!("patient_session:{session_id}:pending")
}

/// The sign-in counters of an account.
pub(crate) fn throttle_keys(account_id: &str, client: &Client) -> ThrottleKeys {
    ThrottleKeys::new(&format!("patient_account:{account_id}"), client)
}

/// The same answer whichever of patient ID, test ID or password was wrong.
pub const SIGN_IN_FAILED: &str = "patient_sign_in_failed";

impl App {
    pub(crate) fn seal_pending(
        &self,
        session_id: &str,
        pending: &Pending,
    ) -> Result<Vec<u8>, AppError> {
        let bytes = serde_json::to_vec(pending).map_err(AppError::internal)?;
        Ok(self.secrets().seal(&bytes, &pending_owner(session_id)))
    }

    pub(crate) fn open_pending(&self, session: &PatientSession) -> Result<Pending, AppError> {
        let sealed = session
            .row
            .pending
            .as_ref()
            .ok_or(PatientProblem::NothingPending)?;
        let bytes = self
            .secrets()
            .open(sealed, &pending_owner(&session.id))
            .map_err(AppError::internal)?;
        serde_json::from_slice(&bytes).map_err(AppError::internal)
    }

    /// The verified contact a factor sends codes to, if it belongs to the account's patient.
    pub(crate) async fn factor_contact(
        &self,
        account: &PatientAccountRow,
        factor: SecondFactor,
        contact_id: &str,
    ) -> Result<ContactRow, AppError> {
        self.store()
            .contact(contact_id)
            .await?
            .filter(|c| {
                c.patient_id == account.patient_id
                    && c.proxy_id == account.proxy_id
                    && c.verified_at.is_some()
                    && c.removed_at.is_none()
                    && Some(c.kind.as_str()) == factor.contact_kind()
            })
            .ok_or(PatientProblem::ContactNotVerified.into())
    }

    /// Send a new code for this sign-in to a verified contact.
    pub(crate) async fn send_patient_code(
        &self,
        session_id: &str,
        account: &PatientAccountRow,
        factor: SecondFactor,
        contact_id: &str,
        client: &Client,
    ) -> Result<CodeSent, AppError> {
        let contact = self.factor_contact(account, factor, contact_id).await?;
        let address = self.contact_address(&contact)?;
        let code = new_code();
        let now = self.now();
        if !self
            .store()
            .set_patient_session_code(
                session_id,
                &code_digest(session_id, &code),
                now.plus(Duration::minutes(CODE_MINUTES)).as_seconds(),
                now.as_seconds(),
                CODES_PER_SIGN_IN,
                CODE_RESEND_SECONDS,
            )
            .await?
        {
            return Err(PatientProblem::CodeLimit.into());
        }
        let organization = &self.settings().organization_name;
        match factor {
            SecondFactor::Sms => self.send_sms_in_background(
                address.clone(),
                crate::sms::templates::sign_in_code(organization, &code, CODE_MINUTES),
                "patient sign-in code",
            ),
            _ => self.send_mail_in_background(
                templates::sign_in_code(&address, organization, &code, CODE_MINUTES),
                "patient sign-in code",
            ),
        }
        self.audit(
            &format!("patient_account:{}", account.id),
            AuditAction::PatientCodeSent,
            &format!("patient_session:{session_id}"),
            "success",
            client,
            json!({"factor": factor.as_str()}),
        )
        .await?;
        Ok(CodeSent {
            factor,
            to: Some(crate::patient_contacts::masked(&address)),
        })
    }

    /// Check a code sent for this sign-in, taking one of its tries first.
    pub(crate) async fn check_patient_code(
        &self,
        session: &PatientSession,
        code: &str,
    ) -> Result<(), AppError> {
        let now = self.now().as_seconds();
        let live = session.row.code_expires_at.is_some_and(|t| now < t);
        let tries = if live {
            self.store()
                .take_patient_code_try(&session.id, CODE_TRIES)
                .await?
        } else {
            None
        };
        let Some(tries) = tries else {
            return Err(PatientProblem::CodeNoLonger.into());
        };
        if session.row.code_digest.as_deref() != Some(code_digest(&session.id, code).as_str()) {
            return Err(PatientProblem::CodeWrong {
                tries_left: (CODE_TRIES - tries).max(0),
            }
            .into());
        }
        Ok(())
    }

    /// Check the account's remembered second factor.
    pub(crate) async fn check_second_factor(
        &self,
        session: &PatientSession,
        code: &str,
    ) -> Result<SecondFactor, AppError> {
        let account = &session.account;
        let factor = account
            .second_factor
            .as_deref()
            .and_then(SecondFactor::parse)
            .ok_or_else(|| AppError::internal("an active account has no second factor"))?;
        match factor {
            SecondFactor::Totp => {
                // An app code is not sent, so its tries are counted on the sign-in itself.
                if self
                    .store()
                    .take_patient_factor_try(&session.id, CODE_TRIES)
                    .await?
                    .is_none()
                {
                    self.drop_patient_session(session, "too_many_codes").await?;
                    return Err(PatientProblem::TooManyTries.into());
                }
                let sealed = account
                    .totp_sealed
                    .as_ref()
                    .ok_or_else(|| AppError::internal("a TOTP account has no secret"))?;
                let secret = TotpSecret::from_bytes(
                    self.secrets()
                        .open(sealed, &account_owner(&account.id, "totp"))
                        .map_err(AppError::internal)?,
                );
                let now = u64::try_from(self.now().as_seconds()).map_err(AppError::internal)?;
                let last = account.totp_last_step.and_then(|s| u64::try_from(s).ok());
                let step = secret.verify(code, now, last).map_err(|e| match e {
                    TotpRejected::Replayed => PatientProblem::AppCodeUsed,
                    _ => PatientProblem::AppCodeWrong,
                })?;
                let step = i64::try_from(step).map_err(AppError::internal)?;
                if !self
                    .store()
                    .use_patient_totp_step(&account.id, step)
                    .await?
                {
                    return Err(PatientProblem::AppCodeUsed.into());
                }
            }
            SecondFactor::Sms | SecondFactor::Email => {
                self.check_patient_code(session, code).await?
            }
            SecondFactor::Passkey => return Err(PatientProblem::UsePasskey.into()),
        }
        Ok(factor)
    }

    /// Send the remembered factor's code, if it is one that is sent.
    pub(crate) async fn send_remembered_code(
        &self,
        session_id: &str,
        account: &PatientAccountRow,
        client: &Client,
    ) -> Result<CodeSent, AppError> {
        let factor = account
            .second_factor
            .as_deref()
            .and_then(SecondFactor::parse)
            .ok_or_else(|| AppError::internal("an active account has no second factor"))?;
        match (factor, &account.factor_contact_id) {
            (SecondFactor::Totp | SecondFactor::Passkey, _) => Ok(CodeSent { factor, to: None }),
            (_, Some(contact)) => {
                self.send_patient_code(session_id, account, factor, contact, client)
                    .await
            }
            (_, None) => Err(AppError::internal("a code factor has no contact")),
        }
    }

    /// First step: which account (patient ID and test ID, or a proxy's invitation reference
    /// alone) and its password. On success a
    /// pending session waits for the second factor, whose code (if sent) is on its way.
    pub async fn patient_sign_in(
        &self,
        patient_number: &str,
        test_reference: &str,
        password: &str,
        client: &Client,
    ) -> Result<(IssuedPatientSession, CodeSent), AppError> {
        let (account, mut keys, identified) = self
            .sign_in_account(patient_number, test_reference, client)
            .await?;
        let allowed = self.begin_attempt(&mut keys, None, client).await?;
        let usable = account
            .as_ref()
            .filter(|a| allowed && identified && a.status == "active");
        // Always one argon2 verification, against a decoy when there is nothing to check.
        let ok = self
            .passwords()
            .verify(
                normalise(password),
                usable.and_then(|a| a.password_hash.clone()),
            )
            .await?;
        let Some(account) = usable.filter(|_| ok) else {
            return Err(self
                .sign_in_refused(&keys, allowed, account.as_ref(), client, "password")
                .await);
        };
        self.release_address(&keys).await?;
        let issued = self
            .create_patient_session(&account.id, PatientSessionState::SecondFactor, client)
            .await?;
        let sent = self
            .send_remembered_code(&issued.session_id, account, client)
            .await?;
        Ok((issued, sent))
    }

    /// The account a sign-in names (patient ID and test or account ID, or a proxy's invitation
    /// reference alone), its throttle keys, and whether the identifiers match it and it still
    /// holds.
    async fn sign_in_account(
        &self,
        patient_number: &str,
        test_reference: &str,
        client: &Client,
    ) -> Result<(Option<PatientAccountRow>, ThrottleKeys, bool), AppError> {
        let reference = sealroom_crypto::slip::canonical_reference(test_reference);
        // A test's reference names a per-test account, with the patient ID beside it; a
        // proxy's invitation reference names the proxy's account, with no patient ID.
        let account = match &reference {
            Some(r) => match self.store().test_by_reference(r).await? {
                Some(test) => self.store().patient_account_for_test(&test.id).await?,
                None => match self.store().patient_account_by_reference(r).await? {
                    Some(a) => Some(a),
                    None => match self.store().proxy_by_invitation(r).await? {
                        Some(p) => self.store().patient_account_for_proxy(&p.id).await?,
                        None => None,
                    },
                },
            },
            None => None,
        };
        // Attempts are counted per account from the password to the code, and cleared only when
        // the second factor succeeds: wrong codes slow down the next password attempts, so a
        // known password alone buys neither unlimited code guesses nor unlimited messages to
        // the patient's phone.
        let keys = match &account {
            Some(a) => throttle_keys(&a.id, client),
            None => ThrottleKeys::new(
                &format!(
                    "patient:{}:{}",
                    patient_number.trim(),
                    reference.as_deref().unwrap_or(test_reference.trim())
                ),
                client,
            ),
        };
        let identified = match &account {
            Some(a) if a.model == "proxy" => {
                patient_number.trim().is_empty() && self.account_still_holds(a).await?
            }
            Some(a) => {
                self.store()
                    .patient(&a.patient_id)
                    .await?
                    .is_some_and(|p| p.mrn.trim() == patient_number.trim())
                    && self.account_still_holds(a).await?
            }
            None => false,
        };
        Ok((account, keys, identified))
    }

    /// A refused sign-in: counted (unless already throttled), audited, and one answer whatever
    /// was wrong.
    async fn sign_in_refused(
        &self,
        keys: &ThrottleKeys,
        allowed: bool,
        account: Option<&PatientAccountRow>,
        client: &Client,
        step: &str,
    ) -> AppError {
        let recorded = async {
            if allowed {
                self.attempt_failed(keys, None, client).await?;
            }
            self.audit(
                "anonymous",
                AuditAction::PatientSignInFailed,
                &account.map_or_else(
                    || "patient_account:unknown".to_owned(),
                    |a| format!("patient_account:{}", a.id),
                ),
                if allowed { "failure" } else { "throttled" },
                client,
                json!({"step": step}),
            )
            .await
        }
        .await;
        match recorded {
            Ok(()) => AppError::SignInFailed,
            Err(e) => e,
        }
    }

    /// Sign-in without a password, for an account whose only method is a passkey: which
    /// account, as for [`Self::patient_sign_in`], then the passkey on the code page. User
    /// verification is required, so the passkey alone combines two factor categories: the
    /// device (has) and the PIN or biometric that unlocks it (knows or is). Any other account
    /// gets the same refusal as a wrong password, counted the same way.
    pub async fn patient_passkey_sign_in(
        &self,
        patient_number: &str,
        test_reference: &str,
        client: &Client,
    ) -> Result<(IssuedPatientSession, CodeSent), AppError> {
        let (account, mut keys, identified) = self
            .sign_in_account(patient_number, test_reference, client)
            .await?;
        let allowed = self.begin_attempt(&mut keys, None, client).await?;
        let usable = account.as_ref().filter(|a| {
            allowed
                && identified
                && a.status == "active"
                && a.password_hash.is_none()
                && a.second_factor.as_deref() == Some(SecondFactor::Passkey.as_str())
        });
        let Some(account) = usable else {
            return Err(self
                .sign_in_refused(&keys, allowed, account.as_ref(), client, "passkey_only")
                .await);
        };
        self.release_address(&keys).await?;
        let issued = self
            .create_patient_session(&account.id, PatientSessionState::SecondFactor, client)
            .await?;
        Ok((
            issued,
            CodeSent {
                factor: SecondFactor::Passkey,
                to: None,
            },
        ))
    }

    /// Send another code for a sign-in or re-authentication waiting for one.
    pub async fn resend_patient_code(
        &self,
        session: &PatientSession,
    ) -> Result<CodeSent, AppError> {
        match (session.state, self.open_pending(session).ok()) {
            (PatientSessionState::SecondFactor, _)
            | (PatientSessionState::SignedIn, Some(Pending::Reauthentication)) => {
                self.send_remembered_code(&session.id, &session.account, &session.client)
                    .await
            }
            (PatientSessionState::Recovering, Some(Pending::Recovery(r))) => match r.stage {
                super::recovery::RecoveryStage::Factor => {
                    self.send_remembered_code(&session.id, &session.account, &session.client)
                        .await
                }
                _ => {
                    let target = self.recovery_code_target(session, &r).await?;
                    self.send_patient_code(
                        &session.id,
                        &session.account,
                        target.factor,
                        &r.other_contact,
                        &session.client,
                    )
                    .await
                }
            },
            (_, Some(Pending::Setup(m))) => match (m.factor, m.contact_id) {
                (SecondFactor::Totp, _) | (_, None) => Ok(CodeSent {
                    factor: m.factor,
                    to: None,
                }),
                (factor, Some(contact)) => {
                    self.send_patient_code(
                        &session.id,
                        &session.account,
                        factor,
                        &contact,
                        &session.client,
                    )
                    .await
                }
            },
            _ => Err(PatientProblem::NothingPending.into()),
        }
    }

    /// The factor a pending sign-in waits for, and where its code went (masked).
    pub async fn patient_code_target(
        &self,
        session: &PatientSession,
    ) -> Result<CodeSent, AppError> {
        let (factor, contact) = match self.open_pending(session).ok() {
            Some(Pending::Setup(m)) => (m.factor, m.contact_id),
            Some(Pending::Recovery(r)) => return self.recovery_code_target(session, &r).await,
            _ => return self.remembered_target(session).await,
        };
        let to = match contact {
            Some(id) if factor != SecondFactor::Totp => {
                let c = self.factor_contact(&session.account, factor, &id).await?;
                Some(crate::patient_contacts::masked(&self.contact_address(&c)?))
            }
            _ => None,
        };
        Ok(CodeSent { factor, to })
    }

    /// The remembered second factor, and where its codes go (masked).
    pub(crate) async fn remembered_target(
        &self,
        session: &PatientSession,
    ) -> Result<CodeSent, AppError> {
        let factor = session
            .account
            .second_factor
            .as_deref()
            .and_then(SecondFactor::parse)
            .ok_or(AppError::Unauthenticated)?;
        let to = match &session.account.factor_contact_id {
            Some(id) if factor != SecondFactor::Totp => {
                let c = self.factor_contact(&session.account, factor, id).await?;
                Some(crate::patient_contacts::masked(&self.contact_address(&c)?))
            }
            _ => None,
        };
        Ok(CodeSent { factor, to })
    }

    /// Second step: the code. Returns the new cookie value of the signed-in session. A code
    /// stops working after 5 wrong tries; the patient asks for a new one.
    pub async fn patient_second_factor(
        &self,
        session: &PatientSession,
        code: &str,
    ) -> Result<String, AppError> {
        if session.state != PatientSessionState::SecondFactor {
            return Err(AppError::Unauthenticated);
        }
        let keys = throttle_keys(&session.account.id, &session.client);
        let factor = match self.check_second_factor(session, code).await {
            Ok(f) => f,
            Err(e) => {
                self.patient_factor_failed(session, &keys, "second_factor")
                    .await?;
                return Err(e);
            }
        };
        self.complete_patient_sign_in(session, factor).await
    }

    /// A wrong second factor: counted against the account (the next password attempts slow
    /// down) and audited.
    pub(crate) async fn patient_factor_failed(
        &self,
        session: &PatientSession,
        keys: &ThrottleKeys,
        step: &str,
    ) -> Result<(), AppError> {
        self.count_failure(keys).await?;
        self.audit(
            &session.actor_name(),
            AuditAction::PatientSignInFailed,
            &format!("patient_account:{}", session.account.id),
            "failure",
            &session.client,
            json!({"step": step}),
        )
        .await
    }

    /// Both factors proven: the account's counters are cleared and the session is signed in
    /// under a new token (returned).
    pub(crate) async fn complete_patient_sign_in(
        &self,
        session: &PatientSession,
        factor: SecondFactor,
    ) -> Result<String, AppError> {
        self.clear_attempts(&throttle_keys(&session.account.id, &session.client))
            .await?;
        let token = self
            .rotate_patient_session(session, PatientSessionState::SignedIn, true)
            .await?;
        self.audit(
            &session.actor_name(),
            AuditAction::PatientSignInSucceeded,
            &format!("patient_account:{}", session.account.id),
            "success",
            &session.client,
            json!({
                "method": if session.account.password_hash.is_some() {
                    format!("password+{}", factor.as_str())
                } else {
                    format!("{} alone", factor.as_str())
                },
                "session": session.id,
            }),
        )
        .await?;
        Ok(token)
    }

    /// Re-authentication, first step (before changing how to sign in): the password. A wrong
    /// one ends the session.
    pub async fn patient_reauthenticate(
        &self,
        session: &PatientSession,
        password: &str,
    ) -> Result<CodeSent, AppError> {
        session.actor()?;
        // A passkey alone is re-authenticated by the passkey alone (it carries both factors).
        let ok = match &session.account.password_hash {
            None => {
                session.account.second_factor.as_deref() == Some(SecondFactor::Passkey.as_str())
            }
            hash => {
                self.passwords()
                    .verify(normalise(password), hash.clone())
                    .await?
            }
        };
        if !ok {
            self.drop_patient_session(session, "reauthentication_failed")
                .await?;
            self.audit(
                &session.actor_name(),
                AuditAction::PatientSignInFailed,
                &format!("patient_account:{}", session.account.id),
                "failure",
                &session.client,
                json!({"step": "reauthentication_password"}),
            )
            .await?;
            return Err(AppError::SignInFailed);
        }
        let sealed = self.seal_pending(&session.id, &Pending::Reauthentication)?;
        self.store()
            .set_patient_session_pending(&session.id, Some(&sealed))
            .await?;
        self.send_remembered_code(&session.id, &session.account, &session.client)
            .await
    }

    /// Re-authentication, second step: the code. Returns the new cookie value; for the next
    /// five minutes the patient may change how they sign in.
    pub async fn patient_confirm_reauthentication(
        &self,
        session: &PatientSession,
        code: &str,
    ) -> Result<String, AppError> {
        session.actor()?;
        if !matches!(self.open_pending(session), Ok(Pending::Reauthentication)) {
            return Err(PatientProblem::NothingPending.into());
        }
        self.check_second_factor(session, code).await?;
        self.rotate_patient_session(session, PatientSessionState::SignedIn, true)
            .await
    }
}
