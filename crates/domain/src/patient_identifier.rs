//! Patient identifiers: the organisation's own patient number and national identifiers.
//!
//! Two kinds of identifier name a patient:
//!
//! * [`OrganizationPatientId`] is the number Sealroom assigns (the MRN). It is `P` followed by
//!   nine digits and a Luhn check digit, so a mistyped digit or a swap of two neighbouring
//!   digits is caught at the keyboard instead of opening the wrong chart.
//! * [`NationalIdentifier`] is a number issued by a state: the Belgian national number, the
//!   French NIR, the Romanian CNP or the NHS number. Each is checked against its published
//!   structure and check digits.
//!
//! Neither is a secret, and neither is ever an authentication factor: they are printed on
//! cards, letters and wristbands, and knowing one proves nothing about who is asking. They
//! are, however, personal data. A national identifier in particular links a patient across
//! every system that uses it, so it is stored sealed, and looked up through a keyed blind
//! index computed (elsewhere) over [`NationalIdentifier::normalized`]. For the same reason its
//! `Debug` and `Display` show only the last four characters, and no error message produced
//! here ever repeats the input.
//!
//! Everything here is pure: a new patient number is made from a random number the caller
//! draws, with [`OrganizationPatientId::from_number`].

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Organisation patient identifier
// ---------------------------------------------------------------------------------------------

/// The organisation-wide patient identifier: `P` followed by ten digits, the last of which is
/// a Luhn (mod 10) check digit over the nine before it, e.g. `P1234567897`.
///
/// Luhn detects every single-digit substitution and every transposition of adjacent digits
/// except `09` ↔ `90`. It was chosen over ISO 7064 MOD 11-2 because its check character is
/// always a digit, which keeps the identifier easy to type and read aloud.
///
/// Serialised as its string form; deserialising parses (and so checks) the string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganizationPatientId(String);

/// Why a string is not an [`OrganizationPatientId`]. The messages never repeat the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPatientId {
    #[error("the patient identifier is empty")]
    Empty,
    #[error("a patient identifier starts with the letter P")]
    MissingPrefix,
    #[error("a patient identifier has only digits after the letter P")]
    NotDigits,
    #[error("a patient identifier has the letter P followed by 10 digits")]
    WrongLength,
    #[error("the check digit of the patient identifier does not match; it was probably mistyped")]
    CheckDigit,
}

impl OrganizationPatientId {
    /// How many distinct identifiers exist: [`Self::from_number`] accepts `0..NUMBER_COUNT`.
    pub const NUMBER_COUNT: u64 = 1_000_000_000;

    /// The identifier for `number` (which the caller draws at random), or `None` when
    /// `number` has more than nine digits.
    pub fn from_number(number: u64) -> Option<Self> {
        if number >= Self::NUMBER_COUNT {
            return None;
        }
        let payload = format!("{number:09}");
        let check = luhn_check_digit(payload.as_bytes());
        Some(OrganizationPatientId(format!("P{payload}{check}")))
    }

