//! The inputs of an access decision on patient data: what kind of data (its category), what
//! is being done to it, and in which capacity a staff member asks.
//!
//! A staff member's *capacities* towards one patient are derived here, as pure functions of
//! facts loaded by the caller (assignments, care episodes, tests, grants, break-glass) and of
//! `now`. The policy engine then decides, capacity by capacity, whether any of them permits.
//! Nothing here permits anything on its own: an empty capacity list is a denial.

use serde::{Deserialize, Serialize};

use crate::{Duration, Timestamp};

/// The kind of patient data a record holds. Every record carries exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCategory {
    /// Who the patient is: identifiers, name, birth date.
    Identification,
    /// Contact details, episodes, appointments.
    Administrative,
    /// Laboratory and other test results.
    Results,
    ClinicalNotes,
    Imaging,
    MentalHealth,
    SexualHealth,
    Genetics,
}

impl DataCategory {
    pub const ALL: [DataCategory; 8] = [
        DataCategory::Identification,
        DataCategory::Administrative,
        DataCategory::Results,
        DataCategory::ClinicalNotes,
        DataCategory::Imaging,
        DataCategory::MentalHealth,
        DataCategory::SexualHealth,
        DataCategory::Genetics,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DataCategory::Identification => "identification",
            DataCategory::Administrative => "administrative",
            DataCategory::Results => "results",
            DataCategory::ClinicalNotes => "clinical_notes",
            DataCategory::Imaging => "imaging",
            DataCategory::MentalHealth => "mental_health",
            DataCategory::SexualHealth => "sexual_health",
            DataCategory::Genetics => "genetics",
        }
    }

    /// Mental health, sexual health and genetics: stricter rules apply.
    pub const fn is_sensitive(self) -> bool {
        matches!(
            self,
            DataCategory::MentalHealth | DataCategory::SexualHealth | DataCategory::Genetics
        )
    }

    pub fn parse(s: &str) -> Result<Self, UnknownCategory> {
        DataCategory::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| UnknownCategory(s.trim().chars().take(40).collect()))
    }
}

impl std::fmt::Display for DataCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data category '{0}'; expected one of: identification, administrative, results, clinical_notes, imaging, mental_health, sexual_health, genetics")]
pub struct UnknownCategory(pub String);

/// What is done to patient data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    Read,
    Write,
}

impl AccessAction {
    pub const ALL: [AccessAction; 2] = [AccessAction::Read, AccessAction::Write];
    pub const fn as_str(self) -> &'static str {
        match self {
            AccessAction::Read => "read",
            AccessAction::Write => "write",
        }
    }
}

/// How a staff member stands towards a patient in one capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Works in the department the patient is currently admitted to.
    CurrentCare,
    /// Works in a department the patient left (transfer or discharge) within the read window.
    PreviousCare,
    /// Works in a laboratory with an open test for the patient.
    AssignedTest,
    /// Works in the organization, with no care relationship (reception desks, lab registration).
    Organization,
    /// Holds a one-off grant for this patient, directly or through their department.
    Grant,
    /// Opened emergency (break-glass) access to this patient.
    BreakGlass,
    /// The patient, in their own patient space.
    OwnRecord,
    /// Someone the patient's proxy access was approved for (family, a legal representative).
    Proxy,
    /// Someone outside the organization, added by e-mail address to a conversation about the
    /// patient (they read that conversation while they are on it).
    Addressee,
}

impl Relation {
    pub const ALL: [Relation; 9] = [
        Relation::CurrentCare,
        Relation::PreviousCare,
        Relation::AssignedTest,
        Relation::Organization,
        Relation::Grant,
        Relation::BreakGlass,
        Relation::OwnRecord,
        Relation::Proxy,
        Relation::Addressee,
    ];
    pub const fn as_str(self) -> &'static str {
        match self {
            Relation::CurrentCare => "current_care",
            Relation::PreviousCare => "previous_care",
            Relation::AssignedTest => "assigned_test",
            Relation::Organization => "organization",
            Relation::Grant => "grant",
            Relation::BreakGlass => "break_glass",
            Relation::OwnRecord => "self",
            Relation::Proxy => "proxy",
            Relation::Addressee => "addressee",
        }
    }

    /// The order in which capacities are tried: a care relationship before a grant, and
    /// anything before break-glass, so an access is attributed to the strongest reason the
    /// person has (break-glass uses are what the security officer reviews).
    pub const fn precedence(self) -> u8 {
        match self {
            Relation::CurrentCare => 0,
            Relation::PreviousCare => 1,
            Relation::AssignedTest => 2,
            Relation::Organization => 3,
            Relation::Grant => 4,
            Relation::BreakGlass => 5,
            Relation::OwnRecord => 6,
            Relation::Proxy => 7,
            Relation::Addressee => 8,
        }
    }
}

/// Where a capacity comes from; named in the audit event as the reason for access.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum CapacitySource {
    Assignment(String),
    Grant(String),
    BreakGlass(String),
    /// A patient space account (the patient's own, or a proxy's).
    PatientAccount(String),
    /// An outside recipient's place on a thread (`outside:<recipient>` on `thread:<id>`).
    OutsideRecipient(String),
}

