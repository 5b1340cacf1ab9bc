//! Access slips for the patient space: reception issues them after an identity check, they
//! carry nothing about the test, their secret works once, and five wrong codes void them.

use reqwest::StatusCode;
use sealroom_testkit::{Backend, TestServer};
use serde_json::{json, Value};

use crate::access::{hospital, patient_events, post, Hospital};

both_backends!(
    reception_issues_slips_that_work_once_and_void_after_five_wrong_codes,
    only_those_the_policy_permits_issue_slips_and_refusals_are_audited,
);

/// A patient admitted to internal medicine with a test ordered by its doctor: (patient, MRN,
/// test id).
async fn patient_with_test(s: &TestServer, h: &Hospital) -> (String, String, String) {
    let (id, test) = crate::documents::admitted_patient(s, h).await;
    let mrn = s.app().store().patient(&id).await.unwrap().unwrap().mrn;
    (id, mrn, test)
}

/// Issue a slip asking for `accept` (the print view or the PDF).
async fn issue_as(
    s: &TestServer,
    who: &crate::access::Person,
    path: &str,
    accept: &str,
    identity_check: &str,
) -> reqwest::Response {
    s.client
        .post(s.url(path))
        .bearer_auth(&who.token)
        .header("accept", accept)
        .json(&json!({"identity_check": identity_check}))
        .send()
        .await
        .unwrap()
}

fn desk() -> sealroom_app::Client {
    sealroom_app::Client {
        address: "127.0.0.1".into(),
        user_agent: "e2e".into(),
    }
}

async fn redeem(s: &TestServer, mrn: &str, reference: &str, secret: &str) -> Result<(), String> {
    s.app()
        .redeem_access_slip(&desk(), mrn, reference, secret)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn is_grouped(value: &str, groups: usize, size: usize) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == groups
        && parts.iter().all(|p| {
            p.len() == size
                && p.chars()
                    .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c))
        })
}

