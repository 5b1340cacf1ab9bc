//! Leak prevention for secure messages: the checks a message passes before it leaves, and the
//! level at which each one speaks (a suggestion, a warning the sender must confirm, or an error
//! that blocks).
//!
//! Everything here is pure and runs on the server: the use case gathers the facts (who the
//! recipients are, whom the sender has written to before, whether each staff recipient has a
//! care relationship with the thread's patient, the patient's names) and [`check`] answers with
//! findings. A finding names the rule and, where it helps, the recipient it concerns; it never
//! repeats the text that matched, so a national number or a patient's name found in a subject
//! does not travel on in an error message or the audit log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::patient_identifier::{Country, NationalIdentifier};

/// One leak-prevention rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakRule {
    /// The sender has never written to this outside address.
    FirstOutsideAddress,
    /// A recipient closely resembles someone the sender writes to often ("did you mean …?").
    ResemblesFrequentRecipient,
    /// A national identifier with a valid check (Belgian, French, Romanian, NHS) in the
    /// subject or in a text that goes out as a notification.
    NationalIdentifierInSubject,
    /// The thread's patient's name in the subject or a notification text.
    PatientNameInSubject,
    /// Several outside recipients who would see each other's addresses.
    OutsideRecipientsSeeEachOther,
    /// A recipient with no care relationship or grant for the thread's patient.
    NoCareRelationship,
    /// An attachment for an outside recipient without a recorded consent or legal basis.
    AttachmentWithoutLegalBasis,
}

impl LeakRule {
    pub const ALL: [LeakRule; 7] = [
        LeakRule::FirstOutsideAddress,
        LeakRule::ResemblesFrequentRecipient,
        LeakRule::NationalIdentifierInSubject,
        LeakRule::PatientNameInSubject,
        LeakRule::OutsideRecipientsSeeEachOther,
        LeakRule::NoCareRelationship,
        LeakRule::AttachmentWithoutLegalBasis,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LeakRule::FirstOutsideAddress => "first_outside_address",
            LeakRule::ResemblesFrequentRecipient => "resembles_frequent_recipient",
            LeakRule::NationalIdentifierInSubject => "national_identifier_in_subject",
            LeakRule::PatientNameInSubject => "patient_name_in_subject",
            LeakRule::OutsideRecipientsSeeEachOther => "outside_recipients_see_each_other",
            LeakRule::NoCareRelationship => "no_care_relationship",
            LeakRule::AttachmentWithoutLegalBasis => "attachment_without_legal_basis",
        }
    }

    pub fn parse(s: &str) -> Option<LeakRule> {
        LeakRule::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The level a new installation starts with: what can expose data to the wrong person
    /// blocks; what is often right but worth a second look asks for confirmation.
    pub const fn default_level(self) -> LeakLevel {
        match self {
            LeakRule::FirstOutsideAddress => LeakLevel::Warning,
            LeakRule::ResemblesFrequentRecipient => LeakLevel::Warning,
            LeakRule::NationalIdentifierInSubject => LeakLevel::Error,
            LeakRule::PatientNameInSubject => LeakLevel::Error,
            LeakRule::OutsideRecipientsSeeEachOther => LeakLevel::Suggestion,
            LeakRule::NoCareRelationship => LeakLevel::Error,
            LeakRule::AttachmentWithoutLegalBasis => LeakLevel::Error,
        }
    }

    /// What the sender reads, without repeating what matched.
    pub fn explanation(self) -> &'static str {
        match self {
            LeakRule::FirstOutsideAddress => {
                "you have never written to this outside address; check that it is right"
            }
            LeakRule::ResemblesFrequentRecipient => {
                "this recipient closely resembles someone you write to often"
            }
            LeakRule::NationalIdentifierInSubject => {
                "the subject contains a national identification number; subjects travel further \
                 than message bodies, so leave it out"
            }
            LeakRule::PatientNameInSubject => {
                "the subject contains the patient's name; subjects travel further than message \
                 bodies, so leave it out"
            }
            LeakRule::OutsideRecipientsSeeEachOther => {
                "these outside recipients would see each other; consider one message each"
            }
            LeakRule::NoCareRelationship => {
                "this recipient has no care relationship or grant for the thread's patient"
            }
            LeakRule::AttachmentWithoutLegalBasis => {
                "an attachment would go to an outside recipient, but no consent or legal basis is \
                 recorded for this message"
            }
        }
    }
}

