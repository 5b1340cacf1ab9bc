//! Session lifetime rules: idle and absolute limits, step-up freshness.

use crate::credential::SignInMethod;
use crate::time::{Duration, Timestamp};

/// How long a session may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends the session when no request was made for this long.
    pub idle: Duration,
    /// Ends the session this long after sign-in, whatever the activity.
    pub absolute: Duration,
}

/// How long a step-up re-authentication authorises sensitive actions.
pub const STEP_UP_VALIDITY: Duration = Duration::minutes(5);

/// What a session is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Came through an enrolment link; may only set a password and enrol a factor.
    Enrolling,
    /// Password accepted; waiting for the second factor.
    AwaitingSecondFactor,
    /// Fully signed in with an allowed factor set.
    SignedIn(SignInMethod),
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Enrolling => "enrolling",
            SessionState::AwaitingSecondFactor => "awaiting_second_factor",
            SessionState::SignedIn(m) => m.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enrolling" => Some(SessionState::Enrolling),
            "awaiting_second_factor" => Some(SessionState::AwaitingSecondFactor),
            other => SignInMethod::parse(other).map(SessionState::SignedIn),
        }
    }

    /// Limits for a session that is not yet signed in: short, whatever the role.
    pub const PENDING_LIMITS: SessionLimits = SessionLimits {
        idle: Duration::minutes(10),
        absolute: Duration::minutes(30),
    };
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionExpiry {
    Idle,
    Absolute,
}

impl SessionLimits {
    /// Whether a session created at `created` and last used at `last_seen` is still valid at `now`.
    pub fn check(
        &self,
        created: Timestamp,
        last_seen: Timestamp,
        now: Timestamp,
    ) -> Result<(), SessionExpiry> {
        if now.since(created) >= self.absolute {
            return Err(SessionExpiry::Absolute);
        }
        if now.since(last_seen) >= self.idle {
            return Err(SessionExpiry::Idle);
        }
        Ok(())
    }
}

/// Whether a step-up performed at `stepped_up_at` still authorises a sensitive action at `now`.
pub fn step_up_is_fresh(stepped_up_at: Option<Timestamp>, now: Timestamp) -> bool {
    stepped_up_at.is_some_and(|t| now >= t && now.since(t) < STEP_UP_VALIDITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SessionLimits = SessionLimits {
        idle: Duration::minutes(15),
        absolute: Duration::hours(12),
    };

    #[test]
    fn idle_limit_ends_a_quiet_session() {
        let t0 = Timestamp(1_000_000);
        assert_eq!(
            LIMITS.check(t0, t0, t0.plus(Duration::seconds(899))),
            Ok(())
        );
        assert_eq!(
            LIMITS.check(t0, t0, t0.plus(Duration::minutes(15))),
            Err(SessionExpiry::Idle)
        );
    }

    #[test]
    fn absolute_limit_ends_even_a_busy_session() {
        let t0 = Timestamp(1_000_000);
        let now = t0.plus(Duration::hours(12));
        let just_used = now.minus(Duration::seconds(1));
        assert_eq!(
            LIMITS.check(t0, just_used, now),
            Err(SessionExpiry::Absolute)
        );
        assert_eq!(
            LIMITS.check(t0, just_used, now.minus(Duration::seconds(1))),
            Ok(())
        );
    }

    #[test]
    fn step_up_lasts_five_minutes() {
        let t = Timestamp(5000);
        assert!(step_up_is_fresh(Some(t), t));
        assert!(step_up_is_fresh(Some(t), t.plus(Duration::seconds(299))));
        assert!(!step_up_is_fresh(Some(t), t.plus(Duration::seconds(300))));
        assert!(!step_up_is_fresh(None, t));
    }

    #[test]
    fn states_round_trip() {
        for s in [
            SessionState::Enrolling,
            SessionState::AwaitingSecondFactor,
            SessionState::SignedIn(SignInMethod::Passkey),
            SessionState::SignedIn(SignInMethod::PasswordAndTotp),
        ] {
            assert_eq!(SessionState::parse(s.as_str()), Some(s));
        }
    }
}
