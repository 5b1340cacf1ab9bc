//! Sign-in throttling: reads and updates the three failure counters (see
//! `sealroom_domain::throttle` and `docs/sign-in-throttling.md`).

use sealroom_domain::throttle::{self, FailureCount, ThrottleRule};
use sealroom_domain::{AuditAction, Timestamp};
use sealroom_store::UserRow;
use serde_json::json;

use crate::{App, AppError, Client};

/// The counters one attempt touches. The account key is derived from the e-mail typed, so an
/// unknown address is throttled exactly like a known one.
pub(crate) struct ThrottleKeys {
    account: String,
    address: String,
    pair: String,
}

impl ThrottleKeys {
    pub(crate) fn new(email_typed: &str, client: &Client) -> Self {
        let account_ref = sealroom_crypto::token::digest(&email_typed.trim().to_lowercase());
        ThrottleKeys {
            account: format!("account:{account_ref}"),
            address: format!("address:{}", client.address),
            pair: format!("pair:{account_ref}:{}", client.address),
        }
    }

    pub(crate) fn account_key(&self) -> &str {
        &self.account
    }
}

fn count(row: Option<sealroom_store::FailureRow>) -> FailureCount {
    row.map(|r| FailureCount {
        failures: r.failures.max(0) as u32,
        last_failure: Some(Timestamp(r.last_failure)),
    })
    .unwrap_or_default()
}

impl App {
    /// Whether an attempt now must be refused without checking the credential.
    pub(crate) async fn sign_in_must_wait(
        &self,
        keys: &ThrottleKeys,
        user: Option<&UserRow>,
        client: &Client,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let store = self.store();
        let known = match user {
            Some(u) => store.is_known_address(&u.id, &client.address).await?,
            None => false,
        };
        let checks: [(&str, ThrottleRule, bool); 3] = [
            (&keys.address, throttle::ADDRESS, true),
            (&keys.pair, throttle::ACCOUNT_AND_ADDRESS, true),
            // The account-wide counter is not applied to addresses the person already signed in
            // from: an attacker elsewhere cannot keep the real person out.
            (&keys.account, throttle::ACCOUNT, !known),
        ];
        for (key, rule, applies) in checks {
            if applies && rule.must_wait(count(store.failures(key).await?), now) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Count a failed attempt; lock password sign-in when the account reaches the cap.
    pub(crate) async fn sign_in_failed(
        &self,
        keys: &ThrottleKeys,
        user: Option<&UserRow>,
        client: &Client,
    ) -> Result<(), AppError> {
        let now = self.now().as_seconds();
        let store = self.store();
        store.record_failure(&keys.address, now).await?;
        store.record_failure(&keys.pair, now).await?;
        let account_failures = store.record_failure(&keys.account, now).await?;
        if let Some(u) = user {
            if account_failures >= i64::from(throttle::PASSWORD_LOCKOUT_AFTER)
                && u.password_locked == 0
            {
                store.set_password_locked(&u.id, true, now).await?;
                self.session_cache().clear();
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
        }
        Ok(())
    }

    /// A complete sign-in: clear the account's counters and remember the address.
    pub(crate) async fn sign_in_succeeded(
        &self,
        keys: &ThrottleKeys,
        user: &UserRow,
        client: &Client,
    ) -> Result<(), AppError> {
        let store = self.store();
        store.clear_failures(&keys.account).await?;
        store.clear_failures(&keys.pair).await?;
        store
            .remember_address(&user.id, &client.address, self.now().as_seconds())
            .await?;
        Ok(())
    }
}