impl std::fmt::Display for CapacitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CapacitySource::Assignment(id) => write!(f, "assignment:{id}"),
            CapacitySource::Grant(id) => write!(f, "grant:{id}"),
            CapacitySource::BreakGlass(id) => write!(f, "break_glass:{id}"),
            CapacitySource::PatientAccount(id) => write!(f, "patient_account:{id}"),
            CapacitySource::OutsideRecipient(id) => write!(f, "outside:{id}"),
        }
    }
}

/// One way in which a staff member may stand towards a patient: a role (from an assignment,
/// or the person's assignment role for grants and break-glass), a relation, the period in which
/// it holds, and, for grants, the categories it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub role: String,
    pub relation: Relation,
    pub valid_from: Timestamp,
    /// `None`: open-ended.
    pub valid_until: Option<Timestamp>,
    /// Categories a grant covers (empty for other relations).
    pub granted_categories: Vec<DataCategory>,
    /// Actions a grant covers (empty for other relations).
    pub granted_actions: Vec<AccessAction>,
    pub source: CapacitySource,
}

impl Capacity {
    /// Whether `now` lies in `[valid_from, valid_until)`.
    pub fn is_current(&self, now: Timestamp) -> bool {
        self.valid_from <= now && self.valid_until.is_none_or(|u| now < u)
    }
}

/// A staff assignment: (department, role, valid from, valid until).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentFact {
    pub id: String,
    pub department_id: String,
    pub role: String,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    /// Waiting for the new manager's confirmation (a mover's new department): grants nothing.
    pub confirmed: bool,
}

/// A care episode of the patient in one department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeFact {
    pub department_id: String,
    pub admitted_at: Timestamp,
    /// `None` while the patient is still in this department.
    pub ended_at: Option<Timestamp>,
}

/// A test for the patient assigned to a laboratory department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFact {
    pub laboratory_department_id: String,
    pub created_at: Timestamp,
    /// `None` while the test is open.
    pub closed_at: Option<Timestamp>,
}

/// A one-off grant on this patient to this person or to one of their departments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantFact {
    pub id: String,
    pub categories: Vec<DataCategory>,
    pub actions: Vec<AccessAction>,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
    pub revoked: bool,
}

/// A break-glass opening by this person for this patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassFact {
    pub id: String,
    pub opened_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Everything known about one staff member and one patient that bears on access.
#[derive(Debug, Clone, Default)]
pub struct AccessFacts {
    pub assignments: Vec<AssignmentFact>,
    pub episodes: Vec<EpisodeFact>,
    pub tests: Vec<TestFact>,
    pub grants: Vec<GrantFact>,
    pub break_glass: Vec<BreakGlassFact>,
}

/// How long a laboratory keeps its relation after a test is closed (to correct a result).
pub const TEST_READ_WINDOW: Duration = Duration::hours(24 * 30);