    /// Parses an identifier as typed: surrounding whitespace and a lowercase `p` are
    /// accepted; anything else must be exact.
    pub fn parse(input: &str) -> Result<Self, InvalidPatientId> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InvalidPatientId::Empty);
        }
        let digits = trimmed
            .strip_prefix(['P', 'p'])
            .ok_or(InvalidPatientId::MissingPrefix)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPatientId::NotDigits);
        }
        let (Some((&check, payload)), 10) = (digits.as_bytes().split_last(), digits.len()) else {
            return Err(InvalidPatientId::WrongLength);
        };
        if luhn_check_digit(payload) != check - b'0' {
            return Err(InvalidPatientId::CheckDigit);
        }
        Ok(OrganizationPatientId(format!("P{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Luhn check digit for a string of ASCII digits: from the right, every other digit
/// (starting with the rightmost) is doubled, and a doubled value above 9 has 9 taken off.
fn luhn_check_digit(ascii_digits: &[u8]) -> u8 {
    let sum: u32 = ascii_digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    // `sum % 10` is below 10, so the result always fits.
    ((10 - sum % 10) % 10) as u8
}

impl FromStr for OrganizationPatientId {
    type Err = InvalidPatientId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrganizationPatientId::parse(s)
    }
}

impl fmt::Display for OrganizationPatientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for OrganizationPatientId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrganizationPatientId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OrganizationPatientId::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// National identifiers
// ---------------------------------------------------------------------------------------------

/// A country whose national identifier Sealroom understands, by ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Country {
    /// Rijksregisternummer / numéro de registre national (including BIS numbers).
    Belgium,
    /// Numéro d'inscription au répertoire (NIR), the social security number.
    France,
    /// Cod numeric personal (CNP).
    Romania,
    /// NHS number (England, Wales and the Isle of Man; Scotland's CHI number uses the same
    /// ten-digit modulus 11 scheme and so also passes).
    UnitedKingdom,
}

/// The country code is not one of `BE`, `FR`, `RO`, `GB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown country; expected one of: BE, FR, RO, GB")]
pub struct UnknownCountry;

impl Country {
    pub const ALL: [Country; 4] = [
        Country::Belgium,
        Country::France,
        Country::Romania,
        Country::UnitedKingdom,
    ];

    /// The ISO 3166-1 alpha-2 code: `BE`, `FR`, `RO` or `GB`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Country::Belgium => "BE",
            Country::France => "FR",
            Country::Romania => "RO",
            Country::UnitedKingdom => "GB",
        }
    }

    /// Parses an ISO 3166-1 alpha-2 code, ignoring case and surrounding whitespace.
    pub fn parse(input: &str) -> Result<Self, UnknownCountry> {
        let code = input.trim();
        Country::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(code))
            .ok_or(UnknownCountry)
    }

    /// Length of the normalised identifier (separators removed).
    const fn identifier_length(self) -> usize {
        match self {
            Country::Belgium => 11,
            Country::France => 15,
            Country::Romania => 13,
            Country::UnitedKingdom => 10,
        }
    }

    const fn length_rule(self) -> &'static str {
        match self {
            Country::Belgium => "a Belgian national number has 11 digits",
            Country::France => {
                "a French social security number (NIR) has 15 characters: 13 for the number and 2 for the key"
            }
            Country::Romania => "a Romanian personal numeric code (CNP) has 13 digits",
            Country::UnitedKingdom => "an NHS number has 10 digits",
        }
    }

    const fn character_rule(self) -> &'static str {
        match self {
            Country::Belgium => "a Belgian national number contains only digits",
            Country::France => {
                "a French social security number (NIR) contains only digits, except 2A or 2B as the department of birth in Corsica"
            }
            Country::Romania => "a Romanian personal numeric code (CNP) contains only digits",
            Country::UnitedKingdom => "an NHS number contains only digits",
        }
    }
}

impl FromStr for Country {
    type Err = UnknownCountry;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Country::parse(s)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid national identifier. The messages say what is wrong in words
/// and never repeat the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidNationalIdentifier {
    #[error("the national identifier is empty")]
    Empty,
    /// A character other than a digit or an ignored separator (or, in a French NIR, a letter
    /// anywhere but the Corsican department codes 2A and 2B).
    #[error("{}", .0.character_rule())]
    UnexpectedCharacter(Country),
    #[error("{}", .0.length_rule())]
    WrongLength(Country),
    /// The first digit (sex, and in Romania century of birth) is not one that is issued.
    #[error("the first digit (sex) is not valid")]
    FirstDigit,
    #[error("the birth month is not valid")]
    BirthMonth,
    #[error("the birth day is not valid")]
    BirthDay,
    /// The Romanian county code.
    #[error("the county code is not valid")]
    County,
    #[error("the check digits do not match")]
    CheckDigits,
}

/// A national identifier, validated and normalised.
///
/// The normalised value holds digits only, except that a French NIR keeps the Corsican
/// department codes `2A` / `2B` (upper case). [`Self::normalized`] prefixes the country code,
/// `BE:85073003328`, and is the canonical input for the blind index.
///
/// `Debug` and `Display` print only the country and the last four characters; use
/// [`Self::value`] where the full number must deliberately be shown.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalIdentifier {
    country: Country,
    /// `CC:value`, e.g. `BE:85073003328`.
    normalized: String,
}

type NationalResult = Result<(), InvalidNationalIdentifier>;