/// How loudly a rule speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakLevel {
    Off,
    /// Shown; the message goes.
    Suggestion,
    /// The message goes only once the sender confirms this finding.
    Warning,
    /// The message does not go.
    Error,
}

impl LeakLevel {
    pub fn parse(s: &str) -> Option<LeakLevel> {
        match s {
            "off" => Some(LeakLevel::Off),
            "suggestion" => Some(LeakLevel::Suggestion),
            "warning" => Some(LeakLevel::Warning),
            "error" => Some(LeakLevel::Error),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            LeakLevel::Off => "off",
            LeakLevel::Suggestion => "suggestion",
            LeakLevel::Warning => "warning",
            LeakLevel::Error => "error",
        }
    }
}

/// The organization's level for each rule (the default where not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeakLevels(BTreeMap<LeakRule, LeakLevel>);

impl LeakLevels {
    pub fn set(&mut self, rule: LeakRule, level: LeakLevel) {
        self.0.insert(rule, level);
    }

    pub fn of(&self, rule: LeakRule) -> LeakLevel {
        self.0
            .get(&rule)
            .copied()
            .unwrap_or_else(|| rule.default_level())
    }
}

/// A recipient of a draft, as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftRecipient {
    /// The participant address (`user:<id>`, `department:<id>`, `patient:<id>`,
    /// `outside:<address>`).
    pub address: String,
    /// What the sender sees and types: a display name, a department's name, an e-mail address.
    pub label: String,
    pub kind: RecipientKind,
    /// For a staff member or department on a thread linked to a patient: whether they stand in
    /// a care relationship or hold a grant (None when the thread has no patient).
    pub has_care: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientKind {
    Staff,
    Department,
    Patient,
    Outside,
}

/// Someone the sender has written to, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRecipient {
    pub address: String,
    pub label: String,
    pub messages: u32,
}

/// Everything the checks look at.
#[derive(Debug, Clone, Default)]
pub struct Draft<'a> {
    pub subject: &'a str,
    /// Any other text that leaves the server as a notification (none today: notices carry no
    /// content; kept so a future notice text is checked like a subject).
    pub notification_texts: Vec<&'a str>,
    /// The recipients this message adds or reaches that the sender chose now.
    pub recipients: Vec<DraftRecipient>,
    /// Outside participants already on the thread (they see new outside recipients too).
    pub outside_on_thread: usize,
    /// The thread's patient's family and given names, when the thread is linked to one.
    pub patient_names: Vec<String>,
    pub has_attachments: bool,
    /// A consent or legal basis recorded with the message.
    pub legal_basis: Option<&'a str>,
    /// Whom the sender has written to before.
    pub history: &'a [KnownRecipient],
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: LeakRule,
    pub level: LeakLevel,
    /// The recipient it concerns, by the label the sender chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// "Did you mean …?": the label of the frequent recipient this one resembles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
    pub message: &'static str,
}

/// A recipient written to at least this often counts as frequent.
pub const FREQUENT: u32 = 3;

