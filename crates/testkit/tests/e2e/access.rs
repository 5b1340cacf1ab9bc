//! Need-to-know access to patient data (issue 3): departments and assignments, registration
//! with duplicate detection, episodes and transfers, the laboratory's view, grants,
//! break-glass, leavers, and the audit of every access — through the real HTTPS API.

use reqwest::{Method, StatusCode};
use sealroom_app::tokens::TokenOwner;
use sealroom_domain::Duration;
use sealroom_store::UserStatus;
use sealroom_testkit::{Backend, Options, TestServer};
use serde_json::{json, Value};

use crate::journeys::operator;

both_backends!(
    need_to_know_follows_the_patient_through_a_transfer,
    registration_detects_duplicates_and_explains_bad_input,
    grants_share_selected_categories_until_a_date,
    break_glass_is_limited_alerted_and_reviewed,
    the_security_officer_reviews_break_glass_in_the_application,
    leavers_and_temporary_staff_lose_access_on_time,
    every_patient_endpoint_denies_by_default_and_audits_what_it_grants,
    policy_changes_need_a_second_person_and_keep_every_version,
    the_audit_log_exports_as_json_lines_and_fhir_audit_events,
    managers_review_who_can_reach_their_patients,
);

const ALL_SCOPES: &[&str] = &[
    "me:read",
    "audit:read",
    "organization:read",
    "organization:write",
    "patients:read",
    "patients:write",
    "security:review",
    "users:read",
    "users:write",
    "records:write",
];

/// A staff member with an API token (accounts are activated directly: sign-in is tested
/// elsewhere; here the subject is what an account may do).
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) token: String,
}

pub(crate) async fn person(s: &TestServer, email: &str, account_role: &str) -> Person {
    person_named(s, email, "Test Person", account_role).await
}

pub(crate) async fn person_named(
    s: &TestServer,
    email: &str,
    name: &str,
    account_role: &str,
) -> Person {
    let created = s
        .app()
        .create_user(&operator(), email, name, account_role)
        .await
        .unwrap();
    s.app()
        .store()
        .set_user_status(&created.user.id, UserStatus::Active, 0)
        .await
        .unwrap();
    let scopes: Vec<String> = ALL_SCOPES.iter().map(|s| s.to_string()).collect();
    let token = s
        .app()
        .create_api_token(
            &operator(),
            TokenOwner::User { email },
            "test",
            &scopes,
            365,
        )
        .await
        .unwrap()
        .secret;
    Person {
        id: created.user.id,
        token,
    }
}

pub(crate) async fn call(
    s: &TestServer,
    who: &Person,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = s
        .client
        .request(method, s.url(path))
        .bearer_auth(&who.token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) async fn get(s: &TestServer, who: &Person, path: &str) -> (StatusCode, Value) {
    call(s, who, Method::GET, path, None).await
}

pub(crate) async fn post(
    s: &TestServer,
    who: &Person,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(s, who, Method::POST, path, Some(body)).await
}

pub(crate) async fn department(s: &TestServer, admin: &Person, name: &str, kind: &str) -> String {
    let (st, d) = post(
        s,
        admin,
        "/api/v1/departments",
        json!({"name": name, "kind": kind}),
    )
    .await;
    assert_eq!(st, 201, "{d}");
    d["id"].as_str().unwrap().to_owned()
}

async fn assign(s: &TestServer, admin: &Person, who: &Person, dept: &str, role: &str) -> Value {
    let (st, a) = post(
        s,
        admin,
        &format!("/api/v1/users/{}/assignments", who.id),
        json!({"department_id": dept, "role": role}),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    a
}

/// A small hospital: internal medicine, cardiology, emergency, a laboratory and reception.
pub(crate) struct Hospital {
    pub(crate) admin: Person,
    pub(crate) reception: Person,
    pub(crate) im_doctor: Person,
    pub(crate) im_nurse: Person,
    pub(crate) cardio_doctor: Person,
    pub(crate) er_doctor: Person,
    pub(crate) lab: Person,
    pub(crate) officer: Person,
    pub(crate) im: String,
    pub(crate) cardio: String,
    pub(crate) laboratory: String,
}

pub(crate) async fn hospital(s: &TestServer) -> Hospital {
    let admin = person(s, "admin@example.org", "administrator").await;
    let im = department(s, &admin, "Internal medicine", "care").await;
    let cardio = department(s, &admin, "Cardiology", "care").await;
    let er = department(s, &admin, "Emergency", "care").await;
    let laboratory = department(s, &admin, "Central laboratory", "laboratory").await;
    let desk = department(s, &admin, "Admissions desk", "administration").await;
    let reception = person(s, "desk@example.org", "reception").await;
    assign(s, &admin, &reception, &desk, "reception").await;
    let im_doctor = person(s, "imdoc@example.org", "clinician").await;
    assign(s, &admin, &im_doctor, &im, "clinician").await;
    let im_nurse = person(s, "imnurse@example.org", "nurse").await;
    assign(s, &admin, &im_nurse, &im, "nurse").await;
    let cardio_doctor = person(s, "cardio@example.org", "clinician").await;
    assign(s, &admin, &cardio_doctor, &cardio, "clinician").await;
    let er_doctor = person(s, "er@example.org", "clinician").await;
    assign(s, &admin, &er_doctor, &er, "clinician").await;
    let lab = person(s, "lab@example.org", "laboratory").await;
    assign(s, &admin, &lab, &laboratory, "laboratory").await;
    let officer = person(s, "officer@example.org", "security_officer").await;
    Hospital {
        admin,
        reception,
        im_doctor,
        im_nurse,
        cardio_doctor,
        er_doctor,
        lab,
        officer,
        im,
        cardio,
        laboratory,
    }
}

pub(crate) async fn register(
    s: &TestServer,
    desk: &Person,
    family: &str,
    given: &str,
    birth: &str,
) -> Value {
    let (st, p) = post(
        s,
        desk,
        "/api/v1/patients",
        json!({"family_name": family, "given_names": given, "birth_date": birth, "sex": "female"}),
    )
    .await;
    assert_eq!(st, 201, "{p}");
    p
}

/// Audit events about one patient, as (actor, action, outcome, details).
pub(crate) async fn patient_events(
    s: &TestServer,
    patient: &str,
) -> Vec<(String, String, String, Value)> {
    events_about(s, &format!("patient:{patient}")).await
}

/// Audit events about one subject (`patient:<id>`, `thread:<id>`), as (actor, action, outcome,
/// details).
pub(crate) async fn events_about(
    s: &TestServer,
    subject: &str,
) -> Vec<(String, String, String, Value)> {
    s.app()
        .store()
        .audit_of_subject(subject, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.actor,
                e.action,
                e.outcome,
                serde_json::from_str(&e.details).unwrap(),
            )
        })
        .collect()
}

