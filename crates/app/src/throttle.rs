//! Sign-in throttling: counts attempts on the three counters before a credential is checked
//! (see `sealroom_domain::throttle` and `docs/sign-in-throttling.md`).

use std::net::IpAddr;

use sealroom_domain::throttle::{self, ThrottleRule};
use sealroom_domain::AuditAction;
use sealroom_store::{DelaySchedule, UserRow};
use serde_json::json;

use crate::{App, AppError, Client};

/// The counters one attempt touches. The account key is derived from the e-mail typed, so an
/// unknown address is throttled exactly like a known one. IPv6 clients are counted per /64,
/// the block one subscriber usually holds.
pub(crate) struct ThrottleKeys {
    account: String,
    address: String,
    pair: String,
    /// Whether this attempt is from an address the person signed in from before.
    known: bool,
    /// Which counters this attempt was counted on (to take back on success).
    counted_address: bool,
}

fn address_block(address: &str) -> String {
    match address.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(ip) => ip.to_string(),
        Err(_) => address.to_owned(),
    }
}

fn schedule(rule: ThrottleRule) -> DelaySchedule {
    DelaySchedule {
        free: rule.free_failures,
        steps: rule.steps(),
        max: rule.max_delay.as_seconds(),
    }
}

impl ThrottleKeys {
    pub(crate) fn new(email_typed: &str, client: &Client) -> Self {
        let account_ref = sealroom_crypto::token::digest(&email_typed.trim().to_lowercase());
        let block = address_block(&client.address);
        ThrottleKeys {
            account: format!("account:{account_ref}"),
            address: format!("address:{block}"),
            pair: format!("pair:{account_ref}:{block}"),
            known: false,
            counted_address: false,
        }
    }

    pub(crate) fn account_key(&self) -> &str {
        &self.account
    }
}

impl App {
    /// Count an attempt before checking its credential. Returns false when a counter's delay
    /// has not passed: the attempt must be refused without checking anything.
    pub(crate) async fn begin_attempt(
        &self,
        keys: &mut ThrottleKeys,
        user: Option<&UserRow>,
        client: &Client,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let store = self.store();
        keys.known = match user {
            Some(u) => store.is_known_address(&u.id, &client.address).await?,
            None => false,
        };
        let quiet = now.minus(throttle::QUIET_RESET).as_seconds();
        let address_quiet = now.minus(throttle::ADDRESS_QUIET_RESET).as_seconds();
        let t = now.as_seconds();
        if store
            .count_attempt(
                &keys.address,
                t,
                address_quiet,
                &schedule(throttle::ADDRESS),
                true,
            )
            .await?
            .is_none()
        {
            return Ok(false);
        }
        keys.counted_address = true;
        if store
            .count_attempt(
                &keys.pair,
                t,
                quiet,
                &schedule(throttle::ACCOUNT_AND_ADDRESS),
                true,
            )
            .await?
            .is_none()
        {
            return Ok(false);
        }
        // The account-wide counter is not applied to addresses the person already signed in
        // from: an attacker elsewhere cannot keep the real person out. It still counts their
        // failures (see `attempt_failed`).
        if !keys.known
            && store
                .count_attempt(&keys.account, t, quiet, &schedule(throttle::ACCOUNT), true)
                .await?
                .is_none()
        {
            return Ok(false);
        }
        Ok(true)
    }

    /// The attempt failed: make sure the account counter has it, and lock password sign-in
    /// when the account reaches the cap.
    pub(crate) async fn attempt_failed(
        &self,
        keys: &ThrottleKeys,
        user: Option<&UserRow>,
        client: &Client,
    ) -> Result<(), AppError> {
        let now = self.now();
        let store = self.store();
        if keys.known {
            let quiet = now.minus(throttle::QUIET_RESET).as_seconds();
            store
                .count_attempt(
                    &keys.account,
                    now.as_seconds(),
                    quiet,
                    &schedule(throttle::ACCOUNT),
                    false,
                )
                .await?;
        }
        let Some(u) = user else { return Ok(()) };
        let account_failures = store
            .failures(&keys.account)
            .await?
            .map_or(0, |r| r.failures);
        if account_failures >= i64::from(throttle::PASSWORD_LOCKOUT_AFTER) && u.password_locked == 0
        {
            store
                .set_password_locked(&u.id, true, now.as_seconds())
                .await?;
            self.session_cache().remove_user(&u.id);
            self.audit(
                "system",
                AuditAction::AccountLocked,
                &format!("user:{}", u.id),
                "locked",
                client,
                json!({"consecutive_failures": account_failures}),
            )
            .await?;
        }
        Ok(())
    }

    /// A failure of a later step (a wrong second factor, after the password was let in):
    /// counted on the account and pair counters without refusing anything now, so that the
    /// next password attempt waits.
    pub(crate) async fn count_failure(&self, keys: &ThrottleKeys) -> Result<(), AppError> {
        let now = self.now();
        let quiet = now.minus(throttle::QUIET_RESET).as_seconds();
        let store = self.store();
        let t = now.as_seconds();
        store
            .count_attempt(&keys.account, t, quiet, &schedule(throttle::ACCOUNT), false)
            .await?;
        store
            .count_attempt(
                &keys.pair,
                t,
                quiet,
                &schedule(throttle::ACCOUNT_AND_ADDRESS),
                false,
            )
            .await?;
        Ok(())
    }

    /// Take back the address's count of an attempt that got past its first step (the account
    /// counters stay until the last step succeeds).
    pub(crate) async fn release_address(&self, keys: &ThrottleKeys) -> Result<(), AppError> {
        if keys.counted_address {
            self.store().uncount_attempt(&keys.address).await?;
        }
        Ok(())
    }

    /// A successful attempt: clear the account's and the pair's counters and take back the
    /// address's count.
    pub(crate) async fn clear_attempts(&self, keys: &ThrottleKeys) -> Result<(), AppError> {
        let store = self.store();
        store.clear_failures(&keys.account).await?;
        store.clear_failures(&keys.pair).await?;
        if keys.counted_address {
            store.uncount_attempt(&keys.address).await?;
        }
        Ok(())
    }

    /// A complete sign-in: clear the account's counters, take back the address's count, and
    /// remember the address.
    pub(crate) async fn attempt_succeeded(
        &self,
        keys: &ThrottleKeys,
        user: &UserRow,
        client: &Client,
    ) -> Result<(), AppError> {
        self.clear_attempts(keys).await?;
        self.store()
            .remember_address(&user.id, &client.address, self.now().as_seconds())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_canonical_and_ipv6_counted_per_64() {
        assert_eq!(address_block("::ffff:10.0.0.5"), "10.0.0.5");
        assert_eq!(
            address_block("2001:db8:1:2:aaaa::1"),
            address_block("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(
            address_block("2001:db8:1:2::1"),
            address_block("2001:db8:1:3::1")
        );
        assert_eq!(address_block("192.0.2.7"), "192.0.2.7");
    }
}
