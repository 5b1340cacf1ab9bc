//! The patient space: accounts, how patients sign in, and what they see.
//!
//! - [`activation`]: an access slip opens a per-test account; the patient then sets up how
//!   they will sign in (a password and a second factor they choose), confirmed by a first code.
//! - [`sessions`]: patient sessions (idle and absolute limits, sign out everywhere), apart from
//!   staff sessions: a patient account is never a staff user.
//! - [`sign_in`]: password, then the remembered second factor; re-authentication before the
//!   method changes.
//! - [`records`]: released documents and the access history, through the policy decision
//!   point and the audit log like every other read of patient data.
//!
//! The factor matrix (which proofs count as which factor) is in `docs/patient-space.md`.

pub mod activation;
pub mod passkey;
pub mod proxies;
pub mod records;
pub mod recovery;
pub mod sessions;
pub mod sign_in;

use rand::Rng;
use serde::{Deserialize, Serialize};

use sealroom_crypto::token::digest;
use sealroom_domain::Duration;

pub use sessions::{PatientSession, PatientSessionState};

/// Why a patient space step was refused: each has its own message in every language the
/// pages speak, so the pages match on the variant, never on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatientProblem {
    #[error(
        "the patient ID, test ID or activation code is not right; check the slip and try again \
         (after 5 wrong codes the slip stops working)"
    )]
    SlipWrong,
    #[error(
        "this slip can no longer be used; ask at the desk for a new one (bring an identity \
         document)"
    )]
    SlipNoLonger,
    #[error("the code is not right ({tries_left} of 5 tries left)")]
    CodeWrong { tries_left: i64 },
    #[error(
        "this code no longer works (it expired after 10 minutes, or was mistyped 5 times); ask \
         for a new code"
    )]
    CodeNoLonger,
    #[error(
        "a code was sent less than 30 seconds ago, or this sign-in has sent 5 already; wait, or \
         start again"
    )]
    CodeLimit,
    #[error("nothing is waiting for a code; start again")]
    NothingPending,
    #[error("that address or number is not one verified at the desk; choose another")]
    ContactNotVerified,
    #[error("choose how you will confirm it is you")]
    ChooseFactor,
    #[error("choose where the codes should go")]
    ChooseContact,
    #[error("the code from your app is not right; check the app and try the current code")]
    AppCodeWrong,
    #[error("this code was already used; wait for the next one")]
    AppCodeUsed,
    #[error("this patient space is closed")]
    SpaceClosed,
    #[error("too many attempts: activation is paused for this test; wait a few minutes")]
    Paused,
    #[error("too many wrong codes for this sign-in; sign in again")]
    TooManyTries,
    #[error("this step is confirmed with your passkey, not a code")]
    UsePasskey,
    #[error("the passkey could not be checked; try again, or sign in again")]
    PasskeyFailed,
    #[error("this space cannot be recovered online (it needs a second contact verified at the desk); ask at the desk for a new slip")]
    RecoveryAtDesk,
    #[error("a space that signs in with a passkey is not recovered online; ask at the desk for a new slip")]
    RecoveryPasskeyAtDesk,
}

impl From<PatientProblem> for crate::AppError {
    fn from(p: PatientProblem) -> Self {
        crate::AppError::PatientSpace(p)
    }
}

/// How a department gives patients their space (`[patient_space] account_models`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountModel {
    /// One space per test, opened with the slip handed over for it (laboratories).
    PerTest,
    /// One lasting space for all the patient's released documents.
    PerPatient,
    /// One space per stay: that admission's documents only, nothing added after discharge,
    /// closed when the stay's retention ends.
    PerVisit,
}

