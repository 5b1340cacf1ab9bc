//! Opaque bearer tokens: session cookies, set-up and enrolment links, API tokens, CSRF tokens.
//!
//! A token is 256 random bits, shown once as URL-safe base64 (with a short prefix naming its
//! kind for API tokens). Only its SHA-256 digest is stored, so a database leak yields no
//! usable token; lookup by digest needs no constant-time comparison of the secret itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly drawn token: the secret to hand out once, and the digest to store.
pub struct IssuedToken {
    pub secret: String,
    pub digest: String,
}

/// Draw a 256-bit token with an optional visible prefix (e.g. `srk_` for API tokens).
pub fn issue(prefix: &str) -> IssuedToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = digest(&secret);
    IssuedToken { secret, digest }
}

/// The stored form of a token.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random identifier for rows (not a secret): 128 bits, hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_stored_as_digest() {
        let a = issue("srk_");
        let b = issue("srk_");
        assert!(a.secret.starts_with("srk_"));
        assert_eq!(a.secret.len(), 4 + 43);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.digest, digest(&a.secret));
        assert!(!a.digest.contains(&a.secret));
        assert_eq!(new_id().len(), 32);
    }
}
