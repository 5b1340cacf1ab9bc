//! The default policy, checked case by case, and the properties every policy set keeps.

use proptest::prelude::*;
use sealroom_domain::{AccessAction, Capacity, CapacitySource, DataCategory, Relation, Timestamp};

use super::{AccessDecision, PolicyEngine, DEFAULT_POLICY};

const NOW: Timestamp = Timestamp(1_800_000_000);

fn relation(s: &str) -> Relation {
    Relation::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or_else(|| panic!("unknown relation {s}"))
}

fn capacity(
    role: &str,
    rel: Relation,
    granted: &[DataCategory],
    actions: &[AccessAction],
) -> Capacity {
    Capacity {
        role: role.to_owned(),
        relation: rel,
        valid_from: Timestamp(0),
        valid_until: None,
        granted_categories: granted.to_vec(),
        granted_actions: actions.to_vec(),
        source: CapacitySource::Assignment("a1".into()),
    }
}

/// role, relation, category, action → expected. Grants in this table cover the category asked
/// for, for reading only ("grant" rows), so they test what a grant can and cannot open.
const MATRIX: &str = "
clinician current_care identification read permit
clinician current_care identification write permit
clinician current_care administrative read permit
clinician current_care administrative write permit
clinician current_care results read permit
clinician current_care results write permit
clinician current_care clinical_notes read permit
clinician current_care clinical_notes write permit
clinician current_care imaging read permit
clinician current_care imaging write permit
clinician current_care mental_health read permit
clinician current_care mental_health write permit
clinician current_care sexual_health read permit
clinician current_care sexual_health write permit
clinician current_care genetics read permit
clinician current_care genetics write permit
nurse current_care identification read permit
nurse current_care identification write deny
nurse current_care administrative read permit
nurse current_care administrative write permit
nurse current_care results read permit
nurse current_care results write permit
nurse current_care clinical_notes read permit
nurse current_care clinical_notes write permit
nurse current_care imaging read permit
nurse current_care imaging write deny
nurse current_care mental_health read permit
nurse current_care mental_health write deny
nurse current_care sexual_health write deny
nurse current_care genetics read permit
nurse current_care genetics write deny
clinician previous_care identification read permit
clinician previous_care administrative read permit
clinician previous_care results read permit
clinician previous_care clinical_notes read permit
clinician previous_care imaging read permit
clinician previous_care mental_health read deny
clinician previous_care sexual_health read deny
clinician previous_care genetics read deny
clinician previous_care results write deny
clinician previous_care clinical_notes write deny
nurse previous_care clinical_notes read permit
nurse previous_care results read permit
nurse previous_care genetics read deny
nurse previous_care clinical_notes write deny
clinician organization identification read deny
clinician organization results read deny
clinician organization clinical_notes read deny
nurse organization identification read deny
nurse organization administrative read deny
laboratory organization identification read permit
laboratory organization identification write deny
laboratory organization administrative read deny
laboratory organization results read deny
laboratory organization clinical_notes read deny
laboratory organization genetics read deny
laboratory assigned_test identification read permit
laboratory assigned_test results read permit
laboratory assigned_test results write permit
laboratory assigned_test genetics read permit
laboratory assigned_test genetics write permit
laboratory assigned_test sexual_health write permit
laboratory assigned_test clinical_notes read deny
laboratory assigned_test clinical_notes write deny
laboratory assigned_test mental_health read deny
laboratory assigned_test imaging read deny
laboratory assigned_test administrative read deny
laboratory assigned_test identification write deny
laboratory current_care clinical_notes read deny
laboratory current_care results read deny
reception organization identification read permit
reception organization identification write permit
reception organization administrative read permit
reception organization administrative write permit
reception organization results read deny
reception organization clinical_notes read deny
reception organization imaging read deny
reception organization mental_health read deny
reception current_care results read deny
reception current_care clinical_notes read deny
administrator current_care identification read deny
administrator current_care results read deny
administrator organization identification read deny
administrator break_glass results read deny
administrator grant results read deny
security_officer current_care clinical_notes read deny
security_officer organization identification read deny
security_officer grant identification read deny
clinician grant results read permit
clinician grant results write deny
clinician grant mental_health read permit
clinician grant genetics read permit
nurse grant clinical_notes read permit
nurse grant imaging read permit
reception grant results read permit
laboratory grant clinical_notes read deny
laboratory grant mental_health read deny
laboratory grant results read permit
clinician break_glass identification read permit
clinician break_glass administrative read permit
clinician break_glass results read permit
clinician break_glass results write permit
clinician break_glass clinical_notes read permit
clinician break_glass clinical_notes write permit
clinician break_glass imaging read permit
clinician break_glass mental_health read deny
clinician break_glass sexual_health read deny
clinician break_glass genetics read deny
nurse break_glass results read deny
nurse break_glass identification read deny
reception break_glass identification read deny
laboratory break_glass clinical_notes read deny
dietitian current_care results read deny
dietitian current_care identification read deny
dietitian organization identification read deny
dietitian grant results read permit
";