/// Run every rule over `draft` at the organization's `levels`. Findings come in rule order.
pub fn check(draft: &Draft<'_>, levels: &LeakLevels) -> Vec<Finding> {
    let mut found: Vec<(LeakRule, Option<String>, Option<String>)> = Vec::new();
    let outside: Vec<&DraftRecipient> = draft
        .recipients
        .iter()
        .filter(|r| r.kind == RecipientKind::Outside)
        .collect();

    for r in &outside {
        if !draft.history.iter().any(|k| k.address == r.address) {
            found.push((LeakRule::FirstOutsideAddress, Some(r.label.clone()), None));
        }
    }
    for r in &draft.recipients {
        if draft.history.iter().any(|k| k.address == r.address) {
            continue;
        }
        if let Some(similar) = resembles(r, draft.history) {
            found.push((
                LeakRule::ResemblesFrequentRecipient,
                Some(r.label.clone()),
                Some(similar.label.clone()),
            ));
        }
    }
    let texts: Vec<&str> = std::iter::once(draft.subject)
        .chain(draft.notification_texts.iter().copied())
        .collect();
    if texts.iter().any(|t| contains_national_identifier(t)) {
        found.push((LeakRule::NationalIdentifierInSubject, None, None));
    }
    if texts.iter().any(|t| contains_name(t, &draft.patient_names)) {
        found.push((LeakRule::PatientNameInSubject, None, None));
    }
    if outside.len() + draft.outside_on_thread > 1 && !outside.is_empty() {
        found.push((LeakRule::OutsideRecipientsSeeEachOther, None, None));
    }
    for r in &draft.recipients {
        if r.has_care == Some(false) {
            found.push((LeakRule::NoCareRelationship, Some(r.label.clone()), None));
        }
    }
    if draft.has_attachments
        && !outside.is_empty()
        && draft.legal_basis.is_none_or(|b| b.trim().is_empty())
    {
        found.push((LeakRule::AttachmentWithoutLegalBasis, None, None));
    }

    found
        .into_iter()
        .filter_map(|(rule, recipient, did_you_mean)| {
            let level = levels.of(rule);
            (level != LeakLevel::Off).then(|| Finding {
                rule,
                level,
                recipient,
                did_you_mean,
                message: rule.explanation(),
            })
        })
        .collect()
}

/// A frequent recipient the candidate resembles without being them: an address or name at a
/// small edit distance (two for longer ones, one for short ones), compared case-insensitively.
fn resembles<'h>(
    candidate: &DraftRecipient,
    history: &'h [KnownRecipient],
) -> Option<&'h KnownRecipient> {
    let label = candidate.label.to_lowercase();
    history
        .iter()
        .filter(|k| k.messages >= FREQUENT && k.address != candidate.address)
        .filter(|k| {
            let known = k.label.to_lowercase();
            let limit = if known.chars().count() >= 8 { 2 } else { 1 };
            // An identical name on another address is the riskiest look-alike of all.
            strsim::damerau_levenshtein(&known, &label) <= limit
        })
        .max_by_key(|k| k.messages)
}

/// Whether `text` holds a Belgian national number, a French NIR, a Romanian CNP or an NHS
/// number whose check digits are right, written as one token or in the groups each is printed
/// in (NHS `943 476 5919`, Belgian `85.07.30-033.28`, NIR `2 55 08 14 168 025 38`), with any
/// whitespace (a non-breaking space from a PDF too), dots, dashes or slashes between groups.
/// Other digit groups (a date and a time, a phone number) are not joined up, so they do not
/// pass for an identifier by chance.
pub fn contains_national_identifier(text: &str) -> bool {
    candidates(text).iter().any(|c| {
        Country::ALL
            .into_iter()
            .any(|country| NationalIdentifier::parse(country, c).is_ok())
    })
}

/// How each identifier is printed, as the lengths of its groups.
const GROUPINGS: &[&[usize]] = &[
    // One token: NHS, Belgian, CNP, NIR without or with its key apart.
    &[10],
    &[11],
    &[13],
    &[15],
    &[13, 2],
    // NHS 3-3-4.
    &[3, 3, 4],
    // Belgian YY.MM.DD-SSS.CC and its variants.
    &[2, 2, 2, 3, 2],
    &[6, 3, 2],
    &[6, 5],
    &[2, 2, 2, 5],
    // NIR S YY MM DD CCC NNN KK (the department may be 2A or 2B).
    &[1, 2, 2, 2, 3, 3, 2],
];

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '.' | '-' | '/' | '\u{2010}' | '\u{2011}' | '\u{2013}')
}