/// Derive the capacities in force at `now`. Expired or unconfirmed assignments, revoked or
/// expired grants and expired break-glass openings yield nothing: expiry is decided here and
/// again by the policy (which sees each capacity's validity), never by a nightly job.
pub fn capacities(
    facts: &AccessFacts,
    now: Timestamp,
    previous_care_window: Duration,
) -> Vec<Capacity> {
    let mut out = Vec::new();
    let current_assignments = facts
        .assignments
        .iter()
        .filter(|a| a.confirmed && a.valid_from <= now && a.valid_until.is_none_or(|u| now < u));
    // The role used for grants and break-glass: the person's current roles, most capable first.
    let mut roles: Vec<&str> = Vec::new();
    for a in current_assignments {
        let mut push = |relation: Relation, valid_until: Option<Timestamp>| {
            out.push(Capacity {
                role: a.role.clone(),
                relation,
                valid_from: a.valid_from,
                valid_until: match (a.valid_until, valid_until) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                },
                granted_categories: Vec::new(),
                granted_actions: Vec::new(),
                source: CapacitySource::Assignment(a.id.clone()),
            });
        };
        push(Relation::Organization, None);
        for e in facts
            .episodes
            .iter()
            .filter(|e| e.department_id == a.department_id && e.admitted_at <= now)
        {
            match e.ended_at {
                Some(ended) if ended <= now => {
                    let until = ended.plus(previous_care_window);
                    if now < until {
                        push(Relation::PreviousCare, Some(until));
                    }
                }
                _ => push(Relation::CurrentCare, None),
            }
        }
        for t in facts
            .tests
            .iter()
            .filter(|t| t.laboratory_department_id == a.department_id && t.created_at <= now)
        {
            match t.closed_at {
                Some(closed) if closed <= now => {
                    if now < closed.plus(TEST_READ_WINDOW) {
                        push(Relation::AssignedTest, Some(closed.plus(TEST_READ_WINDOW)));
                    }
                }
                _ => push(Relation::AssignedTest, None),
            }
        }
        if !roles.contains(&a.role.as_str()) {
            roles.push(a.role.as_str());
        }
    }
    out.dedup();
    // Grants and break-glass act through the person's current roles: someone with no current
    // assignment (a leaver, an expired temporary) has no role and so nothing.
    for role in roles {
        for g in facts.grants.iter().filter(|g| !g.revoked) {
            let c = Capacity {
                role: role.to_owned(),
                relation: Relation::Grant,
                valid_from: g.valid_from,
                valid_until: Some(g.valid_until),
                granted_categories: g.categories.clone(),
                granted_actions: g.actions.clone(),
                source: CapacitySource::Grant(g.id.clone()),
            };
            if c.is_current(now) {
                out.push(c);
            }
        }
        for b in &facts.break_glass {
            let c = Capacity {
                role: role.to_owned(),
                relation: Relation::BreakGlass,
                valid_from: b.opened_at,
                valid_until: Some(b.expires_at),
                granted_categories: Vec::new(),
                granted_actions: Vec::new(),
                source: CapacitySource::BreakGlass(b.id.clone()),
            };
            if c.is_current(now) {
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(dept: &str, role: &str, until: Option<i64>) -> AssignmentFact {
        AssignmentFact {
            id: format!("a-{dept}"),
            department_id: dept.into(),
            role: role.into(),
            valid_from: Timestamp(0),
            valid_until: until.map(Timestamp),
            confirmed: true,
        }
    }

    fn relations(c: &[Capacity]) -> Vec<Relation> {
        c.iter().map(|c| c.relation).collect()
    }

    const WINDOW: Duration = Duration::hours(24 * 30);

    #[test]
    fn transfer_moves_current_care_and_leaves_a_read_window() {
        let facts = AccessFacts {
            assignments: vec![assignment("im", "clinician", None)],
            episodes: vec![
                EpisodeFact {
                    department_id: "im".into(),
                    admitted_at: Timestamp(100),
                    ended_at: Some(Timestamp(1_000)),
                },
                EpisodeFact {
                    department_id: "cardio".into(),
                    admitted_at: Timestamp(1_000),
                    ended_at: None,
                },
            ],
            ..AccessFacts::default()
        };
        assert_eq!(
            relations(&capacities(&facts, Timestamp(500), WINDOW)),
            [Relation::Organization, Relation::CurrentCare]
        );
        let after = capacities(&facts, Timestamp(2_000), WINDOW);
        assert_eq!(
            relations(&after),
            [Relation::Organization, Relation::PreviousCare]
        );
        assert_eq!(after[1].valid_until, Some(Timestamp(1_000).plus(WINDOW)));
        let later = Timestamp(1_000).plus(WINDOW);
        assert_eq!(
            relations(&capacities(&facts, later, WINDOW)),
            [Relation::Organization]
        );
    }

    #[test]
    fn expired_or_unconfirmed_assignments_yield_nothing_not_even_through_grants() {
        let mut facts = AccessFacts {
            assignments: vec![assignment("im", "nurse", Some(1_000))],
            grants: vec![GrantFact {
                id: "g".into(),
                categories: vec![DataCategory::Results],
                actions: vec![AccessAction::Read],
                valid_from: Timestamp(0),
                valid_until: Timestamp(5_000),
                revoked: false,
            }],
            ..AccessFacts::default()
        };
        assert_eq!(
            relations(&capacities(&facts, Timestamp(999), WINDOW)),
            [Relation::Organization, Relation::Grant]
        );
        assert!(capacities(&facts, Timestamp(1_000), WINDOW).is_empty());
        facts.assignments[0].valid_until = None;
        facts.assignments[0].confirmed = false;
        assert!(capacities(&facts, Timestamp(10), WINDOW).is_empty());
    }

    #[test]
    fn grants_and_break_glass_expire_and_revoke() {
        let facts = AccessFacts {
            assignments: vec![assignment("er", "clinician", None)],
            grants: vec![GrantFact {
                id: "g".into(),
                categories: vec![DataCategory::Results],
                actions: vec![AccessAction::Read],
                valid_from: Timestamp(0),
                valid_until: Timestamp(100),
                revoked: true,
            }],
            break_glass: vec![BreakGlassFact {
                id: "b".into(),
                opened_at: Timestamp(10),
                expires_at: Timestamp(20),
            }],
            ..AccessFacts::default()
        };
        assert_eq!(
            relations(&capacities(&facts, Timestamp(15), WINDOW)),
            [Relation::Organization, Relation::BreakGlass]
        );
        assert_eq!(
            relations(&capacities(&facts, Timestamp(20), WINDOW)),
            [Relation::Organization]
        );
    }

    #[test]
    fn categories_parse_and_know_which_are_sensitive() {
        for c in DataCategory::ALL {
            assert_eq!(DataCategory::parse(c.as_str()), Ok(c));
        }
        assert!(DataCategory::Genetics.is_sensitive());
        assert!(!DataCategory::Results.is_sensitive());
        assert!(DataCategory::parse("gossip").is_err());
    }
}