impl NationalIdentifier {
    /// Parses `input` as a national identifier of `country`. Whitespace, dots, dashes and
    /// slashes are ignored, so `85.07.30-033.28` and `943 476 5919` are accepted as printed.
    pub fn parse(country: Country, input: &str) -> Result<Self, InvalidNationalIdentifier> {
        let length = country.identifier_length();
        let mut value = String::with_capacity(length);
        for c in input.chars() {
            if c.is_whitespace() || matches!(c, '.' | '-' | '/') {
                continue;
            }
            let c = c.to_ascii_uppercase();
            let allowed =
                c.is_ascii_digit() || (country == Country::France && matches!(c, 'A' | 'B'));
            if !allowed {
                return Err(InvalidNationalIdentifier::UnexpectedCharacter(country));
            }
            if value.len() == length {
                return Err(InvalidNationalIdentifier::WrongLength(country));
            }
            value.push(c);
        }
        if value.is_empty() {
            return Err(InvalidNationalIdentifier::Empty);
        }
        let bytes = value.as_bytes();
        let wrong_length = |_| InvalidNationalIdentifier::WrongLength(country);
        match country {
            Country::Belgium => validate_belgium(&digits(bytes.try_into().map_err(wrong_length)?)),
            Country::France => validate_france(bytes.try_into().map_err(wrong_length)?),
            Country::Romania => validate_romania(&digits(bytes.try_into().map_err(wrong_length)?)),
            Country::UnitedKingdom => {
                validate_nhs(&digits(bytes.try_into().map_err(wrong_length)?))
            }
        }?;
        Ok(NationalIdentifier {
            country,
            normalized: format!("{}:{value}", country.as_str()),
        })
    }

    pub fn country(&self) -> Country {
        self.country
    }

    /// The canonical form used for the blind index: country code, `:`, normalised value,
    /// e.g. `BE:85073003328` or `FR:290032A00401234`.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The normalised value without the country code, e.g. `85073003328`. This is the full
    /// number: show it only where it is meant to be seen.
    pub fn value(&self) -> &str {
        self.normalized
            .split_once(':')
            .map_or("", |(_, value)| value)
    }

    /// The value with all but the last four characters replaced by `•`, e.g. `•••••••3328`.
    pub fn masked(&self) -> String {
        let value = self.value();
        let hidden = value.len().saturating_sub(4);
        let shown = value.get(hidden..).unwrap_or_default();
        format!("{}{shown}", "•".repeat(hidden))
    }
}

impl fmt::Debug for NationalIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NationalIdentifier")
            .field("country", &self.country)
            .field("masked", &self.masked())
            .finish()
    }
}

/// Masked on purpose: formatting an identifier into a log line or a page must not reveal it.
impl fmt::Display for NationalIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.country.as_str(), self.masked())
    }
}

/// ASCII digits (already checked by the caller) to their values.
fn digits<const N: usize>(ascii: &[u8; N]) -> [u8; N] {
    ascii.map(|b| b.wrapping_sub(b'0'))
}

/// The number written by a run of digit values.
fn number(digits: &[u8]) -> u64 {
    digits.iter().fold(0, |n, &d| n * 10 + u64::from(d))
}

/// Belgian national number `YYMMDD SSS CC`.
///
/// `CC = 97 − (YYMMDDSSS mod 97)`; for people born in 2000 or later the same is computed over
/// `2YYMMDDSSS`. The century is not otherwise known, so either is accepted. A check of 97
/// stands for a remainder of 0. BIS numbers add 20 (sex unknown) or 40 (sex known) to the
/// month, and a birth date that is not known is written with month and/or day 0.
fn validate_belgium(d: &[u8; 11]) -> NationalResult {
    let month = number(&d[2..4]);
    if !matches!(month, 0..=12 | 20..=32 | 40..=52) {
        return Err(InvalidNationalIdentifier::BirthMonth);
    }
    if number(&d[4..6]) > 31 {
        return Err(InvalidNationalIdentifier::BirthDay);
    }
    let base = number(&d[..9]);
    let check = number(&d[9..]);
    let born_before_2000 = 97 - base % 97;
    let born_from_2000 = 97 - (2_000_000_000 + base) % 97;
    if check != born_before_2000 && check != born_from_2000 {
        return Err(InvalidNationalIdentifier::CheckDigits);
    }
    Ok(())
}

