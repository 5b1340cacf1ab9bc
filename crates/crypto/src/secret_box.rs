//! Authenticated encryption of small secrets at rest with XChaCha20-Poly1305.
//!
//! The 256-bit master key lives outside the database (a key file or environment secret).
//! Each sealed value carries a random 192-bit nonce and is bound by associated data to what it
//! belongs to (for example `totp:<user id>`), so a ciphertext copied to another row fails to open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Layout version byte, so the format can change without guessing.
const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretBoxError {
    #[error("the master key must be exactly 32 bytes")]
    BadKey,
    #[error("a sealed secret could not be opened: wrong master key, wrong owner or tampered data")]
    Open,
}

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(master_key: &[u8]) -> Result<Self, SecretBoxError> {
        let cipher =
            XChaCha20Poly1305::new_from_slice(master_key).map_err(|_| SecretBoxError::BadKey)?;
        Ok(Self { cipher })
    }

    /// A fresh random master key.
    pub fn generate_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    }

    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad(owner);
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], owner: &str) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.len() < 1 + 24 + 16 || sealed[0] != VERSION {
            return Err(SecretBoxError::Open);
        }
        let (nonce, ct) = sealed[1..].split_at(24);
        let aad = aad(owner);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| SecretBoxError::Open)
    }
}

fn aad(owner: &str) -> Vec<u8> {
    let mut v = b"sealroom-secret-v1:".to_vec();
    v.extend_from_slice(owner.as_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_for_its_owner() {
        let b = SecretBox::new(&SecretBox::generate_key()).unwrap();
        let sealed = b.seal(b"seed", "totp:u1");
        assert!(!sealed.windows(4).any(|w| w == b"seed"));
        assert_eq!(b.open(&sealed, "totp:u1").unwrap(), b"seed");
        assert_eq!(b.open(&sealed, "totp:u2"), Err(SecretBoxError::Open));
        let other = SecretBox::new(&SecretBox::generate_key()).unwrap();
        assert_eq!(other.open(&sealed, "totp:u1"), Err(SecretBoxError::Open));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(b.open(&tampered, "totp:u1"), Err(SecretBoxError::Open));
    }
}
