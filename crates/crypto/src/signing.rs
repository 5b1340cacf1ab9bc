//! Staff signatures on documents: an Ed25519 key pair per staff person, the private half
//! wrapped under the master key and opened only to sign, and the statement a signature covers.
//!
//! A signature covers a [`DocumentStatement`]: which document and version, whose patient, what
//! kind of content, how long, the BLAKE3 hash of the stored ciphertext, who signed and when. The
//! ciphertext hash pins every stored byte; the content inside is authenticated by the
//! envelope's AEAD, whose key only the document's version holds.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::envelope::{EnvelopeError, SymmetricKey};

/// Length of a public key and of a signature, in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("the signature does not verify: the document or its record was altered, or it was not signed by this person")]
    Invalid,
    #[error("the stored signing key is not usable")]
    BadKey,
}

impl From<EnvelopeError> for SignatureError {
    fn from(_: EnvelopeError) -> Self {
        SignatureError::BadKey
    }
}

/// A staff person's signing key. The seed is wiped from memory on drop; never printed.
pub struct StaffSigningKey(SigningKey);

impl std::fmt::Debug for StaffSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffSigningKey(…)")
    }
}

impl StaffSigningKey {
    pub fn generate() -> StaffSigningKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        StaffSigningKey(SigningKey::from_bytes(&seed))
    }

    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.verifying_key().to_bytes()
    }

    /// The private half wrapped under `master` for `context` (e.g. `signing:<user id>`).
    pub fn wrap(&self, master: &SymmetricKey, context: &str) -> Vec<u8> {
        master.wrap(&SymmetricKey::from_seed(self.0.as_bytes()), context)
    }

    /// Open a private half wrapped by [`Self::wrap`].
    pub fn unwrap(
        master: &SymmetricKey,
        wrapped: &[u8],
        context: &str,
    ) -> Result<StaffSigningKey, SignatureError> {
        let seed = master.unwrap(wrapped, context)?;
        Ok(StaffSigningKey(SigningKey::from_bytes(seed.expose())))
    }

    pub fn sign(&self, statement: &DocumentStatement) -> [u8; SIGNATURE_LEN] {
        self.0.sign(&statement.message()).to_bytes()
    }

    pub fn sign_message(&self, statement: &MessageStatement) -> [u8; SIGNATURE_LEN] {
        self.0.sign(&statement.message()).to_bytes()
    }
}

fn verify_bytes(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let key: [u8; PUBLIC_KEY_LEN] = public_key.try_into().map_err(|_| SignatureError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| SignatureError::BadKey)?;
    let signature = Signature::from_slice(signature).map_err(|_| SignatureError::Invalid)?;
    key.verify_strict(message, &signature)
        .map_err(|_| SignatureError::Invalid)
}

/// What a message signature covers: which message of which thread, who wrote it, when, and
/// the BLAKE3 hashes of its sealed body and of each attachment's stored blob, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageStatement {
    pub message: String,
    pub thread: String,
    /// The author's participant address (`user:<id>`, `patient:<id>`).
    pub author: String,
    /// Who typed it (`user:<id>`, `patient_account:<id>`).
    pub signer: String,
    pub body_hash: [u8; 32],
    pub attachment_hashes: Vec<[u8; 32]>,
    pub signed_at: i64,
}

impl MessageStatement {
    /// The exact bytes signed, one `name: value` line each after a domain-separation line.
    pub fn message(&self) -> Vec<u8> {
        let attachments: Vec<String> = self.attachment_hashes.iter().map(hex::encode).collect();
        format!(
            "sealroom-message-signature-v1\nmessage: {}\nthread: {}\nauthor: {}\nsigner: {}\n\
             body-blake3: {}\nattachments-blake3: {}\nsigned-at: {}\n",
            self.message,
            self.thread,
            self.author,
            self.signer,
            hex::encode(self.body_hash),
            attachments.join(","),
            self.signed_at,
        )
        .into_bytes()
    }

    /// Check `signature` by `public_key` over this statement.
    pub fn verify(&self, public_key: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        verify_bytes(public_key, &self.message(), signature)
    }
}

/// What a document signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentStatement {
    pub document: String,
    pub version: u32,
    pub patient: String,
    pub category: String,
    pub media_type: String,
    pub size: u64,
    /// BLAKE3 of the stored (encrypted) blob.
    pub ciphertext_hash: [u8; 32],
    pub signer: String,
    pub signed_at: i64,
}