/// French NIR `S YY MM DP CCC OOO KK` (ASCII, upper case).
///
/// `S` is 1 or 2 (also 3, 4, 7, 8 for temporary and foreign-born registrations); `MM` is
/// 01–12 or a pseudo-month 20–42 or 50–99 used when the month is unknown; `DP` is the
/// department, digits or `2A`/`2B` for Corsica; then commune and order number. The key is
/// `97 − (body mod 97)` where, for Corsica, `2A` counts as 19 and `2B` as 18.
fn validate_france(c: &[u8; 15]) -> NationalResult {
    let unexpected = InvalidNationalIdentifier::UnexpectedCharacter(Country::France);
    let department = match (c[5], c[6]) {
        (b'2', b'A') => [1, 9],
        (b'2', b'B') => [1, 8],
        (a, b) if a.is_ascii_digit() && b.is_ascii_digit() => [a - b'0', b - b'0'],
        _ => return Err(unexpected),
    };
    let mut d = [0u8; 15];
    for (i, (&ch, slot)) in c.iter().zip(d.iter_mut()).enumerate() {
        *slot = match (i, ch) {
            (5 | 6, _) => 0,
            (_, b'0'..=b'9') => ch - b'0',
            _ => return Err(unexpected),
        };
    }
    d[5] = department[0];
    d[6] = department[1];
    let (body, key) = d.split_at(13);

    if !matches!(body[0], 1 | 2 | 3 | 4 | 7 | 8) {
        return Err(InvalidNationalIdentifier::FirstDigit);
    }
    if !matches!(number(&body[3..5]), 1..=12 | 20..=42 | 50..=99) {
        return Err(InvalidNationalIdentifier::BirthMonth);
    }
    if number(key) != 97 - number(body) % 97 {
        return Err(InvalidNationalIdentifier::CheckDigits);
    }
    Ok(())
}

/// Romanian CNP `S YY MM DD JJ NNN C`.
///
/// `S` 1–9 (sex and century, 9 for foreigners); a real month and day (29 February is
/// always accepted, as the century is not checked); county `JJ` 01–52, 70 or 80–83. The
/// control digit is the sum of the first twelve digits weighted `279146358279`, mod 11, with
/// 10 written as 1.
fn validate_romania(d: &[u8; 13]) -> NationalResult {
    const WEIGHTS: [u8; 12] = [2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9];
    if d[0] == 0 {
        return Err(InvalidNationalIdentifier::FirstDigit);
    }
    let month = number(&d[3..5]);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return Err(InvalidNationalIdentifier::BirthMonth),
    };
    if !(1..=days_in_month).contains(&number(&d[5..7])) {
        return Err(InvalidNationalIdentifier::BirthDay);
    }
    if !matches!(number(&d[7..9]), 1..=52 | 70 | 80..=83) {
        return Err(InvalidNationalIdentifier::County);
    }
    let sum: u32 = d
        .iter()
        .zip(WEIGHTS)
        .map(|(&digit, weight)| u32::from(digit) * u32::from(weight))
        .sum();
    let control = match sum % 11 {
        10 => 1,
        r => r,
    };
    if u32::from(d[12]) != control {
        return Err(InvalidNationalIdentifier::CheckDigits);
    }
    Ok(())
}

