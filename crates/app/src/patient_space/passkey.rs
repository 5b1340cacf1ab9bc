//! A passkey as the patient's second factor, after the password, or alone: registered while
//! setting up (or changing) how they sign in, then asked for at each sign-in and
//! re-authentication. User
//! verification is required (webauthn-rs enforces it); the signature counter is checked and the
//! credential saved again after each use. Ceremony state is sealed in the session, and a
//! sign-in allows 5 failed passkey answers, like codes.

use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential};

use super::sessions::{PatientSession, PatientSessionState};
use super::sign_in::{throttle_keys, Pending};
use super::{PatientProblem, SecondFactor, CODE_TRIES};
use crate::{App, AppError};

impl App {
    /// Start registering the passkey chosen in the set-up under way: the browser's challenge.
    pub async fn start_patient_passkey_registration(
        &self,
        session: &PatientSession,
    ) -> Result<serde_json::Value, AppError> {
        self.may_set_up(session)?;
        let Pending::Setup(mut method) = self.open_pending(session)? else {
            return Err(PatientProblem::NothingPending.into());
        };
        if method.factor != SecondFactor::Passkey {
            return Err(PatientProblem::ChooseFactor.into());
        }
        let uuid = crate::passkeys::user_uuid(&session.account.id)?;
        let label = format!(
            "patient-{}",
            session.account.id.get(..6).unwrap_or(&session.account.id)
        );
        let (challenge, state) = self
            .ceremonies()
            .webauthn()
            .start_passkey_registration(uuid, &label, "Patient space", None)
            .map_err(AppError::internal)?;
        method.passkey_state = Some(state);
        let sealed = self.seal_pending(&session.id, &Pending::Setup(method))?;
        self.store()
            .set_patient_session_pending(&session.id, Some(&sealed))
            .await?;
        serde_json::to_value(challenge).map_err(AppError::internal)
    }

    /// Finish registering: the passkey is the account's second factor from now on. Returns
    /// the new cookie value of the signed-in session.
    pub async fn finish_patient_passkey_registration(
        &self,
        session: &PatientSession,
        answer: &RegisterPublicKeyCredential,
    ) -> Result<String, AppError> {
        self.may_set_up(session)?;
        let Pending::Setup(mut method) = self.open_pending(session)? else {
            return Err(PatientProblem::NothingPending.into());
        };
        let state = method
            .passkey_state
            .take()
            .ok_or(PatientProblem::NothingPending)?;
        let passkey = self
            .ceremonies()
            .webauthn()
            .finish_passkey_registration(answer, &state)
            .map_err(|_| PatientProblem::PasskeyFailed)?;
        let json = serde_json::to_string(&passkey).map_err(AppError::internal)?;
        self.complete_patient_setup(session, method, None, Some(json))
            .await
    }

    /// Start a passkey answer: for the sign-in waiting for its second factor, or a
    /// re-authentication whose password was right.
    pub async fn start_patient_passkey(
        &self,
        session: &PatientSession,
    ) -> Result<serde_json::Value, AppError> {
        let reauthentication = match (session.state, self.open_pending(session).ok()) {
            (PatientSessionState::SecondFactor, _) => false,
            (PatientSessionState::SignedIn, Some(Pending::Reauthentication)) => true,
            _ => return Err(PatientProblem::NothingPending.into()),
        };
        let passkey = self.passkey_of(session)?;
        let (challenge, state) = self
            .ceremonies()
            .webauthn()
            .start_passkey_authentication(std::slice::from_ref(&passkey))
            .map_err(AppError::internal)?;
        let sealed = self.seal_pending(
            &session.id,
            &Pending::PasskeyAuthentication {
                state,
                reauthentication,
            },
        )?;
        self.store()
            .set_patient_session_pending(&session.id, Some(&sealed))
            .await?;
        serde_json::to_value(challenge).map_err(AppError::internal)
    }

    /// Check the passkey's answer; on success the session is signed in (or re-authenticated)
    /// under a new token (returned).
    pub async fn finish_patient_passkey(
        &self,
        session: &PatientSession,
        answer: &PublicKeyCredential,
    ) -> Result<String, AppError> {
        let Ok(Pending::PasskeyAuthentication {
            state,
            reauthentication,
        }) = self.open_pending(session)
        else {
            return Err(PatientProblem::NothingPending.into());
        };
        if self
            .store()
            .take_patient_factor_try(&session.id, CODE_TRIES)
            .await?
            .is_none()
        {
            self.drop_patient_session(session, "too_many_codes").await?;
            return Err(PatientProblem::TooManyTries.into());
        }
        let keys = throttle_keys(&session.account.id, &session.client);
        let result = match self
            .ceremonies()
            .webauthn()
            .finish_passkey_authentication(answer, &state)
        {
            Ok(r) => r,
            Err(_) => {
                self.patient_factor_failed(session, &keys, "passkey")
                    .await?;
                return Err(PatientProblem::PasskeyFailed.into());
            }
        };
        let mut passkey = self.passkey_of(session)?;
        if passkey.update_credential(&result).is_some() {
            let json = serde_json::to_string(&passkey).map_err(AppError::internal)?;
            self.store()
                .update_patient_passkey(&session.account.id, &json)
                .await?;
        }
        if reauthentication {
            return self
                .rotate_patient_session(session, PatientSessionState::SignedIn, true)
                .await;
        }
        self.complete_patient_sign_in(session, SecondFactor::Passkey)
            .await
    }

    fn passkey_of(&self, session: &PatientSession) -> Result<Passkey, AppError> {
        if session.account.second_factor.as_deref() != Some(SecondFactor::Passkey.as_str()) {
            return Err(PatientProblem::NothingPending.into());
        }
        let json = session
            .account
            .passkey_json
            .as_deref()
            .ok_or_else(|| AppError::internal("a passkey account has no passkey"))?;
        serde_json::from_str(json).map_err(AppError::internal)
    }
}