impl DocumentStatement {
    /// The exact bytes signed: one `name: value` line each, in a fixed order, after a
    /// domain-separation line. Values are identifiers and media types, which hold no newline.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "sealroom-document-signature-v2\ndocument: {}\nversion: {}\npatient: {}\ncategory: {}\n\
             media-type: {}\nsize: {}\nciphertext-blake3: {}\nsigner: {}\nsigned-at: {}\n",
            self.document,
            self.version,
            self.patient,
            self.category,
            self.media_type.replace('\n', " "),
            self.size,
            hex::encode(self.ciphertext_hash),
            self.signer,
            self.signed_at,
        )
        .into_bytes()
    }

    /// Check `signature` by `public_key` over this statement.
    pub fn verify(&self, public_key: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        verify_bytes(public_key, &self.message(), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> DocumentStatement {
        DocumentStatement {
            document: "d1".into(),
            version: 1,
            patient: "p1".into(),
            category: "results".into(),
            media_type: "application/pdf".into(),
            size: 1234,
            ciphertext_hash: [9; 32],
            signer: "u1".into(),
            signed_at: 1_700_000_000,
        }
    }

    #[test]
    fn a_signature_verifies_only_for_its_statement_and_signer() {
        let key = StaffSigningKey::generate();
        let s = statement();
        let sig = key.sign(&s);
        assert_eq!(s.verify(&key.public_key(), &sig), Ok(()));

        let changed = [
            DocumentStatement {
                version: 2,
                ..s.clone()
            },
            DocumentStatement {
                patient: "p2".into(),
                ..s.clone()
            },
            DocumentStatement {
                size: 1235,
                ..s.clone()
            },
            DocumentStatement {
                ciphertext_hash: [8; 32],
                ..s.clone()
            },
            DocumentStatement {
                signer: "u2".into(),
                ..s.clone()
            },
            DocumentStatement {
                category: "genetics".into(),
                ..s.clone()
            },
        ];
        for c in changed {
            assert_eq!(
                c.verify(&key.public_key(), &sig),
                Err(SignatureError::Invalid)
            );
        }
        let other = StaffSigningKey::generate();
        assert_eq!(
            s.verify(&other.public_key(), &sig),
            Err(SignatureError::Invalid)
        );
        let mut flipped = sig;
        flipped[10] ^= 1;
        assert_eq!(
            s.verify(&key.public_key(), &flipped),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn a_message_signature_covers_its_body_attachments_and_author() {
        let key = StaffSigningKey::generate();
        let s = MessageStatement {
            message: "m1".into(),
            thread: "t1".into(),
            author: "user:u1".into(),
            signer: "user:u1".into(),
            body_hash: [1; 32],
            attachment_hashes: vec![[2; 32], [3; 32]],
            signed_at: 1_700_000_000,
        };
        let sig = key.sign_message(&s);
        assert_eq!(s.verify(&key.public_key(), &sig), Ok(()));
        let changed = [
            MessageStatement {
                thread: "t2".into(),
                ..s.clone()
            },
            MessageStatement {
                author: "department:d1".into(),
                ..s.clone()
            },
            MessageStatement {
                body_hash: [9; 32],
                ..s.clone()
            },
            MessageStatement {
                attachment_hashes: vec![[3; 32], [2; 32]],
                ..s.clone()
            },
            MessageStatement {
                attachment_hashes: vec![[2; 32]],
                ..s.clone()
            },
        ];
        for c in changed {
            assert_eq!(
                c.verify(&key.public_key(), &sig),
                Err(SignatureError::Invalid)
            );
        }
    }

    #[test]
    fn the_private_half_opens_only_under_its_master_key_and_owner() {
        let master = SymmetricKey::generate();
        let key = StaffSigningKey::generate();
        let wrapped = key.wrap(&master, "signing:u1");
        let opened = StaffSigningKey::unwrap(&master, &wrapped, "signing:u1").unwrap();
        assert_eq!(opened.public_key(), key.public_key());
        assert!(StaffSigningKey::unwrap(&master, &wrapped, "signing:u2").is_err());
        assert!(
            StaffSigningKey::unwrap(&SymmetricKey::generate(), &wrapped, "signing:u1").is_err()
        );
        assert_eq!(format!("{key:?}"), "StaffSigningKey(…)");
    }
}
