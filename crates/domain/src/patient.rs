//! A patient's demographics, parsed at the edge, and the normalized keys used for exact
//! lookup (which the server turns into keyed blind indexes; it never stores them in clear).

use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// FHIR R4 administrative gender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdministrativeSex {
    Female,
    Male,
    Other,
    Unknown,
}

/// Name, birth date and administrative sex, validated.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographics {
    family_name: String,
    given_names: String,
    /// `YYYY-MM-DD`.
    birth_date: String,
    sex: AdministrativeSex,
}

impl std::fmt::Debug for Demographics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Demographics(…)")
    }
}

/// What was wrong with the demographics given. Never echoes them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidDemographics {
    #[error("the family name is required (1 to 100 characters, letters, spaces, hyphens and apostrophes)")]
    FamilyName,
    #[error("the given names must be at most 100 characters of letters, spaces, hyphens and apostrophes")]
    GivenNames,
    #[error("the birth date must be a real date written YYYY-MM-DD, not in the future")]
    BirthDate,
}

fn name_ok(s: &str) -> bool {
    s.chars().count() <= 100
        && s.chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'' || c == '’' || c == '.')
}

/// A valid `YYYY-MM-DD` date from 1850 until `today` (inclusive, same format).
pub fn valid_birth_date(s: &str, today: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1850..=9999).contains(&y) && (1..=days).contains(&d) && s <= today
}

impl Demographics {
    /// `today` is `YYYY-MM-DD` from the caller's clock.
    pub fn new(
        family_name: &str,
        given_names: &str,
        birth_date: &str,
        sex: AdministrativeSex,
        today: &str,
    ) -> Result<Demographics, InvalidDemographics> {
        let family: String = family_name.nfc().collect::<String>().trim().to_owned();
        let given: String = given_names.nfc().collect::<String>().trim().to_owned();
        if family.is_empty() || !name_ok(&family) {
            return Err(InvalidDemographics::FamilyName);
        }
        if !name_ok(&given) {
            return Err(InvalidDemographics::GivenNames);
        }
        let birth = birth_date.trim();
        if !valid_birth_date(birth, today) {
            return Err(InvalidDemographics::BirthDate);
        }
        Ok(Demographics {
            family_name: family,
            given_names: given,
            birth_date: birth.to_owned(),
            sex,
        })
    }

    pub fn family_name(&self) -> &str {
        &self.family_name
    }
    pub fn given_names(&self) -> &str {
        &self.given_names
    }
    pub fn birth_date(&self) -> &str {
        &self.birth_date
    }
    pub fn sex(&self) -> AdministrativeSex {
        self.sex
    }

    /// The key for "same family name and birth date", for duplicate detection and search.
    pub fn name_birth_key(&self) -> String {
        name_birth_key(&self.family_name, &self.birth_date)
    }
}

/// Case-, accent- and spacing-insensitive form of a name: "Müller-Lüdenscheidt " and
/// "MULLER LUDENSCHEIDT" give the same key.
pub fn normalize_name(name: &str) -> String {
    let folded: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphabetic() { c } else { ' ' })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The lookup key for a family name and a birth date.
pub fn name_birth_key(family_name: &str, birth_date: &str) -> String {
    format!("{}\u{0}{}", normalize_name(family_name), birth_date.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_case_accents_and_punctuation() {
        assert_eq!(
            normalize_name(" Müller-Lüdenscheidt "),
            "muller ludenscheidt"
        );
        assert_eq!(
            normalize_name("MULLER  LUDENSCHEIDT"),
            "muller ludenscheidt"
        );
        assert_eq!(normalize_name("Ionescu"), normalize_name("IONESCU"));
        assert_eq!(
            name_birth_key("Dupont", "1980-02-29"),
            name_birth_key("DUPONT", " 1980-02-29")
        );
    }

    #[test]
    fn demographics_are_checked() {
        let today = "2026-11-24";
        let ok = Demographics::new(
            "Dupont",
            "Marie",
            "1980-02-29",
            AdministrativeSex::Female,
            today,
        );
        assert!(ok.is_ok());
        assert_eq!(
            Demographics::new("", "Marie", "1980-01-01", AdministrativeSex::Female, today),
            Err(InvalidDemographics::FamilyName)
        );
        assert_eq!(
            Demographics::new(
                "Dupont<script>",
                "",
                "1980-01-01",
                AdministrativeSex::Male,
                today
            ),
            Err(InvalidDemographics::FamilyName)
        );
        for bad in [
            "1981-02-29",
            "1980-13-01",
            "1980-1-01",
            "2027-01-01",
            "1700-01-01",
            "abcd-ef-gh",
        ] {
            assert_eq!(
                Demographics::new("Dupont", "", bad, AdministrativeSex::Male, today),
                Err(InvalidDemographics::BirthDate),
                "{bad}"
            );
        }
        assert!(!format!("{:?}", ok).contains("Dupont"));
    }
}