#[test]
fn the_default_policy_decides_the_matrix() {
    let engine = PolicyEngine::default_policy().expect("the default policy validates");
    let mut cases = 0;
    let mut wrong = Vec::new();
    for line in MATRIX.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [role, rel, cat, act, expected] = f[..] else {
            panic!("bad matrix line: {line}");
        };
        let category = DataCategory::parse(cat).expect("category");
        let action = match act {
            "read" => AccessAction::Read,
            "write" => AccessAction::Write,
            other => panic!("bad action {other}"),
        };
        let rel = relation(rel);
        let cap = if rel == Relation::Grant {
            capacity(role, rel, &[category], &[AccessAction::Read])
        } else {
            capacity(role, rel, &[], &[])
        };
        let got = engine.decide("s1", "p1", &[cap], category, action, NOW);
        let want = expected == "permit";
        if got.is_permit() != want {
            wrong.push(format!("{line} → got {got:?}"));
        }
        cases += 1;
    }
    assert!(cases >= 100, "only {cases} cases");
    assert!(
        wrong.is_empty(),
        "{} of {cases} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn a_permit_names_its_policy_and_capacity_and_a_forbid_names_itself() {
    let engine = PolicyEngine::default_policy().expect("validates");
    let mut cap = capacity("clinician", Relation::BreakGlass, &[], &[]);
    cap.source = CapacitySource::BreakGlass("bg7".into());
    let permit = engine.decide(
        "s",
        "p",
        &[cap.clone()],
        DataCategory::Results,
        AccessAction::Read,
        NOW,
    );
    assert_eq!(
        permit,
        AccessDecision::Permit {
            policy: "break-glass".into(),
            relation: Relation::BreakGlass,
            source: CapacitySource::BreakGlass("bg7".into())
        }
    );
    let deny = engine.decide(
        "s",
        "p",
        &[cap],
        DataCategory::Genetics,
        AccessAction::Read,
        NOW,
    );
    assert_eq!(
        deny,
        AccessDecision::Deny {
            forbidden_by: vec!["sensitive-needs-current-care-or-explicit-grant".into()]
        }
    );
    // Several capacities: the one that permits is the reason.
    let caps = [
        capacity("laboratory", Relation::Organization, &[], &[]),
        capacity("laboratory", Relation::AssignedTest, &[], &[]),
    ];
    let d = engine.decide(
        "s",
        "p",
        &caps,
        DataCategory::Results,
        AccessAction::Write,
        NOW,
    );
    assert!(
        matches!(d, AccessDecision::Permit { ref policy, .. } if policy == "laboratory-assigned-tests"),
        "{d:?}"
    );
}

#[test]
fn a_patient_account_reads_only_its_scope_and_never_writes() {
    let engine = PolicyEngine::default_policy().expect("validates");
    let mut own = capacity(
        "patient",
        Relation::OwnRecord,
        &DataCategory::ALL,
        &[AccessAction::Read],
    );
    own.source = CapacitySource::PatientAccount("pa1".into());
    for category in DataCategory::ALL {
        let read = engine.decide_for_account("pa1", "p", &own, category, AccessAction::Read, NOW);
        assert!(
            matches!(read, AccessDecision::Permit { ref policy, .. } if policy == "patients-read-their-own-record"),
            "{category:?}: {read:?}"
        );
        let write = engine.decide_for_account("pa1", "p", &own, category, AccessAction::Write, NOW);
        assert!(!write.is_permit(), "{category:?}: {write:?}");
    }
    // A proxy sees the categories approved, sensitive ones included only when named.
    let proxy = capacity(
        "proxy",
        Relation::Proxy,
        &[DataCategory::Results, DataCategory::Genetics],
        &[AccessAction::Read],
    );
    for (category, want) in [
        (DataCategory::Results, true),
        (DataCategory::Genetics, true),
        (DataCategory::ClinicalNotes, false),
        (DataCategory::MentalHealth, false),
    ] {
        let d = engine.decide_for_account("pa2", "p", &proxy, category, AccessAction::Read, NOW);
        assert_eq!(d.is_permit(), want, "{category:?}: {d:?}");
    }
    // An account standing in a staff relation gets nothing, and so does staff in a patient
    // space relation, whatever role they claim.
    for (role, rel) in [
        ("clinician", Relation::CurrentCare),
        ("patient", Relation::Grant),
    ] {
        let cap = capacity(role, rel, &DataCategory::ALL, &AccessAction::ALL);
        let d = engine.decide_for_account(
            "pa1",
            "p",
            &cap,
            DataCategory::Results,
            AccessAction::Read,
            NOW,
        );
        assert!(!d.is_permit(), "{role} {rel:?}: {d:?}");
    }
    let staff_as_patient = engine.decide(
        "s",
        "p",
        &[capacity(
            "patient",
            Relation::OwnRecord,
            &DataCategory::ALL,
            &[AccessAction::Read],
        )],
        DataCategory::Results,
        AccessAction::Read,
        NOW,
    );
    assert!(!staff_as_patient.is_permit(), "{staff_as_patient:?}");
    // An account past its end permits nothing.
    let mut ended = own.clone();
    ended.valid_until = Some(Timestamp(NOW.0 - 1));
    assert!(!engine
        .decide_for_account(
            "pa1",
            "p",
            &ended,
            DataCategory::Results,
            AccessAction::Read,
            NOW
        )
        .is_permit());
}