async fn need_to_know_follows_the_patient_through_a_transfer(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Dupont", "Marie", "1961-03-14").await;
    let id = p["id"].as_str().unwrap().to_owned();
    let mrn = p["mrn"].as_str().unwrap();
    assert!(mrn.starts_with('P') && mrn.len() == 11, "{mrn}");
    let path = |rest: &str| format!("/api/v1/patients/{id}{rest}");

    // Admitted to internal medicine: its staff see the patient, cardiology does not.
    let (st, _) = post(
        &s,
        &h.reception,
        &path("/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    assert_eq!(st, 201);
    let (_, mine) = get(&s, &h.im_doctor, "/api/v1/patients/mine").await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["family_name"], "Dupont");
    let (_, mine) = get(&s, &h.cardio_doctor, "/api/v1/patients/mine").await;
    assert_eq!(mine, json!([]));
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &path("/records"),
        json!({"category": "clinical_notes", "text": "Chest pain since Monday"}),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &path("/records"),
        json!({"category": "mental_health", "text": "Anxiety, follow-up"}),
    )
    .await;
    assert_eq!(st, 201);
    let (st, body) = get(&s, &h.cardio_doctor, &path("")).await;
    assert_eq!(st, 404, "{body}");
    assert!(!body.to_string().contains("Dupont"));
    let (st, _) = get(&s, &h.cardio_doctor, &path("/records")).await;
    assert_eq!(st, 404);

    // The nurse reads notes but writes no identification; sensitive notes are readable in care.
    let (st, r) = get(&s, &h.im_nurse, &path("/records?category=clinical_notes")).await;
    assert_eq!(
        (st, r["records"][0]["text"].as_str()),
        (StatusCode::OK, Some("Chest pain since Monday"))
    );
    let (st, _) = post(
        &s,
        &h.im_nurse,
        &path("/records"),
        json!({"category": "identification", "text": "x"}),
    )
    .await;
    assert_eq!(st, 403);

    // The laboratory identifies the patient, and sees only the results of tests assigned to it.
    let (st, v) = get(&s, &h.lab, &path("")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["episodes"],
        Value::Null,
        "no administrative data for the laboratory"
    );
    let (st, _) = post(
        &s,
        &h.lab,
        &path("/records"),
        json!({"category": "results", "text": "Hb 13.1"}),
    )
    .await;
    assert_eq!(st, 403, "no test assigned yet");
    let (st, t) = post(
        &s,
        &h.im_doctor,
        &path("/tests"),
        json!({"laboratory_id": h.laboratory}),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    let (st, _) = post(
        &s,
        &h.lab,
        &path("/records"),
        json!({"category": "results", "text": "Troponin 12 ng/L"}),
    )
    .await;
    assert_eq!(st, 201);
    let (st, r) = get(&s, &h.lab, &path("/records")).await;
    assert_eq!(st, 200);
    assert_eq!(r["records"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["records"][0]["category"], "results");
    let withheld = r["withheld_categories"].to_string();
    assert!(
        withheld.contains("clinical_notes") && withheld.contains("mental_health"),
        "{withheld}"
    );
    let (st, _) = get(&s, &h.lab, &path("/records?category=clinical_notes")).await;
    assert_eq!(st, 403, "the laboratory never reads clinical notes");

    // Transfer to cardiology: cardiology now sees the whole record; internal medicine keeps
    // read access (not sensitive, not write) for 30 days.
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &path("/transfer"),
        json!({"department_id": h.cardio}),
    )
    .await;
    assert_eq!(st, 201);
    let (st, r) = get(&s, &h.cardio_doctor, &path("/records")).await;
    assert_eq!(st, 200);
    assert_eq!(r["records"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(r["withheld_categories"], json!([]));
    let (_, mine) = get(&s, &h.cardio_doctor, "/api/v1/patients/mine").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (_, mine) = get(&s, &h.im_doctor, "/api/v1/patients/mine").await;
    assert_eq!(mine, json!([]));
    let (st, _) = get(&s, &h.im_doctor, &path("/records?category=clinical_notes")).await;
    assert_eq!(st, 200, "previous department reads");
    let (st, _) = get(&s, &h.im_doctor, &path("/records?category=mental_health")).await;
    assert_eq!(st, 403, "but not sensitive categories");
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &path("/records"),
        json!({"category": "clinical_notes", "text": "late note"}),
    )
    .await;
    assert_eq!(st, 403, "and does not write");
    s.clock.advance(Duration::hours(24 * 30));
    let (st, _) = get(&s, &h.im_doctor, &path("/records?category=clinical_notes")).await;
    assert_eq!(st, 404, "the read window closed");
    let (st, _) = get(&s, &h.lab, &path("/records?category=results")).await;
    assert_eq!(st, 200, "the laboratory's open test keeps its relation");

    // Every access granted is audited with its policy and capacity; refusals too.
    let events = patient_events(&s, &id).await;
    let granted: Vec<_> = events.iter().filter(|e| e.2 == "granted").collect();
    assert!(granted.len() >= 12, "{granted:?}");
    for (actor, action, _, d) in &granted {
        assert!(actor.starts_with("user:"), "{actor}");
        let reasons = d["reasons"]
            .as_array()
            .unwrap_or_else(|| panic!("{action}: {d}"));
        assert!(!reasons.is_empty());
        for r in reasons {
            assert!(r["policy"].as_str().is_some_and(|p| !p.is_empty()), "{d}");
            assert!(r["via"].as_str().unwrap().starts_with("assignment:"), "{d}");
        }
        assert!(
            d["purpose"].is_string() && d["categories"].is_array(),
            "{d}"
        );
    }
    assert!(events.iter().any(|e| e.0 == format!("user:{}", h.lab.id)
        && e.1 == "patient.written"
        && e.3["reasons"][0]["policy"] == "laboratory-assigned-tests"));
    assert!(events
        .iter()
        .any(|e| e.0 == format!("user:{}", h.cardio_doctor.id) && e.1 == "patient.access_denied"));
    // No clinical text, name or birth date in any audit record.
    let all = s.app().store().recent_audit(100_000).await.unwrap();
    for e in &all {
        for planted in ["Chest pain", "Troponin", "Dupont", "1961-03-14", "Anxiety"] {
            assert!(
                !e.details.contains(planted) && !e.subject.contains(planted),
                "{planted} in {e:?}"
            );
        }
    }
    // The care team sees the access history: who, when, which category, why.
    let (st, hist) = get(&s, &h.cardio_doctor, &path("/access-history")).await;
    assert_eq!(st, 200);
    let hist = hist.as_array().unwrap();
    assert!(hist
        .iter()
        .any(|e| e["actor"] == format!("user:{}", h.lab.id)
            && e["categories"] == json!(["results"])
            && e["actor_name"] == "Test Person"));
    let report = s.app().verify_audit_chain().await.unwrap();
    assert_eq!(report.first_broken, None);
}

async fn registration_detects_duplicates_and_explains_bad_input(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (st, first) = post(
        &s,
        &h.reception,
        "/api/v1/patients",
        json!({"family_name": "Müller", "given_names": "Anna", "birth_date": "1985-07-30", "sex": "female",
               "national_id": {"country": "BE", "value": "85.07.30-033.28"}}),
    )
    .await;
    assert_eq!(st, 201, "{first}");
    assert_eq!(first["national_id"]["country"], "BE");
    assert_eq!(
        first["national_id"]["masked"]
            .as_str()
            .unwrap()
            .chars()
            .rev()
            .take(4)
            .collect::<String>(),
        "8233"
    );
    assert!(!first.to_string().contains("85073003328"));
    // Same national identifier: refused, the existing patient named by identifier.
    let (st, e) = post(
        &s,
        &h.reception,
        "/api/v1/patients",
        json!({"family_name": "Other", "birth_date": "1985-07-30", "sex": "female",
               "national_id": {"country": "BE", "value": "85073003328"}}),
    )
    .await;
    assert_eq!(st, 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(first["mrn"].as_str().unwrap()),
        "{e}"
    );
    // Same name (case and accents aside) and birth date: a warning with the candidate.
    let (st, w) = post(&s, &h.reception, "/api/v1/patients", json!({"family_name": "MULLER", "given_names": "Anne", "birth_date": "1985-07-30", "sex": "female"})).await;
    assert_eq!(st, 409, "{w}");
    assert_eq!(w["error"], "possible_duplicate");
    assert_eq!(w["candidates"][0]["mrn"], first["mrn"]);
    assert_eq!(w["candidates"][0]["matched_on"], "name_and_birth_date");
    let (st, _) = post(&s, &h.reception, "/api/v1/patients", json!({"family_name": "MULLER", "given_names": "Anne", "birth_date": "1985-07-30", "sex": "female", "register_anyway": true})).await;
    assert_eq!(st, 201);
    // Search by each key; results filtered by policy.
    for q in [
        json!({"mrn": first["mrn"]}),
        json!({"national_id": {"country": "be", "value": "85 07 30 033 28"}}),
        json!({"family_name": "muller", "birth_date": "1985-07-30", "given_names": "ann"}),
    ] {
        let (st, found) = post(&s, &h.reception, "/api/v1/patients/.search", q.clone()).await;
        assert_eq!(st, 200, "{q}");
        assert!(
            found
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == first["id"]),
            "{q} → {found}"
        );
        let (st, found) = post(&s, &h.cardio_doctor, "/api/v1/patients/.search", q.clone()).await;
        assert_eq!(
            (st, found),
            (StatusCode::OK, json!([])),
            "no relation, no result: {q}"
        );
    }
    // Bad input says what was wrong, without echoing the identifier.
    for (body, needle) in [
        (
            json!({"family_name": "X", "birth_date": "1985-07-30", "sex": "male", "national_id": {"country": "BE", "value": "85073003329"}}),
            "check",
        ),
        (
            json!({"family_name": "X", "birth_date": "1985-07-30", "sex": "male", "national_id": {"country": "GB", "value": "943 476 591"}}),
            "10 digits",
        ),
        (
            json!({"family_name": "X", "birth_date": "1985-07-30", "sex": "male", "national_id": {"country": "DE", "value": "1"}}),
            "country",
        ),
        (
            json!({"family_name": "X", "birth_date": "1985-02-30", "sex": "male"}),
            "birth date",
        ),
        (
            json!({"family_name": "", "birth_date": "1985-01-30", "sex": "male"}),
            "family name",
        ),
    ] {
        let (st, e) = post(&s, &h.reception, "/api/v1/patients", body.clone()).await;
        assert_eq!(st, 400, "{body}");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.to_lowercase().contains(needle), "{msg}");
        assert!(!msg.contains("8507300332"));
    }
    let (st, e) = post(
        &s,
        &h.reception,
        "/api/v1/patients/.search",
        json!({"mrn": "P1234567890"}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    // Only reception registers (by policy): a clinician and the laboratory may not.
    for who in [&h.im_doctor, &h.lab, &h.admin] {
        let (st, _) = post(
            &s,
            who,
            "/api/v1/patients",
            json!({"family_name": "Y", "birth_date": "1990-01-01", "sex": "male"}),
        )
        .await;
        assert_eq!(st, 403);
    }
}

async fn grants_share_selected_categories_until_a_date(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Ionescu", "Ana", "1970-05-05").await;
    let id = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    for (cat, text) in [
        ("results", "HbA1c 7.2%"),
        ("clinical_notes", "Type 2 diabetes"),
        ("genetics", "BRCA negative"),
    ] {
        let (st, _) = post(
            &s,
            &h.im_doctor,
            &format!("/api/v1/patients/{id}/records"),
            json!({"category": cat, "text": text}),
        )
        .await;
        assert_eq!(st, 201);
    }
    let until = s.now() as i64 + 7 * 24 * 3600;
    // The nurse may not share (clinicians share); nobody shares what they cannot read.
    let body = json!({"grantee_user_id": h.cardio_doctor.id, "categories": ["results"], "purpose": "Second opinion on glycaemic control", "valid_until": until});
    let (st, _) = post(
        &s,
        &h.im_nurse,
        &format!("/api/v1/patients/{id}/grants"),
        body.clone(),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = post(
        &s,
        &h.lab,
        &format!("/api/v1/patients/{id}/grants"),
        body.clone(),
    )
    .await;
    assert_eq!(st, 403);
    let (st, e) = post(&s, &h.im_doctor, &format!("/api/v1/patients/{id}/grants"), json!({"grantee_user_id": h.cardio_doctor.id, "categories": ["results"], "purpose": "x", "valid_until": until})).await;
    assert_eq!(st, 400, "{e}");
    let (st, g) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{id}/grants"),
        body,
    )
    .await;
    assert_eq!(st, 201, "{g}");
    assert_eq!(g["categories"], json!(["identification", "results"]));
    assert_eq!(g["in_force"], true);
    let grant = g["id"].as_str().unwrap().to_owned();

    // The colleague reads results, nothing else, and cannot write them.
    let (st, r) = get(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{id}/records"),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["records"].as_array().unwrap().len(), 1);
    assert_eq!(r["records"][0]["text"], "HbA1c 7.2%");
    let (st, _) = post(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{id}/records"),
        json!({"category": "results", "text": "x"}),
    )
    .await;
    assert_eq!(st, 403);
    let events = patient_events(&s, &id).await;
    assert!(events
        .iter()
        .any(|e| e.0 == format!("user:{}", h.cardio_doctor.id)
            && e.2 == "granted"
            && e.3["reasons"][0]["via"] == format!("grant:{grant}")
            && e.3["reasons"][0]["policy"] == "one-off-grant"));
    // Listed for both sides and for the patient's care team.
    let (_, mine) = get(&s, &h.cardio_doctor, "/api/v1/grants").await;
    assert_eq!(mine[0]["id"], grant.as_str());
    assert_eq!(mine[0]["purpose"], "Second opinion on glycaemic control");
    let (st, on) = get(&s, &h.im_nurse, &format!("/api/v1/patients/{id}/grants")).await;
    assert_eq!(
        (st, on[0]["id"].as_str()),
        (StatusCode::OK, Some(grant.as_str()))
    );
    // Revoked: gone at once.
    let (st, _) = call(
        &s,
        &h.lab,
        Method::DELETE,
        &format!("/api/v1/grants/{grant}"),
        None,
    )
    .await;
    assert_eq!(st, 404, "an outsider cannot revoke");
    let (st, _) = call(
        &s,
        &h.im_doctor,
        Method::DELETE,
        &format!("/api/v1/grants/{grant}"),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = get(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{id}/records"),
    )
    .await;
    assert_eq!(st, 404);
    // A department grant, which expires on its date.
    let (st, _) = post(&s, &h.im_doctor, &format!("/api/v1/patients/{id}/grants"),
        json!({"grantee_department_id": h.cardio, "categories": ["genetics"], "purpose": "Familial cardiomyopathy screening", "valid_until": s.now() as i64 + 3600})).await;
    assert_eq!(st, 201);
    let (st, r) = get(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{id}/records?category=genetics"),
    )
    .await;
    assert_eq!(
        (st, r["records"][0]["text"].as_str()),
        (StatusCode::OK, Some("BRCA negative"))
    );
    s.clock.advance(Duration::seconds(3600));
    let (st, _) = get(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{id}/records?category=genetics"),
    )
    .await;
    assert_eq!(st, 404);
}

async fn break_glass_is_limited_alerted_and_reviewed(b: Backend) {
    let sink = sealroom_testkit::SmtpSink::start().await;
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![("SEALROOM_MAIL__SMTP_URL".into(), sink.url())],
        },
    )
    .await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Smith", "John", "1950-01-01").await;
    let id = p["id"].as_str().unwrap().to_owned();
    let mrn = p["mrn"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{id}/records"),
        json!({"category": "clinical_notes", "text": "On warfarin"}),
    )
    .await;
    post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{id}/records"),
        json!({"category": "sexual_health", "text": "HIV positive"}),
    )
    .await;

    let (st, _) = get(&s, &h.er_doctor, &format!("/api/v1/patients/{id}/records")).await;
    assert_eq!(st, 404);
    // A reason is required; nurses cannot break the glass.
    let (st, e) = post(
        &s,
        &h.er_doctor,
        "/api/v1/break-glass",
        json!({"mrn": mrn, "reason": "urgent"}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = post(
        &s,
        &h.im_nurse,
        "/api/v1/break-glass",
        json!({"mrn": mrn, "reason": "Unconscious patient in the emergency room"}),
    )
    .await;
    assert_eq!(st, 403);
    let (st, bg) = post(
        &s,
        &h.er_doctor,
        "/api/v1/break-glass",
        json!({"mrn": mrn, "reason": "Unconscious patient in the emergency room"}),
    )
    .await;
    assert_eq!(st, 201, "{bg}");
    assert_eq!(
        bg["expires_at"].as_i64().unwrap() - bg["opened_at"].as_i64().unwrap(),
        4 * 3600
    );
    let opening = bg["id"].as_str().unwrap().to_owned();

    // Emergency access: the record, but not sensitive categories.
    let (st, r) = get(&s, &h.er_doctor, &format!("/api/v1/patients/{id}/records")).await;
    assert_eq!(st, 200);
    assert_eq!(r["records"][0]["text"], "On warfarin");
    assert!(r["withheld_categories"]
        .to_string()
        .contains("sexual_health"));
    assert!(!r.to_string().contains("HIV"));
    let (st, _) = get(
        &s,
        &h.er_doctor,
        &format!("/api/v1/patients/{id}/records?category=sexual_health"),
    )
    .await;
    assert_eq!(st, 403);
    let events = patient_events(&s, &id).await;
    assert!(events.iter().any(|e| e.1 == "patient.read"
        && e.3["purpose"] == "ETREAT"
        && e.3["reasons"][0]["via"] == format!("break_glass:{opening}")));

    // The security officer is alerted at once (identifiers only) and reviews.
    let (st, alerts) = get(&s, &h.officer, "/api/v1/alerts").await;
    assert_eq!(st, 200);
    assert_eq!(alerts[0]["kind"], "break_glass.opened");
    assert_eq!(alerts[0]["subject"], format!("break_glass:{opening}"));
    assert!(!alerts.to_string().contains("Smith"));
    // ... and by e-mail, through a real SMTP server: who and when, never the patient, the
    // identifier or the written reason.
    let mail = sink
        .wait_for(|m| m.contains("To: officer@example.org"))
        .await;
    assert!(
        mail.contains("Subject: Saint Example Hospital: emergency access opened"),
        "{mail}"
    );
    assert!(
        mail.contains("opened emergency (break-glass) access"),
        "{mail}"
    );
    for secret in [
        "Smith",
        "John",
        "1950",
        mrn.as_str(),
        "Unconscious",
        "warfarin",
        id.as_str(),
    ] {
        assert!(
            !mail.contains(secret),
            "the alert e-mail leaks {secret}: {mail}"
        );
    }
    assert_eq!(
        sink.messages().len(),
        1,
        "only security officers are alerted"
    );
    let (st, _) = get(&s, &h.er_doctor, "/api/v1/alerts").await;
    assert_eq!(st, 403);
    let (st, list) = get(&s, &h.officer, "/api/v1/break-glass?pending=true").await;
    assert_eq!(st, 200);
    assert_eq!(list[0]["id"], opening.as_str());
    assert_eq!(
        list[0]["reason"],
        "Unconscious patient in the emergency room"
    );
    assert_eq!(list[0]["mrn"], mrn.as_str());
    assert_eq!(
        list[0]["uses"], 1,
        "one permitted read used the opening: {list}"
    );
    let (st, _) = get(&s, &h.admin, "/api/v1/break-glass").await;
    assert_eq!(st, 403, "reviewing is the security officer's job");
    let (st, _) = post(
        &s,
        &h.er_doctor,
        &format!("/api/v1/break-glass/{opening}/review"),
        json!({"justified": true, "comment": "ok"}),
    )
    .await;
    assert_eq!(st, 403, "nobody reviews their own opening");
    let (st, _) = post(&s, &h.officer, &format!("/api/v1/break-glass/{opening}/review"), json!({"justified": true, "comment": "Patient admitted unconscious; confirmed with ER log"})).await;
    assert_eq!(st, 204);
    let (st, _) = post(
        &s,
        &h.officer,
        &format!("/api/v1/break-glass/{opening}/review"),
        json!({"justified": false, "comment": "again"}),
    )
    .await;
    assert_eq!(st, 409);
    let (_, list) = get(&s, &h.officer, "/api/v1/break-glass").await;
    assert_eq!(list[0]["review_state"], "justified");
    assert_eq!(
        list[0]["review_comment"],
        "Patient admitted unconscious; confirmed with ER log"
    );
    let (_, alerts) = get(&s, &h.officer, "/api/v1/alerts").await;
    let alert = alerts[0]["id"].as_str().unwrap().to_owned();
    let (st, _) = post(
        &s,
        &h.officer,
        &format!("/api/v1/alerts/{alert}/acknowledgement"),
        json!({}),
    )
    .await;
    assert_eq!(st, 204);
    let (_, alerts) = get(&s, &h.officer, "/api/v1/alerts").await;
    assert_eq!(alerts, json!([]));

    // Four hours later the glass is whole again.
    s.clock.advance(Duration::hours(4));
    let (st, _) = get(&s, &h.er_doctor, &format!("/api/v1/patients/{id}/records")).await;
    assert_eq!(st, 404);
}

async fn leavers_and_temporary_staff_lose_access_on_time(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Martin", "Paul", "1980-12-24").await;
    let id = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;

    // Temporary staff need an end date, and lose access at it (decided at access time).
    let locum = person(&s, "locum@example.org", "clinician").await;
    let (st, e) = post(
        &s,
        &h.admin,
        &format!("/api/v1/users/{}/assignments", locum.id),
        json!({"department_id": h.im, "role": "clinician", "temporary": true}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("end date"));
    let (st, e) = post(
        &s,
        &h.admin,
        &format!("/api/v1/users/{}/assignments", locum.id),
        json!({"department_id": h.im, "role": "surgeon"}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = post(&s, &h.admin, &format!("/api/v1/users/{}/assignments", locum.id),
        json!({"department_id": h.im, "role": "clinician", "temporary": true, "valid_until": s.now() as i64 + 3600})).await;
    assert_eq!(st, 201);
    let (st, _) = get(&s, &locum, &format!("/api/v1/patients/{id}")).await;
    assert_eq!(st, 200);
    s.clock.advance(Duration::seconds(3600));
    let (st, _) = get(&s, &locum, &format!("/api/v1/patients/{id}")).await;
    assert_eq!(st, 404, "expired at decision time, no job ran");

    // A mover's new assignment waits for the department's confirmation.
    let (st, a) = post(
        &s,
        &h.admin,
        &format!("/api/v1/users/{}/assignments", h.cardio_doctor.id),
        json!({"department_id": h.im, "role": "clinician", "needs_confirmation": true}),
    )
    .await;
    assert_eq!(st, 201);
    let pending = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["in_force"], false);
    let (st, _) = get(&s, &h.cardio_doctor, &format!("/api/v1/patients/{id}")).await;
    assert_eq!(st, 404);
    let (st, _) = post(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/assignments/{pending}/confirmation"),
        json!({}),
    )
    .await;
    assert_eq!(st, 403, "nobody confirms their own assignment");
    let (st, a) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/assignments/{pending}/confirmation"),
        json!({}),
    )
    .await;
    assert_eq!((st, &a["in_force"]), (StatusCode::OK, &json!(true)), "{a}");
    let (st, _) = get(&s, &h.cardio_doctor, &format!("/api/v1/patients/{id}")).await;
    assert_eq!(st, 200);

    // A leaver: a grant to them, a browser session and a token; all gone at once.
    let until = s.now() as i64 + 86_400;
    let (st, g) = post(&s, &h.im_doctor, &format!("/api/v1/patients/{id}/grants"),
        json!({"grantee_user_id": h.er_doctor.id, "categories": ["results"], "purpose": "Follow-up after discharge", "valid_until": until})).await;
    assert_eq!(st, 201, "{g}");
    let started = std::time::Instant::now();
    let (st, _) = post(
        &s,
        &h.admin,
        &format!("/api/v1/users/{}/offboarding", h.er_doctor.id),
        json!({}),
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = get(&s, &h.er_doctor, "/api/v1/me").await;
    assert_eq!(st, 401, "the leaver's token stops working");
    let (_, grants) = get(&s, &h.im_doctor, "/api/v1/grants").await;
    assert!(grants[0]["revoked_at"].is_i64(), "{grants}");
    let (_, assignments) = get(
        &s,
        &h.admin,
        &format!("/api/v1/users/{}/assignments", h.er_doctor.id),
    )
    .await;
    assert!(assignments
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["in_force"] == false));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let events = s.app().store().recent_audit(50).await.unwrap();
    let off = events
        .iter()
        .find(|e| e.action == "staff.offboarded")
        .unwrap();
    let d: Value = serde_json::from_str(&off.details).unwrap();
    assert_eq!(
        (
            d["grants_revoked"].as_u64(),
            d["assignments_ended"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

async fn the_security_officer_reviews_break_glass_in_the_application(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Dupont", "Marie", "1961-03-02").await;
    let mrn = p["mrn"].as_str().unwrap().to_owned();
    let (st, bg) = post(
        &s,
        &h.er_doctor,
        "/api/v1/break-glass",
        json!({"mrn": mrn, "reason": "Collapsed in the waiting room, no history available"}),
    )
    .await;
    assert_eq!(st, 201, "{bg}");
    let opening = bg["id"].as_str().unwrap().to_owned();

    let officer =
        crate::journeys::enrolled_staff(&s, "reviewer@example.org", "security_officer").await;
    let (st, page) = crate::journeys::get_page(&officer.client, &s, "/security/review").await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("Emergency access opened"), "{page}");
    assert!(
        page.contains(&mrn) && page.contains("Collapsed in the waiting room"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/security/review\""),
        "the officer's menu links the page"
    );
    let csrf = sealroom_testkit::csrf_of(&page);

    // A verdict is required; then it is recorded with the comment.
    let r = crate::journeys::post_form(
        &officer.client,
        &s,
        &format!("/security/break-glass/{opening}/review"),
        &[("_csrf", &csrf), ("verdict", "maybe"), ("comment", "x")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = crate::journeys::post_form(
        &officer.client,
        &s,
        &format!("/security/break-glass/{opening}/review"),
        &[
            ("_csrf", &csrf),
            ("verdict", "unjustified"),
            ("comment", "The patient was already in cardiology's care"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("The review is recorded.") && page.contains("Not justified"),
        "{page}"
    );
    let (_, list) = get(&s, &h.officer, "/api/v1/break-glass").await;
    assert_eq!(list[0]["review_state"], "unjustified", "{list}");

    let (_, alerts) = get(&s, &h.officer, "/api/v1/alerts").await;
    let alert_id = alerts[0]["id"].as_str().unwrap().to_owned();
    let r = crate::journeys::post_form(
        &officer.client,
        &s,
        &format!("/security/alerts/{alert_id}/acknowledge"),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("No open alerts."));

    // Nobody else sees the page.
    let clinician = crate::journeys::enrolled_staff(&s, "doc@example.org", "clinician").await;
    let (st, page) = crate::journeys::get_page(&clinician.client, &s, "/security/review").await;
    assert_eq!(st, 403, "{page}");
    assert!(!page.contains(&mrn));
}

async fn every_patient_endpoint_denies_by_default_and_audits_what_it_grants(b: Backend) {
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![(
                "SEALROOM_ACCESS__CUSTOM_ROLES".into(),
                "[\"dietitian\"]".into(),
            )],
        },
    )
    .await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Garcia", "Lucia", "1992-09-09").await;
    let id = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    // A custom role in the patient's department gets nothing until the policy names it.
    let dietitian = person(&s, "diet@example.org", "nurse").await;
    assign(&s, &h.admin, &dietitian, &h.im, "dietitian").await;
    // Someone with every scope but no relation, an administrator, a security officer and a
    // custom role: refused on every endpoint that touches this patient's data.
    let lab_dept = h.laboratory.clone();
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/patients/{id}"), None),
        (Method::GET, format!("/api/v1/patients/{id}/records"), None),
        (
            Method::GET,
            format!("/api/v1/patients/{id}/records?category=results"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/records"),
            Some(json!({"category": "results", "text": "x"})),
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/admission"),
            Some(json!({"department_id": h.cardio})),
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/transfer"),
            Some(json!({"department_id": h.cardio})),
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/discharge"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/tests"),
            Some(json!({"laboratory_id": lab_dept})),
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/test-registrations"),
            Some(json!({"laboratory_id": lab_dept})),
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/invitations"),
            Some(json!({"contact_id": "any"})),
        ),
        (Method::GET, format!("/api/v1/patients/{id}/grants"), None),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/grants"),
            Some(
                json!({"grantee_user_id": h.cardio_doctor.id, "categories": ["results"], "purpose": "Second opinion", "valid_until": s.now() as i64 + 3600}),
            ),
        ),
        (
            Method::GET,
            format!("/api/v1/patients/{id}/access-history"),
            None,
        ),
    ];
    let before = patient_events(&s, &id).await.len();
    for who in [&h.cardio_doctor, &h.admin, &dietitian] {
        for (m, path, body) in &endpoints {
            let (st, resp) = call(&s, who, m.clone(), path, body.clone()).await;
            assert!(st == 403 || st == 404, "{m} {path}: {st} {resp}");
            assert!(!resp.to_string().contains("Garcia"));
        }
        let (st, mine) = get(&s, who, "/api/v1/patients/mine").await;
        assert_eq!((st, mine), (StatusCode::OK, json!([])));
        let (_, found) = post(
            &s,
            who,
            "/api/v1/patients/.search",
            json!({"mrn": p["mrn"]}),
        )
        .await;
        assert_eq!(found, json!([]));
    }
    // Nothing was granted, so nothing was recorded as granted; refusals were recorded.
    let events = patient_events(&s, &id).await;
    assert!(
        events[before..].iter().all(|e| e.2 != "granted"),
        "{:?}",
        &events[before..]
    );
    assert!(
        events[before..]
            .iter()
            .filter(|e| e.1 == "patient.access_denied")
            .count()
            >= 10
    );
    // Integrations never reach patient data, whatever their scopes.
    let svc = s
        .app()
        .create_api_token(
            &operator(),
            TokenOwner::Service { name: "hr" },
            "hr",
            &ALL_SCOPES.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            30,
        )
        .await;
    let t = svc.expect("a service token may carry any scope; policy decides what it reaches");
    let r = s
        .client
        .get(s.url(&format!("/api/v1/patients/{id}")))
        .bearer_auth(&t.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The same endpoints, by the patient's own care team, succeed, each with a granted event.
    let ok: Vec<(Method, String, Option<Value>, u16)> = vec![
        (Method::GET, format!("/api/v1/patients/{id}"), None, 200),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/records"),
            Some(json!({"category": "results", "text": "CRP 3"})),
            201,
        ),
        (
            Method::GET,
            format!("/api/v1/patients/{id}/records?category=results"),
            None,
            200,
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/tests"),
            Some(json!({"laboratory_id": h.laboratory})),
            201,
        ),
        (
            Method::GET,
            format!("/api/v1/patients/{id}/grants"),
            None,
            200,
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/grants"),
            Some(
                json!({"grantee_user_id": h.cardio_doctor.id, "categories": ["results"], "purpose": "Second opinion", "valid_until": s.now() as i64 + 3600}),
            ),
            201,
        ),
        (
            Method::GET,
            format!("/api/v1/patients/{id}/access-history"),
            None,
            200,
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{id}/transfer"),
            Some(json!({"department_id": h.cardio})),
            201,
        ),
    ];
    for (m, path, body, want) in ok {
        let n = patient_events(&s, &id)
            .await
            .iter()
            .filter(|e| e.2 == "granted")
            .count();
        let (st, resp) = call(&s, &h.im_doctor, m.clone(), &path, body).await;
        assert_eq!(st.as_u16(), want, "{m} {path}: {resp}");
        let after = patient_events(&s, &id)
            .await
            .iter()
            .filter(|e| e.2 == "granted")
            .count();
        assert!(after > n, "{m} {path} wrote no granted audit event");
    }
    let (st, _) = post(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{id}/discharge"),
        json!({}),
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    assert_eq!(st, 201);
}

async fn policy_changes_need_a_second_person_and_keep_every_version(b: Backend) {
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![(
                "SEALROOM_ACCESS__CUSTOM_ROLES".into(),
                "[\"dietitian\"]".into(),
            )],
        },
    )
    .await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Kowalski", "Jan", "1966-06-06").await;
    let id = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{id}/records"),
        json!({"category": "results", "text": "Albumin 31 g/L"}),
    )
    .await;
    let dietitian = person(&s, "diet@example.org", "nurse").await;
    assign(&s, &h.admin, &dietitian, &h.im, "dietitian").await;
    let records = format!("/api/v1/patients/{id}/records?category=results");
    assert_eq!(get(&s, &dietitian, &records).await.0, 404);

    let (_, versions) = get(&s, &h.officer, "/api/v1/policies").await;
    assert_eq!(versions.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            versions[0]["version"].as_i64(),
            versions[0]["state"].as_str()
        ),
        (Some(1), Some("active"))
    );
    let current = versions[0]["policy_text"].as_str().unwrap().to_owned();

    // A proposal that does not fit the schema is refused with the validator's reason.
    let (st, e) = post(&s, &h.admin, "/api/v1/policies", json!({"policy_text": format!("{current}\n@id(\"x\") permit (principal, action, resource) when {{ context.department == \"im\" }};"), "summary": "typo"})).await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("schema"), "{e}");
    let addition = "\n@id(\"dietitian-current-care-results\")\npermit (principal, action == Sealroom::Action::\"read\", resource)\nwhen { context.role == \"dietitian\" && context.relation == \"current_care\" && context.category == \"results\" };\n";
    let (st, prop) = post(&s, &h.admin, "/api/v1/policies", json!({"policy_text": format!("{current}{addition}"), "summary": "Dietitians read results of their ward's patients"})).await;
    assert_eq!(st, 201, "{prop}");
    assert_eq!(
        (prop["version"].as_i64(), prop["state"].as_str()),
        (Some(2), Some("proposed"))
    );
    assert_eq!(
        get(&s, &dietitian, &records).await.0,
        404,
        "a proposal changes nothing"
    );
    for who in [&h.im_doctor, &h.reception] {
        assert_eq!(
            post(
                &s,
                who,
                "/api/v1/policies",
                json!({"policy_text": current, "summary": "x"})
            )
            .await
            .0,
            403
        );
        assert_eq!(
            post(&s, who, "/api/v1/policies/2/approval", json!({}))
                .await
                .0,
            403
        );
    }
    let (st, e) = post(&s, &h.admin, "/api/v1/policies/2/approval", json!({})).await;
    assert_eq!(st, 409, "{e}");
    assert!(e["message"].as_str().unwrap().contains("second person"));
    let (st, v) = post(&s, &h.officer, "/api/v1/policies/2/approval", json!({})).await;
    assert_eq!(
        (st, v["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{v}"
    );
    let (st, r) = get(&s, &dietitian, &records).await;
    assert_eq!(
        (st, r["records"][0]["text"].as_str()),
        (StatusCode::OK, Some("Albumin 31 g/L"))
    );
    let events = patient_events(&s, &id).await;
    assert!(events
        .iter()
        .any(|e| e.0 == format!("user:{}", dietitian.id)
            && e.3["reasons"][0]["policy"] == "dietitian-current-care-results"));
    let (_, versions) = get(&s, &h.officer, "/api/v1/policies").await;
    let states: Vec<_> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![(2, "active".to_owned()), (1, "superseded".to_owned())]
    );
    assert_eq!(
        post(&s, &h.officer, "/api/v1/policies/2/approval", json!({}))
            .await
            .0,
        409
    );
    // A rejected proposal never takes effect.
    let (_, p3) = post(
        &s,
        &h.admin,
        "/api/v1/policies",
        json!({"policy_text": current, "summary": "Revert"}),
    )
    .await;
    assert_eq!(
        post(
            &s,
            &h.officer,
            &format!("/api/v1/policies/{}/rejection", p3["version"]),
            json!({})
        )
        .await
        .0,
        204
    );
    assert_eq!(get(&s, &dietitian, &records).await.0, 200);
    // The version in force survives a restart of the application (it is read from the database).
    let reopened = sealroom_server::serve::open_app(&s.config, s.clock.clone())
        .await
        .unwrap();
    assert!(
        reopened.policy_engine().len() > PolicyEngineLen::default_len(),
        "version 2 has one more policy"
    );
    let actions: Vec<String> = s
        .app()
        .store()
        .recent_audit(200)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in ["policy.proposed", "policy.approved", "policy.rejected"] {
        assert!(actions.iter().any(|x| x == a), "{a}");
    }
}

struct PolicyEngineLen;
impl PolicyEngineLen {
    fn default_len() -> usize {
        sealroom_app::access_policy::PolicyEngine::default_policy()
            .unwrap()
            .len()
    }
}

async fn the_audit_log_exports_as_json_lines_and_fhir_audit_events(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Nowak", "Eva", "1975-04-04").await;
    let id = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    get(&s, &h.im_doctor, &format!("/api/v1/patients/{id}")).await;

    assert_eq!(get(&s, &h.im_doctor, "/api/v1/audit/events").await.0, 403);
    let r = s
        .client
        .get(s.url("/api/v1/audit/events?limit=10000"))
        .bearer_auth(&h.officer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 20);
    for pair in lines.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_i64().unwrap(),
            pair[0]["seq"].as_i64().unwrap() + 1
        );
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["hash"],
            "the export carries the chain"
        );
    }
    let read = lines
        .iter()
        .find(|l| l["action"] == "patient.read" && l["subject"] == format!("patient:{id}"))
        .unwrap();
    assert_eq!(read["details"]["purpose"], "TREAT");
    assert!(read["time"].as_str().unwrap().ends_with('Z'));
    assert!(!text.contains("Nowak") && !text.contains("1975-04-04"));
    // Paging.
    let (_, page) = call(
        &s,
        &h.officer,
        Method::GET,
        "/api/v1/audit/events?after=5&limit=3",
        None,
    )
    .await;
    let page = page
        .as_str()
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect::<Vec<_>>();
    assert_eq!(page, vec![6, 7, 8]);
    assert_eq!(
        get(&s, &h.officer, "/api/v1/audit/events?limit=0").await.0,
        400
    );
    assert_eq!(
        get(&s, &h.officer, "/api/v1/audit/events?format=xml")
            .await
            .0,
        400
    );

    let r = s
        .client
        .get(s.url("/api/v1/audit/events?format=fhir&limit=10000"))
        .bearer_auth(&h.officer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let bundle: Value = r.json().await.unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    let events: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    assert!(events.iter().all(|e| e["resourceType"] == "AuditEvent"
        && e["recorded"].is_string()
        && e["agent"].is_array()));
    let read = events
        .iter()
        .find(|e| {
            e["subtype"][0]["code"] == "patient.read"
                && e["entity"][0]["what"]["identifier"]["value"] == id.as_str()
        })
        .unwrap();
    assert_eq!(read["type"]["code"], "110110");
    assert_eq!(read["action"], "R");
    assert_eq!(read["outcome"], "0");
    assert_eq!(read["purposeOfEvent"][0]["coding"][0]["code"], "TREAT");
    assert_eq!(
        read["agent"][0]["policy"][0],
        "urn:sealroom:policy:clinician-current-care"
    );
    assert_eq!(
        read["agent"][0]["who"]["identifier"]["value"],
        format!("user:{}", h.im_doctor.id)
    );
}

async fn managers_review_who_can_reach_their_patients(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    for (family, birth) in [("Alpha", "1950-01-01"), ("Beta", "1960-01-01")] {
        let p = register(&s, &h.reception, family, "", birth).await;
        post(
            &s,
            &h.reception,
            &format!("/api/v1/patients/{}/admission", p["id"].as_str().unwrap()),
            json!({"department_id": h.im}),
        )
        .await;
    }
    let report_path = format!("/api/v1/departments/{}/access-report", h.im);
    assert_eq!(
        get(&s, &h.cardio_doctor, &report_path).await.0,
        403,
        "another department's clinician"
    );
    assert_eq!(
        get(&s, &h.im_nurse, &report_path).await.0,
        403,
        "a nurse is not the manager"
    );
    let (st, report) = get(&s, &h.im_doctor, &report_path).await;
    assert_eq!(st, 200, "{report}");
    let members = report["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{report}");
    let nurse = members
        .iter()
        .find(|m| m["user_id"] == h.im_nurse.id.as_str())
        .unwrap();
    assert_eq!(
        (
            nurse["role"].as_str(),
            nurse["current_care_patients"].as_i64()
        ),
        (Some("nurse"), Some(2))
    );

    let (st, review) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/departments/{}/access-reviews", h.im),
        json!({}),
    )
    .await;
    assert_eq!(st, 201, "{review}");
    let rid = review["id"].as_str().unwrap().to_owned();
    let items = review["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let mine = items
        .iter()
        .find(|i| i["user_id"] == h.im_doctor.id.as_str())
        .unwrap()["assignment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nurses = items
        .iter()
        .find(|i| i["user_id"] == h.im_nurse.id.as_str())
        .unwrap()["assignment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/access-reviews/{rid}/items/{mine}"),
        json!({"keep": true}),
    )
    .await;
    assert_eq!(st, 409, "nobody attests their own access");
    let (st, _) = post(
        &s,
        &h.im_nurse,
        &format!("/api/v1/access-reviews/{rid}/items/{nurses}"),
        json!({"keep": true}),
    )
    .await;
    assert_eq!(st, 403);
    let (_, mine_before) = get(&s, &h.im_nurse, "/api/v1/patients/mine").await;
    assert_eq!(mine_before.as_array().unwrap().len(), 2);
    let (st, r) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/access-reviews/{rid}/items/{nurses}"),
        json!({"keep": false}),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let (_, mine_after) = get(&s, &h.im_nurse, "/api/v1/patients/mine").await;
    assert_eq!(mine_after, json!([]), "removal ends the assignment at once");
    assert_eq!(
        post(
            &s,
            &h.im_doctor,
            &format!("/api/v1/access-reviews/{rid}/items/{nurses}"),
            json!({"keep": true})
        )
        .await
        .0,
        409
    );
    assert_eq!(r["completed_at"], Value::Null);
    let (st, r) = post(
        &s,
        &h.admin,
        &format!("/api/v1/access-reviews/{rid}/items/{mine}"),
        json!({"keep": true}),
    )
    .await;
    assert_eq!(st, 200);
    assert!(r["completed_at"].is_i64(), "{r}");
    let actions: Vec<(String, String)> = s
        .app()
        .store()
        .recent_audit(50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.outcome))
        .collect();
    assert!(actions.contains(&("access_review.attested".into(), "removed".into())));
    assert!(actions.contains(&("access_review.attested".into(), "confirmed".into())));
}
