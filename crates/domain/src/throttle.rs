//! Growing delays after failed sign-ins. The design and its reasoning are in
//! `docs/sign-in-throttling.md`; this module is the arithmetic.
//!
//! Three counters are kept: per account (keyed by the e-mail typed, so unknown users behave like
//! known ones), per client address, and per account-and-address. Each counts consecutive
//! failures; a success clears the account and pair counters. After a free allowance, each new
//! failure pushes the next allowed attempt further away, doubling up to a cap.

use crate::time::Duration;

/// A counter's allowance and growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    /// Failures allowed before any delay.
    pub free_failures: u32,
    /// Delay after the first counted failure; doubles with each further failure.
    pub first_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

/// Per account, from addresses that never signed in to it successfully.
pub const ACCOUNT: ThrottleRule = ThrottleRule {
    free_failures: 5,
    first_delay: Duration::seconds(2),
    max_delay: Duration::minutes(15),
};

/// Per account and address (applies to every address, including the person's own).
pub const ACCOUNT_AND_ADDRESS: ThrottleRule = ThrottleRule {
    free_failures: 5,
    first_delay: Duration::seconds(2),
    max_delay: Duration::minutes(15),
};

/// Per client address, across all accounts (password spraying).
pub const ADDRESS: ThrottleRule = ThrottleRule {
    free_failures: 20,
    first_delay: Duration::seconds(1),
    max_delay: Duration::minutes(15),
};

/// A counter that saw no failure for this long starts again from zero (so one address's
/// occasional typos never add up to a lock-out of everyone behind it).
pub const QUIET_RESET: Duration = Duration::hours(24);
/// The same for the per-address counter, which many people can share behind one NAT.
pub const ADDRESS_QUIET_RESET: Duration = Duration::hours(1);

/// Consecutive failures on one account after which password sign-in is locked until an
/// administrator unlocks it or the person signs in with a passkey. Well below NIST's 100.
pub const PASSWORD_LOCKOUT_AFTER: u32 = 50;

impl ThrottleRule {
    /// The delay imposed after `failures` consecutive failures.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures <= self.free_failures {
            return Duration(0);
        }
        let doublings = (failures - self.free_failures - 1).min(30);
        let delay = self
            .first_delay
            .as_seconds()
            .saturating_mul(1_i64 << doublings);
        Duration(delay.min(self.max_delay.as_seconds()))
    }

    /// The delays as steps: `(n, delay after n failures)` from the first delayed failure up to
    /// (not including) the first that reaches the cap.
    pub fn steps(&self) -> Vec<(u32, i64)> {
        let mut steps = Vec::new();
        let mut n = self.free_failures + 1;
        loop {
            let d = self.delay_after(n);
            if d >= self.max_delay || n > 64 {
                return steps;
            }
            steps.push((n, d.as_seconds()));
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_allowance_and_double_to_the_cap() {
        assert_eq!(ACCOUNT.delay_after(5), Duration(0));
        assert_eq!(ACCOUNT.delay_after(6), Duration(2));
        assert_eq!(ACCOUNT.delay_after(7), Duration(4));
        assert_eq!(ACCOUNT.delay_after(15), Duration(900));
        assert_eq!(ACCOUNT.delay_after(1000), Duration(900));
    }

    #[test]
    fn steps_list_the_delays_below_the_cap() {
        assert_eq!(
            ACCOUNT.steps(),
            vec![
                (6, 2),
                (7, 4),
                (8, 8),
                (9, 16),
                (10, 32),
                (11, 64),
                (12, 128),
                (13, 256),
                (14, 512)
            ]
        );
        assert_eq!(ACCOUNT.delay_after(15), ACCOUNT.max_delay);
    }

    #[test]
    fn reaching_the_lockout_takes_hours_not_seconds() {
        use crate::time::Timestamp;
        // An attacker who waits exactly as long as allowed between guesses.
        let mut now = Timestamp(0);
        for failures in 1..PASSWORD_LOCKOUT_AFTER {
            now = now.plus(ACCOUNT.delay_after(failures));
        }
        assert!(
            now.as_seconds() > 8 * 3600,
            "lockout reached after only {}s",
            now.as_seconds()
        );
    }
}
