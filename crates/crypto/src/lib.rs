//! Sealroom's cryptography, behind small, hard-to-misuse types.
//!
//! - [`password_hash`]: argon2id hashing of staff passwords (callers run it on a bounded
//!   blocking pool; it is CPU-heavy by design).
//! - [`envelope`]: documents' envelope encryption: data keys wrapped by patient keys wrapped by
//!   the master key, and content as a STREAM of 64 KiB AES-256-GCM segments bound to the
//!   document and version.
//! - [`signing`]: staff Ed25519 signatures on documents, private halves under the master key.
//! - [`secret_box`]: authenticated encryption of small secrets at rest (TOTP seeds, WebAuthn
//!   state) under the master key, bound to the row they belong to.
//! - [`token`]: opaque bearer tokens (sessions, links, API tokens) and their stored digests.
//! - [`totp`]: RFC 6238 codes with replay protection.
//! - [`recovery`]: single-use recovery codes.
//! - [`slip`]: access slips' one-time activation secrets and test references.
//! - [`audit_chain`]: the hash that links audit records.
//!
//! This crate never logs, never reads a clock and never stores anything: callers pass `now`.

pub mod audit_chain;
pub mod envelope;
pub mod password_hash;
pub mod recovery;
pub mod secret_box;
pub mod signing;
pub mod slip;
pub mod token;
pub mod totp;

/// Compare two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
