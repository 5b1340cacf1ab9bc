//! Patient sessions. The cookie carries a random token; only its digest is stored. Every sign-in
//! step gives the session a new token, so a token seen before a step is worthless after it.
//! A signed-in session ends after the configured idle time (10 minutes by default) or 12 hours,
//! whichever comes first; a pending one (activating, or waiting for the code) after 10 minutes
//! idle or 30 minutes in all. Patient traffic is light, so each request reads the database.

use serde_json::json;

use sealroom_crypto::token;
use sealroom_domain::{
    AuditAction, DataCategory, SessionExpiry, SessionLimits, SessionState, Timestamp,
};
use sealroom_store::{PatientAccountRow, PatientSessionRow};

use crate::accounts::Actor;
use crate::policy::Principal;
use crate::sessions::EndReason;
use crate::{App, AppError, Client};

/// What a patient session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientSessionState {
    /// A slip was redeemed: the patient may only set up how they will sign in.
    Activating,
    /// The password was accepted: waiting for the second factor.
    SecondFactor,
    /// Recovering a forgotten password: waiting for its codes, then the new password.
    Recovering,
    SignedIn,
}

impl PatientSessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            PatientSessionState::Activating => "activating",
            PatientSessionState::SecondFactor => "second_factor",
            PatientSessionState::Recovering => "recovering",
            PatientSessionState::SignedIn => "signed_in",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            PatientSessionState::Activating,
            PatientSessionState::SecondFactor,
            PatientSessionState::Recovering,
            PatientSessionState::SignedIn,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A valid patient session, as handlers see it.
#[derive(Debug, Clone)]
pub struct PatientSession {
    pub id: String,
    pub account: PatientAccountRow,
    pub state: PatientSessionState,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub stepped_up_at: Option<Timestamp>,
    pub client: Client,
    pub(crate) digest: String,
    pub(crate) row: PatientSessionRow,
}

impl PatientSession {
    pub fn is_signed_in(&self) -> bool {
        self.state == PatientSessionState::SignedIn
    }

    pub fn actor_name(&self) -> String {
        format!("patient_account:{}", self.account.id)
    }

    /// The account as the policy decision point sees it. Only a signed-in session acts.
    pub fn actor(&self) -> Result<Actor, AppError> {
        if !self.is_signed_in() {
            return Err(AppError::Unauthenticated);
        }
        Ok(Actor {
            principal: Principal::PatientAccount {
                account_id: self.account.id.clone(),
                patient_id: self.account.patient_id.clone(),
            },
            // Step-up is checked where a patient needs it (changing how they sign in).
            stepped_up: false,
            client: self.client.clone(),
        })
    }

    /// Whether the patient re-authenticated recently enough to change how they sign in.
    pub fn stepped_up(&self, now: Timestamp) -> bool {
        sealroom_domain::session::step_up_is_fresh(self.stepped_up_at, now)
    }
}

/// The categories a patient's own account may read: all of them (only released documents
/// are ever shown).
pub(crate) const OWN_CATEGORIES: [DataCategory; 8] = DataCategory::ALL;

/// A session handed to the browser: the cookie value is shown here only.
pub struct IssuedPatientSession {
    pub token: String,
    pub session_id: String,
}

/// What an open session looks like on the account page.
#[derive(Debug, Clone)]
pub struct PatientSessionSummary {
    pub id: String,
    pub current: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_agent: String,
}

impl App {
    pub(crate) fn patient_limits(&self, state: PatientSessionState) -> SessionLimits {
        match state {
            PatientSessionState::SignedIn => SessionLimits {
                idle: self.settings().patient_space.idle,
                absolute: self.settings().patient_space.absolute,
            },
            _ => SessionState::PENDING_LIMITS,
        }
    }

    pub(crate) async fn create_patient_session(
        &self,
        account_id: &str,
        state: PatientSessionState,
        client: &Client,
    ) -> Result<IssuedPatientSession, AppError> {
        let now = self.now().as_seconds();
        let issued = token::issue("");
        let row = PatientSessionRow {
            id: token::new_id(),
            token_digest: issued.digest,
            account_id: account_id.to_owned(),
            state: state.as_str().to_owned(),
            csrf_token: token::issue("").secret,
            code_digest: None,
            code_expires_at: None,
            code_attempts: 0,
            codes_sent: 0,
            last_code_sent_at: None,
            pending: None,
            created_at: now,
            last_seen_at: now,
            stepped_up_at: None,
            client_address: client.address.clone(),
            user_agent: client.user_agent.chars().take(200).collect(),
            ended_at: None,
            end_reason: None,
        };
        self.store().insert_patient_session(&row).await?;
        Ok(IssuedPatientSession {
            token: issued.secret,
            session_id: row.id,
        })
    }

    /// Move a session to `state` under a new token; returns the new cookie value.
    pub(crate) async fn rotate_patient_session(
        &self,
        session: &PatientSession,
        state: PatientSessionState,
        stepped_up: bool,
    ) -> Result<String, AppError> {
        let issued = token::issue("");
        let stepped = stepped_up.then(|| self.now().as_seconds());
        if !self
            .store()
            .rotate_patient_session(
                &session.id,
                &session.digest,
                &issued.digest,
                &token::issue("").secret,
                state.as_str(),
                stepped,
            )
            .await?
        {
            return Err(AppError::SessionEnded(EndReason::message(None)));
        }
        Ok(issued.secret)
    }

