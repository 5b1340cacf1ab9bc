//! Which factor sets make a staff sign-in.
//!
//! A session is only ever marked signed in with a [`SignInMethod`], and that enum has exactly the
//! combinations the security model allows. "Password alone" has no variant, so it cannot be
//! constructed anywhere in the server.

use serde::{Deserialize, Serialize};

/// How a staff member proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    /// Password, then a TOTP code.
    PasswordAndTotp,
    /// Password, then a passkey.
    PasswordAndPasskey,
    /// A passkey with user verification: possession plus PIN or biometric, phishing resistant.
    Passkey,
    /// Password, then a single-use recovery code; the person is then asked to enrol a new factor.
    PasswordAndRecoveryCode,
}

impl SignInMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            SignInMethod::PasswordAndTotp => "password_and_totp",
            SignInMethod::PasswordAndPasskey => "password_and_passkey",
            SignInMethod::Passkey => "passkey",
            SignInMethod::PasswordAndRecoveryCode => "password_and_recovery_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SignInMethod::PasswordAndTotp,
            SignInMethod::PasswordAndPasskey,
            SignInMethod::Passkey,
            SignInMethod::PasswordAndRecoveryCode,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}
