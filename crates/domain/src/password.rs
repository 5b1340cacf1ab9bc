//! The password rules for staff (NIST SP 800-63B rev 4 §3.1.1, OWASP ASVS 5 §6.2).
//!
//! Staff always hold a second factor, so the minimum is 12 characters. There are no
//! composition rules and nothing is truncated. The password is normalised to Unicode NFKC
//! before it is judged or hashed, so the same password typed on two keyboards matches.
//! A password is refused when it is on the shipped blocklist of common and breached
//! passwords, contains a context word (organisation, name, e-mail), or zxcvbn scores it
//! below 3.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Fewest characters accepted (after normalisation).
pub const MIN_CHARS: usize = 12;
/// Most characters accepted. NIST asks for at least 64; the issue for at least 128.
pub const MAX_CHARS: usize = 256;
/// zxcvbn score a password must reach (0..=4).
pub const MIN_ZXCVBN_SCORE: u8 = 3;

static BLOCKLIST: &str = include_str!("../data/common-passwords.txt");

/// Number of entries on the shipped blocklist.
pub fn blocklist_len() -> usize {
    BLOCKLIST.lines().count()
}

fn on_blocklist(lowercased: &str) -> bool {
    // The list is sorted by byte order, one entry per line: binary search without allocating
    // an index at start-up. Lines are found by seeking to the line start around a midpoint.
    let bytes = BLOCKLIST.as_bytes();
    let (mut lo, mut hi) = (0usize, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let end = bytes[mid..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| mid + p);
        let line = &BLOCKLIST[start..end];
        match line.as_bytes().cmp(lowercased.as_bytes()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

/// Words that must not appear in a person's password.
#[derive(Debug, Default, Clone)]
pub struct PasswordContext<'a> {
    pub organization: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
}

impl PasswordContext<'_> {
    /// Context words of at least 4 characters, lower-cased: the organisation's and the person's
    /// names split on non-alphanumerics, the e-mail's local part and the domain's first label.
    fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        let (local, domain) = self.email.split_once('@').unwrap_or((self.email, ""));
        let sources = [
            self.organization,
            self.display_name,
            local,
            domain.split('.').next().unwrap_or(""),
        ];
        for source in sources {
            let lower = source.nfkc().collect::<String>().to_lowercase();
            if lower.chars().count() >= 4 {
                words.push(lower.clone());
            }
            for part in lower.split(|c: char| !c.is_alphanumeric()) {
                if part.chars().count() >= 4 {
                    words.push(part.to_owned());
                }
            }
        }
        words.sort();
        words.dedup();
        words
    }
}

/// Why a new password was refused. The messages are shown to the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordRejected {
    #[error("the password must have at least {MIN_CHARS} characters")]
    TooShort,
    #[error("the password must have at most {MAX_CHARS} characters")]
    TooLong,
    #[error("the two passwords do not match")]
    Mismatch,
    #[error("this password is on the list of common or breached passwords; choose another")]
    Common,
    #[error(
        "the password must not contain your name, your e-mail address or the organisation's name"
    )]
    ContainsContext,
    #[error("this password is too easy to guess; a few unrelated words make a strong one")]
    TooGuessable,
}

/// A password that passed every rule, normalised to NFKC. Only this type can be hashed for a
/// new credential. Its `Debug` never shows the content.
#[derive(Clone)]
pub struct NewPassword(String);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// Normalise a typed password to the form that is hashed and compared.
pub fn normalise(raw: &str) -> String {
    raw.nfkc().collect()
}