#[test]
fn policy_sets_that_do_not_fit_are_refused() {
    // Unknown attribute: caught by strict validation, not at decision time.
    let typo =
        "@id(\"x\") permit (principal, action, resource) when { context.rolle == \"nurse\" };";
    assert!(PolicyEngine::from_text(typo).is_err());
    let no_id = "permit (principal, action, resource) when { context.role == \"nurse\" };";
    assert!(PolicyEngine::from_text(no_id).is_err());
    let twice = "@id(\"x\") permit (principal, action, resource);\n@id(\"x\") forbid (principal, action, resource);";
    assert!(PolicyEngine::from_text(twice).is_err());
    assert!(PolicyEngine::from_text("permit (").is_err());
}

fn any_category() -> impl Strategy<Value = DataCategory> {
    proptest::sample::select(DataCategory::ALL.to_vec())
}
fn any_relation() -> impl Strategy<Value = Relation> {
    proptest::sample::select(Relation::ALL.to_vec())
}
fn any_action() -> impl Strategy<Value = AccessAction> {
    proptest::sample::select(AccessAction::ALL.to_vec())
}
fn any_role() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![
        "administrator",
        "security_officer",
        "clinician",
        "nurse",
        "laboratory",
        "reception",
        "dietitian",
    ])
    .prop_map(str::to_owned)
}
fn any_capacity() -> impl Strategy<Value = Capacity> {
    (
        any_role(),
        any_relation(),
        proptest::collection::vec(any_category(), 0..4),
        proptest::collection::vec(any_action(), 0..3),
        -1_000i64..1_000,
        proptest::option::of(-1_000i64..1_000),
    )
        .prop_map(|(role, relation, cats, acts, from, until)| Capacity {
            role,
            relation,
            valid_from: Timestamp(NOW.0 + from),
            valid_until: until.map(|u| Timestamp(NOW.0 + u)),
            granted_categories: cats,
            granted_actions: acts,
            source: CapacitySource::Assignment("a".into()),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// With no policy, nothing is permitted.
    #[test]
    fn nothing_is_permitted_by_default(caps in proptest::collection::vec(any_capacity(), 0..4),
                                       cat in any_category(), act in any_action()) {
        let empty = PolicyEngine::from_text("").expect("an empty set is valid");
        prop_assert!(!empty.decide("s", "p", &caps, cat, act, NOW).is_permit());
    }

    /// Whatever the default policy permits, adding a forbid that matches denies it.
    #[test]
    fn an_explicit_forbid_always_wins(caps in proptest::collection::vec(any_capacity(), 0..4),
                                      cat in any_category(), act in any_action()) {
        let text = format!("{DEFAULT_POLICY}\n@id(\"quarantine\") forbid (principal, action, resource) when {{ context.category == \"{}\" }};", cat.as_str());
        let engine = PolicyEngine::from_text(&text).expect("valid");
        let d = engine.decide("s", "p", &caps, cat, act, NOW);
        prop_assert!(!d.is_permit());
    }

    /// A capacity outside its validity never permits, whatever it is.
    #[test]
    fn an_expired_or_future_capacity_never_permits(mut cap in any_capacity(), cat in any_category(),
                                                   act in any_action(), past in 0i64..10_000, expired in any::<bool>()) {
        if expired {
            cap.valid_until = Some(Timestamp(NOW.0 - past));
        } else {
            cap.valid_from = Timestamp(NOW.0 + 1 + past);
        }
        let engine = PolicyEngine::default_policy().expect("valid");
        prop_assert!(!engine.decide("s", "p", &[cap], cat, act, NOW).is_permit());
    }

    /// Administrators and security officers never reach patient data, whatever the relation.
    #[test]
    fn administration_roles_never_read_patient_data(mut cap in any_capacity(), cat in any_category(),
                                                    act in any_action(), officer in any::<bool>()) {
        cap.role = if officer { "security_officer".into() } else { "administrator".into() };
        let engine = PolicyEngine::default_policy().expect("valid");
        prop_assert!(!engine.decide("s", "p", &[cap], cat, act, NOW).is_permit());
    }
}
