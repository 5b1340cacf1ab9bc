//! Time-based one-time passwords (RFC 6238): 160-bit secret, SHA-1, 6 digits, 30-second step,
//! one step of clock drift either way. A code is accepted only for a step later than the last
//! accepted one, so a code is never accepted twice.

use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
pub const SECRET_BYTES: usize = 20;

/// A TOTP shared secret. `Debug` never shows it.
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpRejected {
    #[error("the code must be 6 digits")]
    Malformed,
    #[error("the code is not valid")]
    Wrong,
    #[error("this code has already been used; wait for the next one")]
    Replayed,
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        TotpSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: &str, account: &str) -> TOTP {
        // `new_unchecked` because issuer and account names are sanitised below and the secret
        // length is fixed by this type.
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            1,
            STEP_SECONDS,
            self.0.clone(),
            Some(issuer.replace(':', " ")),
            account.replace(':', " "),
        )
    }

    /// The base32 form a person types into an app by hand.
    pub fn base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://totp/…` URI for QR codes.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        self.totp(issuer, account).get_url()
    }

    /// The code for the step containing `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp("", "").generate(unix_seconds)
    }

    /// Check `code` at `unix_seconds`, allowing one step of drift each way, and refusing any
    /// step at or before `last_used_step`. Returns the step that matched, to be stored.
    pub fn verify(
        &self,
        code: &str,
        unix_seconds: u64,
        last_used_step: Option<u64>,
    ) -> Result<u64, TotpRejected> {
        let code = code.trim().replace(' ', "");
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpRejected::Malformed);
        }
        let current = unix_seconds / STEP_SECONDS;
        let totp = self.totp("", "");
        let mut matched = None;
        // Check every candidate step, so timing does not reveal which one matched.
        for step in [current.saturating_sub(1), current, current + 1] {
            let candidate = totp.generate(step * STEP_SECONDS);
            if crate::constant_time_eq(candidate.as_bytes(), code.as_bytes()) {
                matched = Some(step);
            }
        }
        let step = matched.ok_or(TotpRejected::Wrong)?;
        if last_used_step.is_some_and(|last| step <= last) {
            return Err(TotpRejected::Replayed);
        }
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: every vector, for all three hash functions, at 8 digits.
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = b"12345678901234567890".to_vec();
        let sha256 = b"12345678901234567890123456789012".to_vec();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".to_vec();
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, c1, c256, c512) in vectors {
            let gen = |alg, secret: &Vec<u8>| {
                TOTP::new_unchecked(alg, 8, 1, 30, secret.clone(), None, String::new()).generate(t)
            };
            assert_eq!(gen(Algorithm::SHA1, &sha1), c1, "SHA1 T={t}");
            assert_eq!(gen(Algorithm::SHA256, &sha256), c256, "SHA256 T={t}");
            assert_eq!(gen(Algorithm::SHA512, &sha512), c512, "SHA512 T={t}");
        }
        // Our six-digit codes are the last six digits of the same value.
        let ours = TotpSecret::from_bytes(sha1);
        assert_eq!(ours.code_at(59), "287082");
        assert_eq!(ours.code_at(1111111109), "081804");
    }

    #[test]
    fn accepts_one_step_of_drift_and_no_more() {
        let s = TotpSecret::generate();
        let now = 1_700_000_015;
        assert!(s.verify(&s.code_at(now - 30), now, None).is_ok());
        assert!(s.verify(&s.code_at(now + 30), now, None).is_ok());
        assert_eq!(
            s.verify(&s.code_at(now - 60), now, None),
            Err(TotpRejected::Wrong)
        );
        assert_eq!(
            s.verify(&s.code_at(now + 60), now, None),
            Err(TotpRejected::Wrong)
        );
        assert_eq!(s.verify("12345", now, None), Err(TotpRejected::Malformed));
        assert_eq!(s.verify("abcdef", now, None), Err(TotpRejected::Malformed));
    }

    #[test]
    fn a_code_is_never_accepted_twice() {
        let s = TotpSecret::generate();
        let now = 1_700_000_015;
        let code = s.code_at(now);
        let step = s.verify(&code, now, None).unwrap();
        assert_eq!(
            s.verify(&code, now, Some(step)),
            Err(TotpRejected::Replayed)
        );
        // The previous step's code is older than the used one: refused too.
        assert_eq!(
            s.verify(&s.code_at(now - 30), now, Some(step)),
            Err(TotpRejected::Replayed)
        );
        // The next step's code is fine.
        assert!(s.verify(&s.code_at(now + 30), now, Some(step)).is_ok());
    }

    #[test]
    fn secret_is_160_bits_and_uri_is_standard() {
        let s = TotpSecret::generate();
        assert_eq!(s.as_bytes().len(), 20);
        assert_eq!(s.base32().len(), 32);
        let uri = s.otpauth_uri("Saint Example: Hospital", "ada@example.org");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={}", s.base32())), "{uri}");
        assert!(uri.contains("issuer="), "{uri}");
        assert!(!format!("{s:?}").contains(&s.base32()));
    }
}
