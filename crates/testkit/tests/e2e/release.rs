//! Results release: per-category rules decide when documents reach the patient space, and
//! whoever may write the category for the patient releases the rest, through policy and audit.

use reqwest::StatusCode;
use sealroom_testkit::{Backend, Options, TestServer};
use serde_json::{json, Value};

use crate::access::{hospital, patient_events, post};
use crate::documents::{admitted_patient, upload};

both_backends!(documents_reach_the_patient_space_by_rule_or_when_a_clinician_releases_them);

async fn visible(s: &TestServer, patient: &str) -> Vec<String> {
    let mut ids: Vec<String> = s
        .app()
        .released_documents(patient)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    ids
}

fn id(doc: &Value) -> String {
    doc["id"].as_str().unwrap().to_owned()
}

async fn documents_reach_the_patient_space_by_rule_or_when_a_clinician_releases_them(b: Backend) {
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![(
                "SEALROOM_PATIENT_SPACE__RELEASE".into(),
                r#"{ administrative = "immediately", imaging = "after 3 days" }"#.into(),
            )],
        },
    )
    .await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    let doc = |category: &str, title: &str| json!({"category": category, "kind": "report", "title": title});
    let result = upload(
        &s,
        &h.im_doctor,
        &patient,
        doc("results", "Lipids"),
        "l.pdf",
        b"%PDF r".to_vec(),
    )
    .await;
    let image = upload(
        &s,
        &h.im_doctor,
        &patient,
        doc("imaging", "Chest X-ray"),
        "x.pdf",
        b"%PDF i".to_vec(),
    )
    .await;
    let letter = upload(
        &s,
        &h.im_doctor,
        &patient,
        doc("administrative", "Appointment"),
        "a.pdf",
        b"%PDF a".to_vec(),
    )
    .await;

    // Results wait for a clinician (no rule named them); imaging is scheduled; the letter is out.
    assert_eq!(result["release"]["state"], "awaiting_review", "{result}");
    assert_eq!(image["release"]["state"], "scheduled");
    let created = image["created_at"].as_i64().unwrap();
    assert_eq!(image["release"]["at"], created + 3 * 86_400);
    assert_eq!(letter["release"]["state"], "released");
    assert_eq!(letter["release"]["by"], "rule:immediately");
    assert_eq!(visible(&s, &patient).await, vec![id(&letter)]);

    // Three days on, the imaging report is visible by itself.
    s.clock.advance(sealroom_domain::Duration::hours(72));
    let mut expected = vec![id(&letter), id(&image)];
    expected.sort();
    assert_eq!(visible(&s, &patient).await, expected);

    // Releasing is a write on the category: not for a doctor with no relation to the patient,
    // nor for reception; refusals are audited. The patient's own doctor may.
    let path = format!("/api/v1/documents/{}/release", id(&result));
    for who in [&h.cardio_doctor, &h.reception] {
        let (st, _) = post(&s, who, &path, json!({})).await;
        assert!(
            st == StatusCode::NOT_FOUND || st == StatusCode::FORBIDDEN,
            "{st}"
        );
    }
    assert_eq!(visible(&s, &patient).await, expected);
    let (st, released) = post(&s, &h.im_doctor, &path, json!({})).await;
    assert_eq!(st, 200, "{released}");
    assert_eq!(released["release"]["state"], "released");
    let by = format!("user:{}", h.im_doctor.id);
    assert_eq!(released["release"]["by"], by.as_str());
    let at = released["release"]["at"].clone();
    // Again: nothing changes.
    s.clock.advance(sealroom_domain::Duration::minutes(5));
    let (st, again) = post(&s, &h.im_doctor, &path, json!({})).await;
    assert_eq!(st, 200);
    assert_eq!(again["release"]["at"], at);
    expected.push(id(&result));
    expected.sort();
    assert_eq!(visible(&s, &patient).await, expected);

    let events = patient_events(&s, &patient).await;
    let releases: Vec<_> = events
        .iter()
        .filter(|e| e.1 == "document.released")
        .collect();
    assert_eq!(releases.len(), 2, "{releases:?}");
    assert!(releases.iter().all(|e| e.0 == by && e.2 == "granted"));
    assert!(events
        .iter()
        .any(|e| e.0 == format!("user:{}", h.cardio_doctor.id) && e.1 == "patient.access_denied"));
    let (st, _) = post(
        &s,
        &h.im_doctor,
        "/api/v1/documents/nope/release",
        json!({}),
    )
    .await;
    assert_eq!(st, 404);
}
