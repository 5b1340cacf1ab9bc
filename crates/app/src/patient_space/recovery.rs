//! A forgotten password, for a lasting (per-patient) space, without going to the desk: the
//! remembered second factor, then a code to another contact verified at the desk, then a new
//! password. Two things the patient has, each proven; the password (what they know) is what is
//! being replaced. Without a second verified contact the answer is the desk, as for per-test
//! and per-visit spaces (a new slip after an identity check).

use serde::{Deserialize, Serialize};
use serde_json::json;

use sealroom_domain::AuditAction;

use super::sessions::{IssuedPatientSession, PatientSession, PatientSessionState};
use super::sign_in::{CodeSent, Pending};
use super::{PatientProblem, SecondFactor};
use crate::sessions::EndReason;
use crate::throttle::ThrottleKeys;
use crate::{App, AppError, Client};

/// Where a recovery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecoveryStage {
    /// Waiting for the remembered second factor.
    Factor,
    /// Waiting for the code sent to the other verified contact.
    Contact,
    /// Both proven: waiting for the new password.
    Password,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Recovery {
    pub(crate) stage: RecoveryStage,
    /// The verified contact that is not the remembered factor's.
    pub(crate) other_contact: String,
}

impl App {
    /// Start a recovery for a per-patient account: patient ID and account ID. The answer is
    /// the same as a failed sign-in when the account is unknown; "ask at the desk" when it has
    /// no second verified contact. The remembered factor's code (if it is sent) is on its way.
    pub async fn start_patient_recovery(
        &self,
        patient_number: &str,
        reference: &str,
        client: &Client,
    ) -> Result<(IssuedPatientSession, CodeSent), AppError> {
        let canonical = sealroom_crypto::slip::canonical_reference(reference).unwrap_or_default();
        let account = match self
            .store()
            .patient_account_by_reference(&canonical)
            .await?
        {
            Some(a) if a.model == "per_patient" && a.status == "active" => {
                let mrn = self.store().patient(&a.patient_id).await?.map(|p| p.mrn);
                mrn.filter(|m| m.trim() == patient_number.trim()).map(|_| a)
            }
            _ => None,
        };
        let mut keys = ThrottleKeys::new(
            &match &account {
                Some(a) => format!("patient_account:{}", a.id),
                None => format!("recovery:{canonical}"),
            },
            client,
        );
        let refused = |subject: String, outcome: &'static str| async move {
            self.audit(
                "anonymous",
                AuditAction::PatientSignInFailed,
                &subject,
                outcome,
                client,
                json!({"step": "recovery_start"}),
            )
            .await
        };
        if !self.begin_attempt(&mut keys, None, client).await? {
            refused("patient_account:unknown".into(), "throttled").await?;
            return Err(AppError::SignInFailed);
        }
        let Some(account) = account else {
            self.attempt_failed(&keys, None, client).await?;
            refused("patient_account:unknown".into(), "failure").await?;
            return Err(AppError::SignInFailed);
        };
        let other = self
            .store()
            .verified_contacts(&account.patient_id)
            .await?
            .into_iter()
            .find(|c| Some(&c.id) != account.factor_contact_id.as_ref());
        // A passkey is not asked for during a recovery (its ceremony is not part of this flow),
        // and a passkey alone has no password to forget: such accounts recover at the desk.
        if account.second_factor.as_deref() == Some(SecondFactor::Passkey.as_str()) {
            refused(format!("patient_account:{}", account.id), "needs_desk").await?;
            return Err(PatientProblem::RecoveryPasskeyAtDesk.into());
        }
        let Some(other) = other else {
            refused(format!("patient_account:{}", account.id), "needs_desk").await?;
            return Err(PatientProblem::RecoveryAtDesk.into());
        };
        let issued = self
            .create_patient_session(&account.id, PatientSessionState::Recovering, client)
            .await?;
        let pending = Pending::Recovery(Recovery {
            stage: RecoveryStage::Factor,
            other_contact: other.id,
        });
        let sealed = self.seal_pending(&issued.session_id, &pending)?;
        self.store()
            .set_patient_session_pending(&issued.session_id, Some(&sealed))
            .await?;
        let sent = self
            .send_remembered_code(&issued.session_id, &account, client)
            .await?;
        self.audit(
            "anonymous",
            AuditAction::PatientRecoveryStarted,
            &format!("patient_account:{}", account.id),
            "success",
            client,
            json!({"session": issued.session_id}),
        )
        .await?;
        Ok((issued, sent))
    }

    /// The recovery under way in this session.
    pub fn patient_recovery_stage(&self, session: &PatientSession) -> Option<RecoveryStage> {
        match self.open_pending(session).ok()? {
            Pending::Recovery(r) if session.state == PatientSessionState::Recovering => {
                Some(r.stage)
            }
            _ => None,
        }
    }

    /// A recovery code: first the remembered factor's, then the other contact's (sent when the
    /// first is right). Returns the stage reached.
    pub async fn patient_recovery_code(
        &self,
        session: &PatientSession,
        code: &str,
    ) -> Result<RecoveryStage, AppError> {
        let Ok(Pending::Recovery(r)) = self.open_pending(session) else {
            return Err(PatientProblem::NothingPending.into());
        };
        if session.state != PatientSessionState::Recovering {
            return Err(AppError::Unauthenticated);
        }
        let keys = ThrottleKeys::new(
            &format!("patient_account:{}", session.account.id),
            &session.client,
        );
        let next = match r.stage {
            RecoveryStage::Factor => {
                if let Err(e) = self.check_second_factor(session, code).await {
                    self.patient_factor_failed(session, &keys, "recovery_factor")
                        .await?;
                    return Err(e);
                }
                RecoveryStage::Contact
            }
            RecoveryStage::Contact => {
                if let Err(e) = self.check_patient_code(session, code).await {
                    self.patient_factor_failed(session, &keys, "recovery_contact")
                        .await?;
                    return Err(e);
                }
                RecoveryStage::Password
            }
            RecoveryStage::Password => return Ok(RecoveryStage::Password),
        };
        let pending = Pending::Recovery(Recovery {
            stage: next,
            other_contact: r.other_contact.clone(),
        });
        let sealed = self.seal_pending(&session.id, &pending)?;
        // Move on and spend the code in one statement, from exactly the step this request
        // proved: a request racing with the same code finds the step already moved.
        let old = session
            .row
            .pending
            .as_deref()
            .ok_or(PatientProblem::NothingPending)?;
        if !self
            .store()
            .advance_patient_pending(&session.id, old, &sealed)
            .await?
        {
            return Err(PatientProblem::NothingPending.into());
        }
        if next == RecoveryStage::Contact {
            let contact = self
                .store()
                .contact(&r.other_contact)
                .await?
                .ok_or(PatientProblem::RecoveryAtDesk)?;
            let factor = if contact.kind == "phone" {
                SecondFactor::Sms
            } else {
                SecondFactor::Email
            };
            self.send_patient_code(
                &session.id,
                &session.account,
                factor,
                &contact.id,
                &session.client,
            )
            .await?;
        }
        Ok(next)
    }

    /// The last step: the new password. The account's other sessions end; this one is signed
    /// in under a new token (returned).
    pub async fn finish_patient_recovery(
        &self,
        session: &PatientSession,
        password: &str,
        confirmation: &str,
    ) -> Result<String, AppError> {
        if self.patient_recovery_stage(session) != Some(RecoveryStage::Password) {
            return Err(PatientProblem::NothingPending.into());
        }
        let hash = self.new_patient_password(password, confirmation).await?;
        if !self
            .store()
            .set_patient_password(&session.account.id, &hash, &session.id, &session.digest)
            .await?
        {
            return Err(AppError::SessionEnded(EndReason::message(None)));
        }
        let token = self
            .rotate_patient_session(session, PatientSessionState::SignedIn, true)
            .await?;
        let now = self.now().as_seconds();
        let ended = self
            .store()
            .end_patient_sessions_of(
                &session.account.id,
                Some(&session.id),
                EndReason::Replaced.as_str(),
                now,
            )
            .await?;
        self.clear_attempts(&ThrottleKeys::new(
            &format!("patient_account:{}", session.account.id),
            &session.client,
        ))
        .await?;
        self.notify_sign_in_change(&session.account.patient_id, "password_recovered")
            .await?;
        self.audit(
            &session.actor_name(),
            AuditAction::PatientAccountRecovered,
            &format!("patient_account:{}", session.account.id),
            "success",
            &session.client,
            json!({"other_sessions_ended": ended.len()}),
        )
        .await?;
        Ok(token)
    }

    /// Where the code of the current recovery stage went (masked).
    pub(crate) async fn recovery_code_target(
        &self,
        session: &PatientSession,
        r: &Recovery,
    ) -> Result<CodeSent, AppError> {
        if r.stage == RecoveryStage::Factor {
            return self.remembered_target(session).await;
        }
        let contact = self
            .store()
            .contact(&r.other_contact)
            .await?
            .ok_or(PatientProblem::RecoveryAtDesk)?;
        Ok(CodeSent {
            factor: if contact.kind == "phone" {
                SecondFactor::Sms
            } else {
                SecondFactor::Email
            },
            to: Some(crate::patient_contacts::masked(
                &self.contact_address(&contact)?,
            )),
        })
    }
}