    /// The per-request check: find the session for a cookie token and decide whether it is
    /// still valid now, counting the request as the patient's activity. Ended and expired
    /// sessions say why.
    pub async fn check_patient_session(
        &self,
        token_secret: &str,
        client: &Client,
    ) -> Result<PatientSession, AppError> {
        self.check_patient_session_with(token_secret, client, true)
            .await
    }

    /// The same check for the live message stream, which the page opens on its own: not
    /// counted as activity, so an unattended patient space still signs itself out.
    pub async fn check_patient_session_in_background(
        &self,
        token_secret: &str,
        client: &Client,
    ) -> Result<PatientSession, AppError> {
        self.check_patient_session_with(token_secret, client, false)
            .await
    }

    async fn check_patient_session_with(
        &self,
        token_secret: &str,
        client: &Client,
        activity: bool,
    ) -> Result<PatientSession, AppError> {
        let now = self.now();
        let digest = token::digest(token_secret);
        let row = self
            .store()
            .patient_session_by_digest(&digest)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if row.ended_at.is_some() {
            return Err(AppError::SessionEnded(EndReason::message(
                row.end_reason.as_deref(),
            )));
        }
        let state = PatientSessionState::parse(&row.state)
            .ok_or_else(|| AppError::internal("stored patient session state is unknown"))?;
        let account = self
            .store()
            .patient_account(&row.account_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let usable = match state {
            PatientSessionState::Activating => account.status == "activating",
            _ => account.status == "active",
        } && self.account_still_holds(&account).await?;
        if !usable {
            self.store()
                .end_patient_session(&row.id, "account_changed", now.as_seconds())
                .await?;
            return Err(AppError::SessionEnded(EndReason::message(None)));
        }
        let limits = self.patient_limits(state);
        if let Err(expiry) =
            limits.check(Timestamp(row.created_at), Timestamp(row.last_seen_at), now)
        {
            let reason = match expiry {
                SessionExpiry::Idle => EndReason::Idle,
                SessionExpiry::Absolute => EndReason::Absolute,
            };
            if self
                .store()
                .end_patient_session(&row.id, reason.as_str(), now.as_seconds())
                .await?
            {
                self.audit(
                    &format!("patient_account:{}", account.id),
                    AuditAction::PatientSessionExpired,
                    &format!("patient_session:{}", row.id),
                    reason.as_str(),
                    client,
                    json!({}),
                )
                .await?;
            }
            return Err(AppError::SessionEnded(EndReason::message(Some(
                reason.as_str(),
            ))));
        }
        // Activity is written at most every 15 s, as for staff: one write per request would
        // cost more than the idle limit's precision is worth.
        if activity
            && now.as_seconds() - row.last_seen_at >= crate::sessions::TOUCH_EVERY.as_seconds()
        {
            self.store()
                .touch_patient_session(&row.id, now.as_seconds())
                .await?;
        }
        Ok(PatientSession {
            id: row.id.clone(),
            state,
            csrf_token: row.csrf_token.clone(),
            created_at: Timestamp(row.created_at),
            stepped_up_at: row.stepped_up_at.map(Timestamp),
            account,
            client: client.clone(),
            digest,
            row,
        })
    }

    /// Sign out: end this session.
    pub async fn patient_sign_out(&self, session: &PatientSession) -> Result<(), AppError> {
        if self
            .store()
            .end_patient_session(
                &session.id,
                EndReason::SignedOut.as_str(),
                self.now().as_seconds(),
            )
            .await?
        {
            self.audit(
                &session.actor_name(),
                AuditAction::PatientSessionEnded,
                &format!("patient_session:{}", session.id),
                EndReason::SignedOut.as_str(),
                &session.client,
                json!({}),
            )
            .await?;
        }
        Ok(())
    }

    /// Sign out everywhere: end every session of the account, this one included.
    pub async fn patient_sign_out_everywhere(
        &self,
        session: &PatientSession,
    ) -> Result<usize, AppError> {
        session.actor()?;
        let ended = self
            .store()
            .end_patient_sessions_of(
                &session.account.id,
                None,
                EndReason::EndedByOwner.as_str(),
                self.now().as_seconds(),
            )
            .await?;
        self.audit(
            &session.actor_name(),
            AuditAction::PatientSessionEnded,
            &format!("patient_account:{}", session.account.id),
            "signed_out_everywhere",
            &session.client,
            json!({"sessions": ended.len()}),
        )
        .await?;
        Ok(ended.len())
    }

    /// The account's open sessions, for the account page.
    pub async fn patient_sessions(
        &self,
        session: &PatientSession,
    ) -> Result<Vec<PatientSessionSummary>, AppError> {
        session.actor()?;
        Ok(self
            .store()
            .open_patient_sessions(&session.account.id)
            .await?
            .into_iter()
            .filter(|s| s.state == PatientSessionState::SignedIn.as_str())
            .map(|s| PatientSessionSummary {
                current: s.id == session.id,
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// End a pending sign-in after a failed step.
    pub(crate) async fn drop_patient_session(
        &self,
        session: &PatientSession,
        why: &str,
    ) -> Result<(), AppError> {
        self.store()
            .end_patient_session(&session.id, why, self.now().as_seconds())
            .await?;
        Ok(())
    }
}