/// NHS number: the first nine digits weighted 10 down to 2; check = 11 − (sum mod 11), with
/// 11 written as 0. A result of 10 means no valid number has those nine digits.
fn validate_nhs(d: &[u8; 10]) -> NationalResult {
    let sum: u32 = d
        .iter()
        .zip((2..=10u32).rev())
        .map(|(&digit, weight)| u32::from(digit) * weight)
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return Err(InvalidNationalIdentifier::CheckDigits),
        c => c,
    };
    if u32::from(d[9]) != check {
        return Err(InvalidNationalIdentifier::CheckDigits);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{value::StrDeserializer, IntoDeserializer};

    // --- OrganizationPatientId -----------------------------------------------------------

    /// Numbers spread over the whole range, deterministically (a fixed LCG), plus the ends.
    fn sample_numbers() -> Vec<u64> {
        let mut x: u64 = 0x5EA1_400D;
        let mut out = vec![0, 1, 9, 90, 123_456_789, 999_999_999];
        for _ in 0..2_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            out.push((x >> 20) % OrganizationPatientId::NUMBER_COUNT);
        }
        out
    }

    #[test]
    fn from_number_appends_the_luhn_digit() {
        // 123456789: from the right, 9→18→9, 8, 7→14→5, 6, 5→10→1, 4, 3→6, 2, 1→2;
        // sum 43, check (10 − 3) = 7.
        let id = OrganizationPatientId::from_number(123_456_789).unwrap();
        assert_eq!(id.as_str(), "P1234567897");
        assert_eq!(id.to_string(), "P1234567897");
        assert_eq!(
            OrganizationPatientId::from_number(0).unwrap().as_str(),
            "P0000000000"
        );
        assert!(OrganizationPatientId::from_number(999_999_999).is_some());
        assert_eq!(OrganizationPatientId::from_number(1_000_000_000), None);
        assert_eq!(OrganizationPatientId::from_number(u64::MAX), None);
    }

    #[test]
    fn parses_what_from_number_makes_and_tolerates_typing() {
        for n in sample_numbers() {
            let id = OrganizationPatientId::from_number(n).unwrap();
            assert_eq!(id.as_str().parse::<OrganizationPatientId>(), Ok(id.clone()));
            let lower = format!("  {}\t", id.as_str().to_lowercase());
            assert_eq!(OrganizationPatientId::parse(&lower), Ok(id));
        }
        assert_eq!(
            OrganizationPatientId::parse(" p1234567897\n")
                .unwrap()
                .as_str(),
            "P1234567897"
        );
    }

    #[test]
    fn says_what_is_wrong_without_echoing() {
        use InvalidPatientId::*;
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("1234567897", MissingPrefix),
            ("Q1234567897", MissingPrefix),
            ("P", WrongLength),
            ("P123456789", WrongLength),
            ("P12345678970", WrongLength),
            ("P12345678a7", NotDigits),
            ("P 1234567897", NotDigits),
            ("P1234-567897", NotDigits),
            ("P１234567897", NotDigits),
            ("P1234567898", CheckDigit),
        ];
        for (input, expected) in cases {
            let err = OrganizationPatientId::parse(input).unwrap_err();
            assert_eq!(err, expected, "{input:?}");
            let message = err.to_string();
            assert!(!message.contains("1234"), "{message}");
        }
    }

    #[test]
    fn every_substitution_is_detected() {
        for n in sample_numbers() {
            let id = OrganizationPatientId::from_number(n).unwrap();
            let original = id.as_str().as_bytes().to_vec();
            for pos in 1..original.len() {
                for digit in b'0'..=b'9' {
                    if digit == original[pos] {
                        continue;
                    }
                    let mut typo = original.clone();
                    typo[pos] = digit;
                    let typo = String::from_utf8(typo).unwrap();
                    assert_eq!(
                        OrganizationPatientId::parse(&typo),
                        Err(InvalidPatientId::CheckDigit),
                        "{typo} from {id}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_adjacent_transposition_but_09_is_detected() {
        let mut missed_09 = 0;
        for n in sample_numbers() {
            let id = OrganizationPatientId::from_number(n).unwrap();
            let original = id.as_str().as_bytes().to_vec();
            // Positions 1..=10 are the digits, including the check digit.
            for pos in 1..original.len() - 1 {
                let (a, b) = (original[pos], original[pos + 1]);
                if a == b {
                    continue;
                }
                let mut typo = original.clone();
                typo.swap(pos, pos + 1);
                let typo = String::from_utf8(typo).unwrap();
                let result = OrganizationPatientId::parse(&typo);
                if matches!((a, b), (b'0', b'9') | (b'9', b'0')) {
                    // The one blind spot of Luhn: 0 and 9 both contribute the same whether
                    // doubled or not (0→0, 9→18→9).
                    assert!(result.is_ok(), "{typo} from {id}");
                    missed_09 += 1;
                } else {
                    assert_eq!(
                        result,
                        Err(InvalidPatientId::CheckDigit),
                        "{typo} from {id}"
                    );
                }
            }
        }
        assert!(missed_09 > 0, "the sample never exercised a 0↔9 swap");
    }

    #[test]
    fn deserializes_by_parsing() {
        let ok: StrDeserializer<serde::de::value::Error> = "P1234567897".into_deserializer();
        assert_eq!(
            OrganizationPatientId::deserialize(ok).unwrap().as_str(),
            "P1234567897"
        );
        let bad: StrDeserializer<serde::de::value::Error> = "P1234567898".into_deserializer();
        assert!(OrganizationPatientId::deserialize(bad).is_err());
    }

    // --- Country -------------------------------------------------------------------------

    #[test]
    fn country_codes_round_trip() {
        for c in Country::ALL {
            assert_eq!(Country::parse(c.as_str()), Ok(c));
            assert_eq!(c.to_string().parse::<Country>(), Ok(c));
        }
        assert_eq!(Country::parse(" be "), Ok(Country::Belgium));
        assert_eq!(Country::parse("gb"), Ok(Country::UnitedKingdom));
        assert_eq!(Country::parse("UK"), Err(UnknownCountry));
        assert_eq!(Country::parse(""), Err(UnknownCountry));
    }

    // --- NationalIdentifier --------------------------------------------------------------

    use InvalidNationalIdentifier as E;

    fn parse(country: Country, input: &str) -> Result<NationalIdentifier, E> {
        NationalIdentifier::parse(country, input)
    }

    #[test]
    fn belgian_published_example() {
        // 85.07.30-033.28: 850730033 = 97 × 8770412 + 69, and 97 − 69 = 28.
        let id = parse(Country::Belgium, "85.07.30-033.28").unwrap();
        assert_eq!(id.country(), Country::Belgium);
        assert_eq!(id.normalized(), "BE:85073003328");
        assert_eq!(id.value(), "85073003328");
        assert_eq!(id.masked(), "•••••••3328");
        assert_eq!(parse(Country::Belgium, "85073003328"), Ok(id.clone()));
        assert_eq!(parse(Country::Belgium, "850730 033 28"), Ok(id));
        // The same nine digits read as a 2085 birth would need 2850730033 = 97 × 29388969
        // + 40, check 57; both 28 and 57 are accepted, nothing else is.
        assert!(parse(Country::Belgium, "85073003357").is_ok());
        assert_eq!(parse(Country::Belgium, "85073003329"), Err(E::CheckDigits));
        assert_eq!(parse(Country::Belgium, "85073003382"), Err(E::CheckDigits));
    }

    #[test]
    fn belgian_born_from_2000_uses_the_2_prefix() {
        // Born 2001-02-03, order 123: 2010203123 = 97 × 20723743 + 52, check 97 − 52 = 45.
        // Without the prefix, 010203123 = 97 × 105186 + 81 would give 16 (a 1901 birth).
        let id = parse(Country::Belgium, "01.02.03-123.45").unwrap();
        assert_eq!(id.normalized(), "BE:01020312345");
        assert!(parse(Country::Belgium, "01.02.03-123.16").is_ok());
        assert_eq!(
            parse(Country::Belgium, "01.02.03-123.46"),
            Err(E::CheckDigits)
        );
    }

    #[test]
    fn belgian_remainder_zero_is_written_97_and_bis_months_are_accepted() {
        // 850730061 = 97 × 8770413 exactly: the check is 97 − 0 = 97.
        assert!(parse(Country::Belgium, "85.07.30-061.97").is_ok());
        assert_eq!(
            parse(Country::Belgium, "85.07.30-061.00"),
            Err(E::CheckDigits)
        );
        // BIS number, sex known (month + 40): 854030033 = 97 × 8804433 + 32, check 65.
        assert!(parse(Country::Belgium, "85.40.30-033.65").is_ok());
        // Unknown birth date, month and day 0: 850000033 = 97 × 8762886 + 91, check 6.
        assert!(parse(Country::Belgium, "85.00.00-033.06").is_ok());
    }

    #[test]
    fn belgian_bad_dates_and_shapes() {
        // Month 13 with a matching check (851330033 → 70): the month is what is wrong.
        assert_eq!(
            parse(Country::Belgium, "85.13.30-033.70"),
            Err(E::BirthMonth)
        );
        assert_eq!(
            parse(Country::Belgium, "85.33.30-033.00"),
            Err(E::BirthMonth)
        );
        assert_eq!(
            parse(Country::Belgium, "85.53.30-033.00"),
            Err(E::BirthMonth)
        );
        // Day 32 with a matching check (850732033 → 65).
        assert_eq!(parse(Country::Belgium, "85.07.32-033.65"), Err(E::BirthDay));
        let short = parse(Country::Belgium, "85.07.30-033.2").unwrap_err();
        assert_eq!(short, E::WrongLength(Country::Belgium));
        assert_eq!(short.to_string(), "a Belgian national number has 11 digits");
        assert_eq!(
            parse(Country::Belgium, "85.07.30-033.280"),
            Err(E::WrongLength(Country::Belgium))
        );
        assert_eq!(
            parse(Country::Belgium, "85.07.30-O33.28"),
            Err(E::UnexpectedCharacter(Country::Belgium))
        );
        assert_eq!(parse(Country::Belgium, ""), Err(E::Empty));
        assert_eq!(parse(Country::Belgium, " . - / "), Err(E::Empty));
    }

    #[test]
    fn french_nir_example() {
        // 1 85 07 75 115 423, key 87: 1850775115423 = 97 × 19080155829 + 10, 97 − 10 = 87.
        let id = parse(Country::France, "1 85 07 75 115 423 87").unwrap();
        assert_eq!(id.normalized(), "FR:185077511542387");
        assert_eq!(id.masked(), "•••••••••••2387");
        assert_eq!(
            parse(Country::France, "1.85.07.75.115.423-88"),
            Err(E::CheckDigits)
        );
        // Pseudo-months: 30 (1853075115423 → 67) and 99 (1859975115423 → 7).
        assert!(parse(Country::France, "1 85 30 75 115 423 67").is_ok());
        assert!(parse(Country::France, "1 85 99 75 115 423 07").is_ok());
        // Temporary numbers start with 7 or 8: 7850775115423 = 97 × 80935825932 + 19, key 78.
        assert!(parse(Country::France, "7 85 07 75 115 423 78").is_ok());
        assert_eq!(
            parse(Country::France, "7 85 07 75 115 423 87"),
            Err(E::CheckDigits)
        );
    }

    #[test]
    fn french_nir_corsica() {
        // 2 90 03 2A 004 012: with 2A → 19, 2900319004012 = 97 × 29900195917 + 63, key 34.
        let a = parse(Country::France, "2 90 03 2A 004 012 34").unwrap();
        assert_eq!(a.normalized(), "FR:290032A00401234");
        assert_eq!(parse(Country::France, "2 90 03 2a 004 012 34"), Ok(a));
        // 2 90 03 2B 004 012: with 2B → 18, 2900318004012 = 97 × 29900185608 + 36, key 61.
        let b = parse(Country::France, "290032b00401261").unwrap();
        assert_eq!(b.normalized(), "FR:290032B00401261");
        // Each Corsican key belongs to its own department only.
        assert_eq!(
            parse(Country::France, "290032A00401261"),
            Err(E::CheckDigits)
        );
        assert_eq!(
            parse(Country::France, "290032B00401234"),
            Err(E::CheckDigits)
        );
        // Letters anywhere else, or after a digit other than 2, are refused.
        for bad in [
            "290033A00401234",
            "2900323A0401234",
            "29003AA00401234",
            "A90032A00401234",
            "29003200401234A",
            "2 90 03 2C 004 012 34",
        ] {
            assert_eq!(
                parse(Country::France, bad),
                Err(E::UnexpectedCharacter(Country::France)),
                "{bad}"
            );
        }
        // Only France allows the letters.
        assert_eq!(
            parse(Country::Belgium, "85.07.3A-033.28"),
            Err(E::UnexpectedCharacter(Country::Belgium))
        );
    }

    #[test]
    fn french_nir_bad_fields() {
        // Keys below are the matching ones, so the field, not the key, is what is refused.
        // Month 13 (1851375115423 → 86), 00 (→ 72), 43 (→ 81).
        assert_eq!(
            parse(Country::France, "185137511542386"),
            Err(E::BirthMonth)
        );
        assert_eq!(
            parse(Country::France, "185007511542372"),
            Err(E::BirthMonth)
        );
        assert_eq!(
            parse(Country::France, "185437511542381"),
            Err(E::BirthMonth)
        );
        // First digit 5 (5850775115423 → 81).
        assert_eq!(
            parse(Country::France, "585077511542381"),
            Err(E::FirstDigit)
        );
        let err = parse(Country::France, "1850775115423").unwrap_err();
        assert_eq!(err, E::WrongLength(Country::France));
        assert!(err.to_string().contains("15 characters"));
    }

    #[test]
    fn romanian_cnp_examples() {
        // 1 85 07 30 12 345: 1·2 + 8·7 + 5·9 + 0·1 + 7·4 + 3·6 + 0·3 + 1·5 + 2·8 + 3·2 + 4·7
        // + 5·9 = 2 + 56 + 45 + 0 + 28 + 18 + 0 + 5 + 16 + 6 + 28 + 45 = 249 = 11 × 22 + 7.
        let id = parse(Country::Romania, "1850730123457").unwrap();
        assert_eq!(id.normalized(), "RO:1850730123457");
        assert_eq!(id.masked(), "•••••••••3457");
        // 2 98 02 28 29 001: 4 + 63 + 72 + 0 + 8 + 12 + 24 + 10 + 72 + 0 + 0 + 9 = 274
        // = 11 × 24 + 10, and a remainder of 10 is written as 1.
        assert!(parse(Country::Romania, "2980228290011").is_ok());
        assert_eq!(
            parse(Country::Romania, "2980228290010"),
            Err(E::CheckDigits)
        );
        assert_eq!(
            parse(Country::Romania, "1850730123458"),
            Err(E::CheckDigits)
        );
        // County 70 (185073070345 → 1).
        assert!(parse(Country::Romania, "1850730703451").is_ok());
    }

    #[test]
    fn romanian_cnp_bad_fields() {
        // Each with its matching control digit, so the field is what is refused.
        assert_eq!(parse(Country::Romania, "0850730123455"), Err(E::FirstDigit));
        assert_eq!(parse(Country::Romania, "1851330123453"), Err(E::BirthMonth));
        assert_eq!(parse(Country::Romania, "1850230123459"), Err(E::BirthDay)); // 30 Feb
        assert_eq!(parse(Country::Romania, "1850431123459"), Err(E::BirthDay)); // 31 Apr
        assert_eq!(parse(Country::Romania, "1850700123450"), Err(E::BirthDay));
        assert_eq!(parse(Country::Romania, "1850730533452"), Err(E::County));
        assert_eq!(parse(Country::Romania, "1850730003458"), Err(E::County));
        assert_eq!(parse(Country::Romania, "1850730843453"), Err(E::County));
        assert!(parse(Country::Romania, "1850730833456").is_ok());
        assert_eq!(
            parse(Country::Romania, "185073012345"),
            Err(E::WrongLength(Country::Romania))
        );
    }

    #[test]
    fn nhs_number_example() {
        // 943 476 5919: 9·10 + 4·9 + 3·8 + 4·7 + 7·6 + 6·5 + 5·4 + 9·3 + 1·2 = 299
        // = 11 × 27 + 2, and 11 − 2 = 9.
        let id = parse(Country::UnitedKingdom, "943 476 5919").unwrap();
        assert_eq!(id.normalized(), "GB:9434765919");
        assert_eq!(id.masked(), "••••••5919");
        assert_eq!(
            parse(Country::UnitedKingdom, "943-476-5918"),
            Err(E::CheckDigits)
        );
        // Swapping two digits is caught.
        assert_eq!(
            parse(Country::UnitedKingdom, "943 476 9519"),
            Err(E::CheckDigits)
        );
        let err = parse(Country::UnitedKingdom, "943 476 591").unwrap_err();
        assert_eq!(err.to_string(), "an NHS number has 10 digits");
    }

    #[test]
    fn nhs_prefix_whose_check_would_be_10_has_no_valid_number() {
        // 943476503 weighs to a remainder of 1, so 11 − 1 = 10: no check digit is valid.
        for last in 0..=9 {
            assert_eq!(
                parse(Country::UnitedKingdom, &format!("943476503{last}")),
                Err(E::CheckDigits)
            );
        }
    }

    #[test]
    fn debug_and_display_do_not_reveal_the_number() {
        let id = parse(Country::Belgium, "85.07.30-033.28").unwrap();
        let debug = format!("{id:?}");
        let display = id.to_string();
        for text in [&debug, &display] {
            assert!(!text.contains("850730"), "{text}");
            assert!(text.contains("3328"), "{text}");
        }
        assert!(debug.contains("Belgium"), "{debug}");
        assert_eq!(display, "BE •••••••3328");
    }

    #[test]
    fn error_messages_never_echo_the_input() {
        let inputs = [
            (Country::Belgium, "85.07.30-033.29"),
            (Country::Belgium, "85.13.30-033.70"),
            (Country::Belgium, "85073003328999"),
            (Country::France, "1 85 07 75 115 423 88"),
            (Country::France, "1 85 07 75 115 42Z 87"),
            (Country::Romania, "1850230123459"),
            (Country::UnitedKingdom, "9434765918"),
        ];
        for (country, input) in inputs {
            let message = parse(country, input).unwrap_err().to_string();
            assert!(!message.is_empty());
            // No run of four of the input's characters appears in the message.
            let value: Vec<char> = input.chars().filter(char::is_ascii_alphanumeric).collect();
            for window in value.windows(4) {
                let run: String = window.iter().collect();
                assert!(!message.contains(&run), "{message}");
            }
        }
    }
}