/// Runs of digit groups (the letters A/B allowed inside a group, for Corsican NIRs) separated
/// by separators, and every span of a run whose group lengths are a known printing.
fn candidates(text: &str) -> Vec<String> {
    let mut runs: Vec<Vec<String>> = vec![Vec::new()];
    let mut group = String::new();
    for ch in text.chars().chain(std::iter::once('\n')) {
        let letter = matches!(ch, 'A' | 'B' | 'a' | 'b') && !group.is_empty();
        if ch.is_ascii_digit() || letter {
            group.push(ch);
            continue;
        }
        if !group.is_empty() {
            if let Some(run) = runs.last_mut() {
                run.push(std::mem::take(&mut group));
            }
        }
        // A separator keeps the run going (several in a row count as one); anything else ends it.
        if !is_separator(ch) || ch == '\n' {
            runs.push(Vec::new());
        }
    }
    let mut out = Vec::new();
    for run in runs.into_iter().filter(|r| !r.is_empty()) {
        for start in 0..run.len() {
            for grouping in GROUPINGS {
                let end = start + grouping.len();
                if end <= run.len()
                    && run[start..end]
                        .iter()
                        .zip(grouping.iter())
                        .all(|(g, len)| g.len() == *len)
                {
                    out.push(run[start..end].concat());
                }
            }
        }
    }
    out
}

/// Name particles that are words of their own in many subjects.
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "del", "de", "la", "le", "du", "da", "di", "ten", "ter", "des",
];