impl AccountModel {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountModel::PerTest => "per_test",
            AccountModel::PerPatient => "per_patient",
            AccountModel::PerVisit => "per_visit",
        }
    }

    pub fn parse(s: &str) -> Option<AccountModel> {
        [
            AccountModel::PerTest,
            AccountModel::PerPatient,
            AccountModel::PerVisit,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A second factor a patient may choose; the operator can switch each off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactor {
    /// An authenticator app (TOTP, RFC 6238).
    Totp,
    /// A code by SMS to a verified mobile number.
    Sms,
    /// A code by e-mail to a verified address.
    Email,
    /// A passkey (WebAuthn, user verification required) on the patient's device.
    Passkey,
}

impl SecondFactor {
    pub const ALL: [SecondFactor; 4] = [
        SecondFactor::Totp,
        SecondFactor::Sms,
        SecondFactor::Email,
        SecondFactor::Passkey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactor::Totp => "totp",
            SecondFactor::Sms => "sms",
            SecondFactor::Email => "email",
            SecondFactor::Passkey => "passkey",
        }
    }

    pub fn parse(s: &str) -> Option<SecondFactor> {
        SecondFactor::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The contact kind its codes go to, if any.
    pub(crate) fn contact_kind(self) -> Option<&'static str> {
        match self {
            SecondFactor::Totp | SecondFactor::Passkey => None,
            SecondFactor::Sms => Some("phone"),
            SecondFactor::Email => Some("email"),
        }
    }
}

/// The operator's settings for the patient space.
#[derive(Debug, Clone)]
pub struct PatientSpaceSettings {
    /// A signed-in patient session ends after this long without a request.
    pub idle: Duration,
    /// And this long after sign-in, whatever the activity.
    pub absolute: Duration,
    /// The second factors patients may choose.
    pub factors: Vec<SecondFactor>,
    /// Whether patients may end their proxies' access themselves.
    pub patients_may_revoke_proxies: bool,
    /// Department name → the space it gives patients; unnamed laboratories give one per
    /// test, other departments one per patient.
    pub account_models: std::collections::BTreeMap<String, AccountModel>,
    /// How often the periodic job looks for scheduled releases to tell patients about.
    pub notify_every: std::time::Duration,
}

impl Default for PatientSpaceSettings {
    fn default() -> Self {
        PatientSpaceSettings {
            idle: Duration::minutes(10),
            absolute: Duration::hours(12),
            factors: SecondFactor::ALL.to_vec(),
            patients_may_revoke_proxies: true,
            account_models: std::collections::BTreeMap::new(),
            notify_every: std::time::Duration::from_secs(60),
        }
    }
}

/// How long a sign-in code works.
pub const CODE_MINUTES: i64 = 10;
/// Wrong entries after which a code stops working.
pub const CODE_TRIES: i64 = 5;
/// Codes one sign-in may send, and the wait between two.
pub const CODES_PER_SIGN_IN: i64 = 5;
pub const CODE_RESEND_SECONDS: i64 = 30;

/// A new account waiting for activation, linked to nothing yet (callers set the test, stay,
/// proxy access or reference).
pub(crate) fn new_account(
    patient_id: &str,
    model: &str,
    now: i64,
) -> sealroom_store::PatientAccountRow {
    sealroom_store::PatientAccountRow {
        id: sealroom_crypto::token::new_id(),
        patient_id: patient_id.to_owned(),
        model: model.to_owned(),
        test_id: None,
        episode_id: None,
        status: "activating".into(),
        password_hash: None,
        second_factor: None,
        factor_contact_id: None,
        totp_sealed: None,
        totp_last_step: None,
        created_at: now,
        activated_at: None,
        closed_at: None,
        proxy_id: None,
        reference: None,
        passkey_json: None,
    }
}

fn new_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// A code's digest, bound to the sign-in (session) it was sent for.
fn code_digest(session_id: &str, code: &str) -> String {
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    digest(&format!("patient-sign-in-code:{session_id}:{typed}"))
}

/// The owner string sealed data of an account is bound to.
fn account_owner(account_id: &str, what: &str) -> String {
    format!("patient_account:{account_id}:{what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_bound_to_their_sign_in() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_ne!(code_digest("s1", "123456"), code_digest("s2", "123456"));
        assert_eq!(code_digest("s1", "123 456"), code_digest("s1", "123456"));
        for f in SecondFactor::ALL {
            assert_eq!(SecondFactor::parse(f.as_str()), Some(f));
        }
        assert_eq!(SecondFactor::parse("password"), None);
    }
}