impl NewPassword {
    /// Judge a new password against every rule, with the confirmation the person typed.
    pub fn choose(
        raw: &str,
        confirmation: &str,
        context: &PasswordContext<'_>,
    ) -> Result<Self, PasswordRejected> {
        let password = normalise(raw);
        if password != normalise(confirmation) {
            return Err(PasswordRejected::Mismatch);
        }
        let chars = password.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordRejected::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordRejected::TooLong);
        }
        let lower = password.to_lowercase();
        if on_blocklist(&lower) {
            return Err(PasswordRejected::Common);
        }
        let words = context.words();
        if words.iter().any(|w| lower.contains(w.as_str())) {
            return Err(PasswordRejected::ContainsContext);
        }
        let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
        if (zxcvbn::zxcvbn(&password, &inputs).score() as u8) < MIN_ZXCVBN_SCORE {
            return Err(PasswordRejected::TooGuessable);
        }
        Ok(NewPassword(password))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PasswordContext<'static> {
        PasswordContext {
            organization: "Saint Example Hospital",
            display_name: "Ada Lovelace",
            email: "ada.lovelace@example.org",
        }
    }

    fn choose(p: &str) -> Result<(), PasswordRejected> {
        NewPassword::choose(p, p, &ctx()).map(|_| ())
    }

    #[test]
    fn blocklist_is_large_and_sorted() {
        assert!(
            blocklist_len() >= 100_000,
            "blocklist has {}",
            blocklist_len()
        );
        let mut prev = "";
        for line in BLOCKLIST.lines() {
            assert!(
                line.as_bytes() > prev.as_bytes(),
                "not sorted/unique at {line:?}"
            );
            prev = line;
        }
    }

    #[test]
    fn finds_every_blocklisted_entry() {
        for line in BLOCKLIST.lines().step_by(997) {
            assert!(on_blocklist(line), "{line:?}");
        }
        assert!(!on_blocklist("quiet lantern harbour 7203 mosaic"));
    }

    #[test]
    fn accepts_a_long_passphrase_with_no_composition_rules() {
        assert!(choose("correct horse battery staple violet 1987").is_ok());
        assert!(choose("quiet lantern harbour mosaic").is_ok());
    }

    #[test]
    fn length_bounds() {
        assert_eq!(choose("Xq7#pL2!"), Err(PasswordRejected::TooShort));
        let long: String = (0..64u32)
            .map(|i| format!("{:04x}", (i * 40503 + 12345) % 65536))
            .collect();
        assert_eq!(long.chars().count(), 256);
        assert!(choose(&long).is_ok(), "256 characters must be accepted");
        assert_eq!(choose(&format!("{long}x")), Err(PasswordRejected::TooLong));
    }

    #[test]
    fn refuses_common_passwords_case_insensitively() {
        let common = BLOCKLIST.lines().find(|l| l.chars().count() >= 12).unwrap();
        assert_eq!(choose(common), Err(PasswordRejected::Common));
        assert_eq!(
            choose(&common.to_uppercase()),
            Err(PasswordRejected::Common)
        );
    }

    #[test]
    fn refuses_context_words() {
        assert_eq!(
            choose("lovelace-rainbow-kettle-42"),
            Err(PasswordRejected::ContainsContext)
        );
        assert_eq!(
            choose("my Hospital tulip garden 9"),
            Err(PasswordRejected::ContainsContext)
        );
    }

    #[test]
    fn refuses_guessable() {
        assert_eq!(
            choose("aaaaaaaaaaaaaaaa"),
            Err(PasswordRejected::TooGuessable)
        );
    }

    #[test]
    fn mismatch_is_reported() {
        assert_eq!(
            NewPassword::choose(
                "correct horse battery staple",
                "correct horse battery stapel",
                &ctx()
            )
            .map(|_| ()),
            Err(PasswordRejected::Mismatch)
        );
    }

    #[test]
    fn normalises_unicode_compatibility_forms() {
        // U+FB01 LATIN SMALL LIGATURE FI becomes "fi" under NFKC.
        assert_eq!(normalise("\u{FB01}sh"), "fish");
        let p = NewPassword::choose(
            "\u{FB01}sh lantern harbour 7203",
            "fish lantern harbour 7203",
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.expose(), "fish lantern harbour 7203");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = NewPassword::choose(
            "correct horse battery staple violet 1987",
            "correct horse battery staple violet 1987",
            &ctx(),
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
