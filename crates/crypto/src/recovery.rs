//! Recovery codes: ten single-use codes of 120 random bits each, shown once and stored as
//! SHA-256 digests (high-entropy secrets need no slow hash: NIST SP 800-63B §3.1.2).

use rand::RngCore;

pub const COUNT: usize = 10;
const BYTES: usize = 15; // 120 bits >= the 112 required

/// Draw a fresh set of codes, formatted `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX` in base32.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; BYTES];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let raw = data_encoding::BASE32_NOPAD.encode(&bytes);
            raw.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Normalise what a person typed: case, spaces and dashes do not matter.
pub fn normalise(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_uppercase()
}

/// The stored digest of a code (normalised first).
pub fn digest(code: &str) -> String {
    crate::token::digest(&format!("recovery:{}", normalise(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_of_enough_entropy() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        for c in &codes {
            assert_eq!(normalise(c).len(), 24, "{c}");
        }
    }

    #[test]
    fn typing_variations_match_the_same_digest() {
        let code = &generate()[0];
        let sloppy = code.to_lowercase().replace('-', " ");
        assert_eq!(digest(code), digest(&sloppy));
    }
}