/// Lower case without diacritics ("Lefèvre" → "lefevre").
fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether any part of the patient's names (two letters or more, not a particle) appears in
/// `text` as a whole word, compared without case or accents; a possessive ("Dupont's") counts.
fn contains_name(text: &str, names: &[String]) -> bool {
    let words: Vec<String> = fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    names
        .iter()
        .flat_map(|n| {
            fold(n)
                .split(|c: char| !c.is_alphanumeric())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|part| part.chars().count() >= 2 && !PARTICLES.contains(&part.as_str()))
        .any(|part| words.contains(&part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outside(address: &str) -> DraftRecipient {
        DraftRecipient {
            address: format!("outside:{address}"),
            label: address.into(),
            kind: RecipientKind::Outside,
            has_care: None,
        }
    }

    fn staff(id: &str, name: &str, has_care: Option<bool>) -> DraftRecipient {
        DraftRecipient {
            address: format!("user:{id}"),
            label: name.into(),
            kind: RecipientKind::Staff,
            has_care,
        }
    }

    fn known(address: &str, label: &str, messages: u32) -> KnownRecipient {
        KnownRecipient {
            address: address.into(),
            label: label.into(),
            messages,
        }
    }

    type Expected = Vec<(LeakRule, LeakLevel)>;

    fn rules(findings: &[Finding]) -> Expected {
        findings.iter().map(|f| (f.rule, f.level)).collect()
    }

    /// The table of leak-rule cases: each draft, and what the default levels make of it.
    #[test]
    fn leak_rule_cases() {
        use LeakLevel::*;
        use LeakRule::*;
        let history = vec![
            known(
                "outside:dr.janssens@azgroeninge.be",
                "dr.janssens@azgroeninge.be",
                12,
            ),
            known("outside:lab@synlab.be", "lab@synlab.be", 1),
            known("user:u-peeters", "Anna Peeters", 7),
        ];
        let names = vec!["Dupont".to_owned(), "Marie Claire".to_owned()];
        let base = Draft {
            subject: "Follow-up after discharge",
            history: &history,
            patient_names: names.clone(),
            ..Draft::default()
        };
        let cases: Vec<(&str, Draft<'_>, Expected)> = vec![
            (
                "a known outside address, a harmless subject",
                Draft {
                    recipients: vec![outside("dr.janssens@azgroeninge.be")],
                    ..base.clone()
                },
                vec![],
            ),
            (
                "a first outside address",
                Draft {
                    recipients: vec![outside("gp.martin@medinet.fr")],
                    ..base.clone()
                },
                vec![(FirstOutsideAddress, Warning)],
            ),
            (
                "a typo of a frequent recipient's address",
                Draft {
                    recipients: vec![outside("dr.jansens@azgroeninge.be")],
                    ..base.clone()
                },
                vec![
                    (FirstOutsideAddress, Warning),
                    (ResemblesFrequentRecipient, Warning),
                ],
            ),
            (
                "an address like a rare recipient's is not flagged",
                Draft {
                    recipients: vec![outside("lab@synlab.de")],
                    ..base.clone()
                },
                vec![(FirstOutsideAddress, Warning)],
            ),
            (
                "a colleague whose name resembles a frequent one",
                Draft {
                    recipients: vec![staff("u-peters", "Anna Peters", None)],
                    ..base.clone()
                },
                vec![(ResemblesFrequentRecipient, Warning)],
            ),
            (
                "a Belgian national number in the subject",
                Draft {
                    subject: "Results for 85.07.30-033.28",
                    ..base.clone()
                },
                vec![(NationalIdentifierInSubject, Error)],
            ),
            (
                "a French NIR typed with spaces",
                Draft {
                    subject: "NIR 2 55 08 14 168 025 38 bilan",
                    ..base.clone()
                },
                vec![(NationalIdentifierInSubject, Error)],
            ),
            (
                "a Romanian CNP",
                Draft {
                    subject: "Pacient 1800101221144",
                    ..base.clone()
                },
                vec![(NationalIdentifierInSubject, Error)],
            ),
            (
                "an NHS number",
                Draft {
                    subject: "Referral 943 476 5919",
                    ..base.clone()
                },
                vec![(NationalIdentifierInSubject, Error)],
            ),
            (
                "a number with a wrong check digit is not an identifier",
                Draft {
                    subject: "Order 943 476 5918",
                    ..base.clone()
                },
                vec![],
            ),
            (
                "the patient's name in the subject",
                Draft {
                    subject: "Mrs DUPONT, echo tomorrow",
                    ..base.clone()
                },
                vec![(PatientNameInSubject, Error)],
            ),
            (
                "a date and a time are not an NHS number",
                Draft {
                    subject: "Meeting 01/01/2025 12:00, room 4",
                    ..base.clone()
                },
                vec![],
            ),
            (
                "a phone number is not an identifier",
                Draft {
                    subject: "Call back on 0470 12 34 56 or 02 555 01 01",
                    ..base.clone()
                },
                vec![],
            ),
            (
                "a NIR pasted with non-breaking spaces",
                Draft {
                    subject: "Bilan NIR 2\u{a0}55\u{a0}08\u{a0}14\u{a0}168\u{a0}025\u{a0}38",
                    ..base.clone()
                },
                vec![(NationalIdentifierInSubject, Error)],
            ),
            (
                "a Belgian number with spaced separators",
                Draft {
                    subject: "Results 85.07.30 - 033.28",
                    ..base.clone()
                },
                vec![(NationalIdentifierInSubject, Error)],
            ),
            (
                "the patient's name as a possessive, without its accent",
                Draft {
                    subject: "Dupont's echo",
                    patient_names: vec!["Lefèvre".into(), "Dupont".into()],
                    ..base.clone()
                },
                vec![(PatientNameInSubject, Error)],
            ),
            (
                "a name typed without its accent",
                Draft {
                    subject: "Mme Lefevre, bilan",
                    patient_names: vec!["Lefèvre".into(), "Anne".into()],
                    ..base.clone()
                },
                vec![(PatientNameInSubject, Error)],
            ),
            (
                "a particle of the name alone is not the name",
                Draft {
                    subject: "Van transport tomorrow",
                    patient_names: vec!["Van Damme".into(), "Jean".into()],
                    ..base.clone()
                },
                vec![],
            ),
            (
                "a two-letter family name is a name",
                Draft {
                    subject: "Ms Li, follow-up",
                    patient_names: vec!["Li".into(), "Mei".into()],
                    ..base.clone()
                },
                vec![(PatientNameInSubject, Error)],
            ),
            (
                "a colleague with the very name of a frequent one, at another address",
                Draft {
                    recipients: vec![staff("u-peeters-2", "Anna Peeters", None)],
                    ..base.clone()
                },
                vec![(ResemblesFrequentRecipient, Warning)],
            ),
            (
                "a name inside another word is not the name",
                Draft {
                    subject: "Dupontel protocol",
                    ..base.clone()
                },
                vec![],
            ),
            (
                "a national number in a notification text",
                Draft {
                    notification_texts: vec!["New message about 85073003328"],
                    ..base.clone()
                },
                vec![(NationalIdentifierInSubject, Error)],
            ),
            (
                "two outside recipients see each other",
                Draft {
                    recipients: vec![
                        outside("dr.janssens@azgroeninge.be"),
                        outside("lab@synlab.be"),
                    ],
                    ..base.clone()
                },
                vec![(OutsideRecipientsSeeEachOther, Suggestion)],
            ),
            (
                "an outside recipient added where one already is",
                Draft {
                    recipients: vec![outside("lab@synlab.be")],
                    outside_on_thread: 1,
                    ..base.clone()
                },
                vec![(OutsideRecipientsSeeEachOther, Suggestion)],
            ),
            (
                "a colleague without a care relationship",
                Draft {
                    recipients: vec![staff("u-peeters", "Anna Peeters", Some(false))],
                    ..base.clone()
                },
                vec![(NoCareRelationship, Error)],
            ),
            (
                "a colleague in the patient's care",
                Draft {
                    recipients: vec![staff("u-peeters", "Anna Peeters", Some(true))],
                    ..base.clone()
                },
                vec![],
            ),
            (
                "an attachment for outside without a legal basis",
                Draft {
                    recipients: vec![outside("dr.janssens@azgroeninge.be")],
                    has_attachments: true,
                    ..base.clone()
                },
                vec![(AttachmentWithoutLegalBasis, Error)],
            ),
            (
                "an attachment for outside with the patient's consent recorded",
                Draft {
                    recipients: vec![outside("dr.janssens@azgroeninge.be")],
                    has_attachments: true,
                    legal_basis: Some("patient_consent"),
                    ..base.clone()
                },
                vec![],
            ),
            (
                "an attachment between colleagues needs no legal basis",
                Draft {
                    recipients: vec![staff("u-peeters", "Anna Peeters", Some(true))],
                    has_attachments: true,
                    ..base.clone()
                },
                vec![],
            ),
        ];
        let levels = LeakLevels::default();
        for (name, draft, expected) in cases {
            assert_eq!(rules(&check(&draft, &levels)), expected, "{name}");
        }
    }

    #[test]
    fn the_organization_sets_each_rules_level() {
        let draft = Draft {
            subject: "Dupont",
            patient_names: vec!["Dupont".into()],
            recipients: vec![outside("new@example.org")],
            ..Draft::default()
        };
        let mut levels = LeakLevels::default();
        levels.set(LeakRule::PatientNameInSubject, LeakLevel::Warning);
        levels.set(LeakRule::FirstOutsideAddress, LeakLevel::Off);
        assert_eq!(
            rules(&check(&draft, &levels)),
            vec![(LeakRule::PatientNameInSubject, LeakLevel::Warning)]
        );
    }

    #[test]
    fn findings_never_repeat_what_matched() {
        let draft = Draft {
            subject: "Dupont 85.07.30-033.28",
            patient_names: vec!["Dupont".into()],
            ..Draft::default()
        };
        let text = serde_json::to_string(&check(&draft, &LeakLevels::default())).unwrap();
        assert!(!text.contains("Dupont") && !text.contains("85"), "{text}");
    }

    #[test]
    fn a_typo_is_offered_as_did_you_mean() {
        let history = vec![known("outside:a.smith@nhs.net", "a.smith@nhs.net", 5)];
        let draft = Draft {
            recipients: vec![outside("a.smiht@nhs.net")],
            history: &history,
            ..Draft::default()
        };
        let f = check(&draft, &LeakLevels::default());
        let similar = f
            .iter()
            .find(|f| f.rule == LeakRule::ResemblesFrequentRecipient)
            .unwrap();
        assert_eq!(similar.did_you_mean.as_deref(), Some("a.smith@nhs.net"));
        assert_eq!(similar.recipient.as_deref(), Some("a.smiht@nhs.net"));
    }
}
