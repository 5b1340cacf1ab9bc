//! E-mail addresses of staff, compared case-insensitively.

use std::fmt;

/// A syntactically plausible e-mail address, trimmed and lower-cased.
///
/// Sealroom does not try to implement RFC 5322 in full: it accepts `local@domain` where the
/// domain has a dot, no whitespace or control characters appear, and the whole fits in 254
/// bytes. That is what an administrator types; deliverability is proven by the enrolment link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidEmail {
    #[error("the e-mail address is empty")]
    Empty,
    #[error("the e-mail address is longer than 254 characters")]
    TooLong,
    #[error("the e-mail address must look like name@example.org")]
    Malformed,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InvalidEmail::Empty);
        }
        if trimmed.len() > 254 {
            return Err(InvalidEmail::TooLong);
        }
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            return Err(InvalidEmail::Malformed);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(InvalidEmail::Malformed)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(InvalidEmail::Malformed);
        }
        Ok(EmailAddress(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_lowercases() {
        let e = EmailAddress::parse("  Ada.Admin@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "ada.admin@example.org");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        assert_eq!(EmailAddress::parse(""), Err(InvalidEmail::Empty));
        for bad in [
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "ada@ex..org",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(InvalidEmail::Malformed),
                "{bad}"
            );
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(InvalidEmail::TooLong));
    }
}
