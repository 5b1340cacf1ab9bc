//! Server-side sessions: creation, the per-request check, rotation, ending.
//!
//! The per-request check is on every authenticated request, so recent lookups are cached in
//! memory for at most [`CACHE_TTL`] and activity is written back at most every
//! [`TOUCH_EVERY`]. A session ended on this instance leaves the cache at once; one ended on
//! another instance is honoured here within `CACHE_TTL`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

use sealroom_crypto::token;
use sealroom_domain::session::step_up_is_fresh;
use sealroom_domain::{AuditAction, Duration, Role, SessionExpiry, SessionState, Timestamp};
use sealroom_store::{SessionRow, UserRow, UserStatus};
use serde_json::json;

use crate::policy::Principal;
use crate::{App, AppError, Client};

/// How long a cached session lookup is trusted.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// How often activity is written to the database.
pub const TOUCH_EVERY: Duration = Duration::seconds(15);
const CACHE_MAX: usize = 50_000;

/// Why a session ended, as stored and as told to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    SignedOut,
    EndedByOwner,
    EndedByAdministrator,
    Replaced,
    Idle,
    Absolute,
    AccountDisabled,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SignedOut => "signed_out",
            EndReason::EndedByOwner => "ended_by_owner",
            EndReason::EndedByAdministrator => "ended_by_administrator",
            EndReason::Replaced => "replaced",
            EndReason::Idle => "idle",
            EndReason::Absolute => "absolute",
            EndReason::AccountDisabled => "account_disabled",
        }
    }

    pub fn message(reason: Option<&str>) -> &'static str {
        match reason {
            Some("signed_out") => "you signed out",
            Some("ended_by_owner") => "it was ended from your security page",
            Some("ended_by_administrator") => "an administrator ended it",
            Some("replaced") => {
                "you signed in somewhere else, and your account allows one session at a time"
            }
            Some("idle") => "it was inactive for too long",
            Some("absolute") => "it reached its maximum length",
            Some("account_disabled") => "the account was disabled",
            _ => "it is no longer valid",
        }
    }
}

/// The person behind a session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
}

/// A valid session, as handlers see it.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub id: String,
    pub user: SessionUser,
    pub state: SessionState,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub stepped_up_at: Option<Timestamp>,
    digest: String,
}

impl CurrentSession {
    pub fn is_signed_in(&self) -> bool {
        matches!(self.state, SessionState::SignedIn(_))
    }

    pub fn principal(&self) -> Principal {
        Principal::Staff {
            user_id: self.user.id.clone(),
            role: self.user.role,
            scopes: None,
        }
    }

    pub fn actor(&self) -> String {
        format!("user:{}", self.user.id)
    }

    pub fn stepped_up(&self, now: Timestamp) -> bool {
        step_up_is_fresh(self.stepped_up_at, now)
    }
}

struct Cached {
    session: CurrentSession,
    last_seen: i64,
    last_written: i64,
    fetched: Instant,
}

#[derive(Default)]
pub struct SessionCache {
    entries: RwLock<HashMap<String, Cached>>,
}

impl SessionCache {
    fn get(&self, digest: &str) -> Option<(CurrentSession, i64, i64)> {
        let map = self.entries.read().ok()?;
        let c = map.get(digest)?;
        (c.fetched.elapsed() < CACHE_TTL).then(|| (c.session.clone(), c.last_seen, c.last_written))
    }

    fn put(
        &self,
        session: CurrentSession,
        last_seen: i64,
        last_written: i64,
        fetched: Option<Instant>,
    ) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= CACHE_MAX {
                map.clear();
            }
            let fetched = fetched
                .or_else(|| map.get(&session.digest).map(|c| c.fetched))
                .unwrap_or_else(Instant::now);
            map.insert(
                session.digest.clone(),
                Cached {
                    session,
                    last_seen,
                    last_written,
                    fetched,
                },
            );
        }
    }

    fn remove_digest(&self, digest: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(digest);
        }
    }

    pub(crate) fn remove_session(&self, id: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.retain(|_, c| c.session.id != id);
        }
    }

    pub(crate) fn remove_user(&self, user_id: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.retain(|_, c| c.session.user.id != user_id);
        }
    }
}

/// A session handed to the browser: the cookie value is shown here only.
pub struct IssuedSession {
    pub token: String,
    pub session_id: String,
}