async fn reception_issues_slips_that_work_once_and_void_after_five_wrong_codes(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (patient, mrn, test) = patient_with_test(&s, &h).await;
    let path = format!("/api/v1/tests/{test}/slips");

    // The identity document checked is required, from a known list.
    let (st, e) = post(
        &s,
        &h.reception,
        &path,
        json!({"identity_check": "library card"}),
    )
    .await;
    assert_eq!(st, 400);
    assert!(e["message"].as_str().unwrap().contains("passport"), "{e}");

    let (st, first) = post(
        &s,
        &h.reception,
        &path,
        json!({"identity_check": "passport"}),
    )
    .await;
    assert_eq!(st, 201, "{first}");
    assert_eq!(first["patient_number"], mrn.as_str());
    let reference = first["test_reference"].as_str().unwrap().to_owned();
    assert!(is_grouped(&reference, 2, 5), "{reference}");
    let first_secret = first["activation_secret"].as_str().unwrap().to_owned();
    assert!(
        is_grouped(&first_secret, 4, 4),
        "80 bits in four groups: {first_secret}"
    );
    assert!(first["patient_space_url"]
        .as_str()
        .unwrap()
        .ends_with("/patient"));
    assert_eq!(first["replaced_earlier"], false);

    s.clock.advance(sealroom_domain::Duration::minutes(1));
    // Issued again, as the page to print: the earlier slip is void, the reference stays, and
    // nothing about the test or the patient beyond the record number is on it.
    let r = issue_as(&s, &h.reception, &path, "text/html", "identity_card").await;
    assert_eq!(r.status(), 201);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    assert!(page.contains(&mrn) && page.contains(&reference), "{page}");
    let secret = page
        .split("dd class=\"code secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert!(is_grouped(&secret, 4, 4), "{secret}");
    assert_ne!(secret, first_secret);
    for private in [
        "Dupont",
        "Marie",
        "1961",
        "laboratory",
        "Internal medicine",
        &test,
    ] {
        assert!(!page.contains(private), "the slip shows {private}");
    }

    s.clock.advance(sealroom_domain::Duration::minutes(1));
    // As a PDF, read back by an independent parser: the same fields, a fresh code, and
    // nothing private.
    let r = issue_as(
        &s,
        &h.reception,
        &path,
        "application/pdf",
        "driving_licence",
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let pages = sealroom_testkit::pdf_pages(&r.bytes().await.unwrap());
    assert_eq!(pages.len(), 1);
    let text = &pages[0];
    assert!(
        text.contains(&mrn) && text.contains(&reference) && text.contains("Activation code"),
        "{text}"
    );
    let pdf_secret = text
        .lines()
        .find(|l| is_grouped(l.trim(), 4, 4))
        .unwrap_or_else(|| panic!("no activation code in {text}"))
        .trim()
        .to_owned();
    assert_ne!(pdf_secret, secret, "each issue draws a new code");
    for private in [
        "Dupont",
        "Marie",
        "1961",
        "laboratory",
        "Internal medicine",
        &test,
    ] {
        assert!(!text.contains(private), "the PDF shows {private}");
    }
    // The PDF's slip is now the active one; the print view's is void.
    let secret = pdf_secret;

    // The replaced slip's code does not open the test (and counts as a wrong code).
    let wrong = redeem(&s, &mrn, &reference, &first_secret)
        .await
        .unwrap_err();
    assert!(wrong.contains("not right"), "{wrong}");
    // Typed loosely (lower case, spaces, O for 0), the current code works, once.
    let loose = secret.to_lowercase().replace('-', " ").replace('0', "o");
    redeem(&s, &mrn, &reference.to_lowercase(), &loose)
        .await
        .unwrap();
    let again = redeem(&s, &mrn, &reference, &secret).await.unwrap_err();
    assert!(again.contains("can no longer be used"), "{again}");

    s.clock.advance(sealroom_domain::Duration::minutes(1));
    // A new slip: four wrong codes are counted, the fifth voids it, and then even the right
    // code is refused. A wrong patient ID with the right code is a wrong attempt too.
    let (st, third) = post(
        &s,
        &h.reception,
        &path,
        json!({"identity_check": "passport"}),
    )
    .await;
    assert_eq!(st, 201);
    let secret = third["activation_secret"].as_str().unwrap().to_owned();
    let e = redeem(&s, "000000", &reference, &secret).await.unwrap_err();
    assert!(e.contains("not right"), "{e}");
    for _ in 0..3 {
        let e = redeem(&s, &mrn, &reference, "AAAA-AAAA-AAAA-AAAA")
            .await
            .unwrap_err();
        assert!(e.contains("not right"), "{e}");
    }
    let e = redeem(&s, &mrn, &reference, "not even a code")
        .await
        .unwrap_err();
    assert!(
        e.contains("can no longer be used"),
        "the fifth voids it: {e}"
    );
    let e = redeem(&s, &mrn, &reference, &secret).await.unwrap_err();
    assert!(e.contains("can no longer be used"), "{e}");
    // An unknown test gets the same answer as a wrong code.
    let e = redeem(&s, &mrn, "ZZZZZ-ZZZZZ", &secret).await.unwrap_err();
    assert!(e.contains("not right"), "{e}");

    // The audit log says who issued what after which identity check, every refusal and why,
    // and the redemption; no secret appears in it or in the database.
    let events = patient_events(&s, &patient).await;
    let issued: Vec<&Value> = events
        .iter()
        .filter(|e| e.1 == "access_slip.issued")
        .map(|e| &e.3)
        .collect();
    assert_eq!(issued.len(), 4);
    assert_eq!(issued[0]["identity_check"], "passport");
    assert_eq!(issued[1]["identity_check"], "identity_card");
    assert!(events
        .iter()
        .filter(|e| e.1 == "access_slip.issued")
        .all(|e| e.0 == format!("user:{}", h.reception.id)));
    let count = |action: &str| events.iter().filter(|e| e.1 == action).count();
    assert_eq!(count("access_slip.redeemed"), 1);
    assert_eq!(count("access_slip.refused"), 8);
    assert!(events.iter().any(|e| e.1 == "access_slip.refused"
        && e.3["why"] == "too many wrong attempts: the slip is void"));
    let everything = format!("{events:?}");
    let slips = s.app().store().slips_of_test(&test).await.unwrap();
    assert_eq!(slips.len(), 4);
    assert_eq!(
        slips.iter().map(|s| s.state.as_str()).collect::<Vec<_>>(),
        ["void", "void", "used", "void"]
    );
    assert_eq!(slips[0].void_reason.as_deref(), Some("replaced"));
    assert_eq!(slips[1].void_reason.as_deref(), Some("replaced"));
    assert_eq!(slips[3].void_reason.as_deref(), Some("too_many_attempts"));
    for code in [&first_secret, &secret] {
        let canonical = code.replace('-', "");
        assert!(!everything.contains(&canonical) && !everything.contains(code.as_str()));
        assert!(slips.iter().all(|s| !s.secret_digest.contains(&canonical)));
    }
}

async fn only_those_the_policy_permits_issue_slips_and_refusals_are_audited(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (patient, _, test) = patient_with_test(&s, &h).await;
    let path = format!("/api/v1/tests/{test}/slips");
    let body = json!({"identity_check": "passport"});

    // Reception may; the security officer (no patient data at all) may not.
    let (st, _) = post(&s, &h.reception, &path, body.clone()).await;
    assert_eq!(st, 201);
    let (st, _) = post(&s, &h.officer, &path, body.clone()).await;
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
        "{st}"
    );
    // An unknown test is not found.
    let (st, _) = post(&s, &h.reception, "/api/v1/tests/nope/slips", body.clone()).await;
    assert_eq!(st, 404);
    // Reception issues slips but reads no results.
    let (st, _) = post(
        &s,
        &h.lab,
        &format!("/api/v1/patients/{patient}/records"),
        json!({"category": "results", "text": "Hb 13.1"}),
    )
    .await;
    assert_eq!(st, 201);
    let r = s
        .client
        .get(s.url(&format!(
            "/api/v1/patients/{patient}/records?category=results"
        )))
        .bearer_auth(&h.reception.token)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains("Hb 13.1"), "{text}");
    let events = patient_events(&s, &patient).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1 == "access_slip.issued")
            .count(),
        1,
        "only the permitted issue is recorded as issued"
    );
    assert!(events
        .iter()
        .any(|e| e.0 == format!("user:{}", h.officer.id) && e.2 != "granted"));
}
