//! Access slips: the one-time activation secret printed for a patient at the desk, and the
//! short test reference printed beside it.
//!
//! Both are written in Crockford's base32 (digits and capitals without I, L, O and U), in
//! groups, so that they read aloud and type without confusion: whoever types them may use
//! lower case, spaces or dashes, and `O` for `0` or `I`/`L` for `1`. A secret holds 80 random
//! bits (the patient space asks for at least 64). Only its SHA-256 digest is stored: a secret
//! this strong needs no slow hash (NIST SP 800-63B §5.1.1.2 applies to chosen secrets), and
//! attempts are counted and limited per slip.

use rand::RngCore;

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Random bytes in a secret: 80 bits, 16 characters.
const SECRET_BYTES: usize = 10;
/// Characters in a test reference (50 bits).
const REFERENCE_CHARS: usize = 10;

/// The first `chars` base32 symbols of `bytes`, most significant bits first.
fn encode(bytes: &[u8], chars: usize) -> String {
    (0..chars)
        .map(|i| {
            let bit = i * 5;
            let window = (u16::from(bytes[bit / 8]) << 8)
                | u16::from(bytes.get(bit / 8 + 1).copied().unwrap_or(0));
            let index = (window >> (11 - bit % 8)) & 0x1f;
            char::from(ALPHABET[usize::from(index)])
        })
        .collect()
}

/// `chars` in groups of `size`, joined by dashes.
fn grouped(chars: &str, size: usize) -> String {
    chars
        .as_bytes()
        .chunks(size)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A fresh activation secret, `XXXX-XXXX-XXXX-XXXX`.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    grouped(&encode(&bytes, SECRET_BYTES * 8 / 5), 4)
}

/// A fresh test reference, `XXXXX-XXXXX` (printed as the slip's test ID).
pub fn generate_reference() -> String {
    let mut bytes = [0u8; 7];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    grouped(&encode(&bytes, REFERENCE_CHARS), 5)
}

/// What a person typed, in canonical form (upper case, no separators, aliases resolved), or
/// `None` if it holds a character that is not in the alphabet.
pub fn normalise(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(typed.len());
    for c in typed.trim().chars() {
        if c == ' ' || c == '-' {
            continue;
        }
        let mapped = match c {
            'O' | 'o' => '0',
            'I' | 'i' | 'L' | 'l' => '1',
            c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase(),
            _ => return None,
        };
        if !ALPHABET.contains(&(mapped as u8)) {
            return None;
        }
        out.push(mapped);
    }
    Some(out)
}

/// The stored digest of a secret (normalised first); `None` when it cannot be one.
pub fn secret_digest(typed: &str) -> Option<String> {
    let canonical = normalise(typed)?;
    (canonical.len() == 16).then(|| crate::token::digest(&format!("access-slip:{canonical}")))
}

/// A test reference as typed, in the printed form `XXXXX-XXXXX`; `None` if it cannot be one.
pub fn canonical_reference(typed: &str) -> Option<String> {
    let canonical = normalise(typed)?;
    (canonical.len() == REFERENCE_CHARS).then(|| grouped(&canonical, 5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_crockford_base32_most_significant_bits_first() {
        assert_eq!(encode(&[0xff; 10], 16), "ZZZZZZZZZZZZZZZZ");
        assert_eq!(encode(&[0; 10], 16), "0000000000000000");
        // 0b00001_00010_00011_00100_00101_00110_00111_01000 = 0x08 0x86 0x42 0x98 0xe8
        assert_eq!(encode(&[0x08, 0x86, 0x42, 0x98, 0xe8], 8), "12345678");
    }

    #[test]
    fn secrets_hold_80_bits_in_four_groups_and_differ() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 19, "{a}");
        assert_eq!(a.split('-').count(), 4);
        let canonical = normalise(&a).unwrap();
        assert_eq!(canonical.len(), 16);
        // 16 symbols of a 32-symbol alphabet: 80 bits.
        assert!(canonical
            .chars()
            .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)));
    }

    #[test]
    fn typing_variations_give_the_same_digest_and_typos_do_not() {
        let secret = "7KQ4-M2XP-9WZA-H3T0";
        let digest = secret_digest(secret).unwrap();
        assert_eq!(secret_digest("7kq4 m2xp 9wza h3to").unwrap(), digest);
        assert_eq!(secret_digest(" 7KQ4M2XP9WZAH3TO ").unwrap(), digest);
        assert_ne!(secret_digest("7KQ4-M2XP-9WZA-H3T1").unwrap(), digest);
        assert_eq!(secret_digest("7KQ4-M2XP-9WZA-H3T"), None, "too short");
        assert_eq!(
            secret_digest("7KQ4-M2XP-9WZA-H3TU"),
            None,
            "U is not a symbol"
        );
        assert_eq!(secret_digest("7KQ4-M2XP-9WZA-H3T!"), None);
        assert_eq!(normalise("il-O"), Some("110".into()));
    }

    #[test]
    fn references_are_ten_symbols_in_two_groups() {
        let r = generate_reference();
        assert_eq!(r.len(), 11, "{r}");
        assert_eq!(canonical_reference(&r.to_lowercase()), Some(r.clone()));
        assert_eq!(canonical_reference(&r.replace('-', "")), Some(r));
        assert_eq!(canonical_reference("ABCDE"), None);
    }
}