pub(crate) fn session_user(u: &UserRow) -> Result<SessionUser, AppError> {
    Ok(SessionUser {
        id: u.id.clone(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        role: u
            .role
            .parse()
            .map_err(|_| AppError::internal("stored role is unknown"))?,
    })
}

impl App {
    /// Start a session in `state` for `user`.
    pub(crate) async fn create_session(
        &self,
        user: &UserRow,
        state: SessionState,
        client: &Client,
    ) -> Result<IssuedSession, AppError> {
        let now = self.now().as_seconds();
        let issued = token::issue("");
        let row = SessionRow {
            id: token::new_id(),
            token_digest: issued.digest,
            user_id: user.id.clone(),
            state: state.as_str().to_owned(),
            csrf_token: token::issue("").secret,
            created_at: now,
            last_seen_at: now,
            stepped_up_at: matches!(state, SessionState::SignedIn(_)).then_some(now),
            client_address: client.address.clone(),
            user_agent: client.user_agent.chars().take(200).collect(),
            ceremony: None,
            ended_at: None,
            end_reason: None,
        };
        self.store().insert_session(&row).await?;
        Ok(IssuedSession {
            token: issued.secret,
            session_id: row.id,
        })
    }

    /// Move a session to a new state under a new token (every sign-in step and step-up).
    pub(crate) async fn rotate_session(
        &self,
        session: &CurrentSession,
        state: SessionState,
        stepped_up: bool,
    ) -> Result<String, AppError> {
        let issued = token::issue("");
        let stepped = stepped_up.then(|| self.now().as_seconds());
        if !self
            .store()
            .rotate_session(
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
        self.session_cache().remove_digest(&session.digest);
        Ok(issued.secret)
    }

    /// Complete a sign-in on `session`: new token, signed-in state, and the one-session rule.
    pub(crate) async fn complete_sign_in(
        &self,
        session: &CurrentSession,
        user: &UserRow,
        method: sealroom_domain::SignInMethod,
        client: &Client,
    ) -> Result<String, AppError> {
        // A recovery code proves less than a second factor: it never counts as a step-up.
        let stepped_up = method != sealroom_domain::SignInMethod::PasswordAndRecoveryCode;
        let token = self
            .rotate_session(session, SessionState::SignedIn(method), stepped_up)
            .await?;
        self.after_sign_in(&session.id, user, method, client)
            .await?;
        Ok(token)
    }

    pub(crate) async fn after_sign_in(
        &self,
        session_id: &str,
        user: &UserRow,
        method: sealroom_domain::SignInMethod,
        client: &Client,
    ) -> Result<(), AppError> {
        let now = self.now().as_seconds();
        if self.settings().one_session_per_account || user.one_session_only != 0 {
            let ended = self
                .store()
                .end_sessions_of_user(
                    &user.id,
                    Some(session_id),
                    EndReason::Replaced.as_str(),
                    now,
                )
                .await?;
            for id in &ended {
                self.session_cache().remove_session(id);
                self.audit(
                    &format!("user:{}", user.id),
                    AuditAction::SessionReplaced,
                    &format!("session:{id}"),
                    "ended",
                    client,
                    json!({}),
                )
                .await?;
            }
        }
        self.audit(
            &format!("user:{}", user.id),
            AuditAction::SignInSucceeded,
            &format!("user:{}", user.id),
            "success",
            client,
            json!({"method": method.as_str(), "session": session_id}),
        )
        .await
    }

    /// The per-request check: find the session for a cookie token and decide whether it is
    /// still valid now, counting the request as the person's activity. Ended and expired
    /// sessions say why.
    pub async fn check_session(
        &self,
        token_secret: &str,
        client: &Client,
    ) -> Result<CurrentSession, AppError> {
        self.check_session_with(token_secret, client, true).await
    }

    /// The same check for what a page does on its own (the live message stream and its
    /// reconnections): valid or not exactly as [`App::check_session`] says, but not counted as
    /// activity, so an unattended screen still reaches its idle limit.
    pub async fn check_session_in_background(
        &self,
        token_secret: &str,
        client: &Client,
    ) -> Result<CurrentSession, AppError> {
        self.check_session_with(token_secret, client, false).await
    }

    async fn check_session_with(
        &self,
        token_secret: &str,
        client: &Client,
        activity: bool,
    ) -> Result<CurrentSession, AppError> {
        let now = self.now().as_seconds();
        let digest = token::digest(token_secret);
        let cache = self.session_cache();
        let (session, last_seen, last_written, fresh_fetch) = match cache.get(&digest) {
            Some((s, seen, written)) => (s, seen, written, None),
            None => {
                let row = self
                    .store()
                    .session_by_digest(&digest)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                if row.ended_at.is_some() {
                    return Err(AppError::SessionEnded(EndReason::message(
                        row.end_reason.as_deref(),
                    )));
                }
                let user = self
                    .store()
                    .user_by_id(&row.user_id)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                let state = SessionState::parse(&row.state)
                    .ok_or_else(|| AppError::internal("stored session state is unknown"))?;
                let status = UserStatus::parse(&user.status);
                let allowed = match state {
                    SessionState::Enrolling => status == Some(UserStatus::Enrolling),
                    _ => status == Some(UserStatus::Active),
                };
                if !allowed {
                    self.store()
                        .end_session(&row.id, EndReason::AccountDisabled.as_str(), now)
                        .await?;
                    return Err(AppError::SessionEnded(EndReason::message(Some(
                        "account_disabled",
                    ))));
                }
                let s = CurrentSession {
                    id: row.id,
                    user: session_user(&user)?,
                    state,
                    csrf_token: row.csrf_token,
                    created_at: Timestamp(row.created_at),
                    stepped_up_at: row.stepped_up_at.map(Timestamp),
                    digest: digest.clone(),
                };
                (s, row.last_seen_at, row.last_seen_at, Some(Instant::now()))
            }
        };
        let limits = match session.state {
            SessionState::SignedIn(_) => self.settings().limits_for(session.user.role),
            _ => SessionState::PENDING_LIMITS,
        };
        if let Err(expiry) = limits.check(session.created_at, Timestamp(last_seen), Timestamp(now))
        {
            let reason = match expiry {
                SessionExpiry::Idle => EndReason::Idle,
                SessionExpiry::Absolute => EndReason::Absolute,
            };
            if self
                .store()
                .end_session(&session.id, reason.as_str(), now)
                .await?
            {
                self.audit(
                    &session.actor(),
                    AuditAction::SessionExpired,
                    &format!("session:{}", session.id),
                    reason.as_str(),
                    client,
                    json!({}),
                )
                .await?;
            }
            cache.remove_digest(&digest);
            return Err(AppError::SessionEnded(EndReason::message(Some(
                reason.as_str(),
            ))));
        }
        let seen = if activity { now } else { last_seen };
        let mut written = last_written;
        if activity && now - last_written >= TOUCH_EVERY.as_seconds() {
            self.store().touch_session(&session.id, now).await?;
            written = now;
        }
        // Within one second nothing the cache holds changes: skip the write lock.
        if fresh_fetch.is_some() || seen != last_seen || written != last_written {
            cache.put(session.clone(), seen, written, fresh_fetch);
        }
        Ok(session)
    }

    /// Sessions of the signed-in person (for "my security").
    pub async fn my_sessions(&self, me: &CurrentSession) -> Result<Vec<SessionRow>, AppError> {
        Ok(self.store().open_sessions_for(&me.user.id).await?)
    }

    /// Sign out: end the current session.
    pub async fn sign_out(&self, me: &CurrentSession, client: &Client) -> Result<(), AppError> {
        self.end_session_with(me, &me.id, EndReason::SignedOut, client)
            .await
    }

    /// End one of my own sessions.
    pub async fn end_my_session(
        &self,
        me: &CurrentSession,
        session_id: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        let mine = self
            .store()
            .open_sessions_for(&me.user.id)
            .await?
            .into_iter()
            .any(|s| s.id == session_id);
        if !mine {
            return Err(AppError::NotFound);
        }
        self.end_session_with(me, session_id, EndReason::EndedByOwner, client)
            .await
    }

    /// End all my sessions except this one; returns how many ended.
    pub async fn end_my_other_sessions(
        &self,
        me: &CurrentSession,
        client: &Client,
    ) -> Result<usize, AppError> {
        let ended = self
            .store()
            .end_sessions_of_user(
                &me.user.id,
                Some(&me.id),
                EndReason::EndedByOwner.as_str(),
                self.now().as_seconds(),
            )
            .await?;
        for id in &ended {
            self.session_cache().remove_session(id);
            self.audit(
                &me.actor(),
                AuditAction::SessionEnded,
                &format!("session:{id}"),
                EndReason::EndedByOwner.as_str(),
                client,
                json!({}),
            )
            .await?;
        }
        Ok(ended.len())
    }

    async fn end_session_with(
        &self,
        me: &CurrentSession,
        session_id: &str,
        reason: EndReason,
        client: &Client,
    ) -> Result<(), AppError> {
        if self
            .store()
            .end_session(session_id, reason.as_str(), self.now().as_seconds())
            .await?
        {
            self.audit(
                &me.actor(),
                AuditAction::SessionEnded,
                &format!("session:{session_id}"),
                reason.as_str(),
                client,
                json!({}),
            )
            .await?;
        }
        self.session_cache().remove_session(session_id);
        Ok(())
    }

    /// Abandon a pending (not yet signed-in) session after a failed step.
    pub(crate) async fn drop_pending_session(
        &self,
        session: &CurrentSession,
    ) -> Result<(), AppError> {
        self.store()
            .end_session(&session.id, "abandoned", self.now().as_seconds())
            .await?;
        self.session_cache().remove_session(&session.id);
        Ok(())
    }
}
