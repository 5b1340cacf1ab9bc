//! The patient space over HTTP, as a browser uses it (forms, redirects, cookies): activation
//! with an access slip and a chosen second factor, reading released results through the
//! policy and the audit log, the access history, signing in again with the remembered factor,
//! and the limits: slip attempts, code tries and binding, idle and absolute session ends, sign
//! out everywhere. The browser journey with Chromium and axe-core is in
//! `e2e/tests/patient-space.test.mjs`.

use reqwest::StatusCode;
use sealroom_domain::Duration;
use sealroom_testkit::{Backend, Options, SmtpSink, TestServer};
use serde_json::{json, Value};

use crate::access::{get, hospital, patient_events, post, Hospital};
use crate::documents::{admitted_patient, upload};

both_backends!(
    a_patient_activates_with_a_slip_and_reads_only_their_released_results,
    sign_in_needs_the_password_and_a_code_bound_to_that_sign_in,
    patient_sessions_end_when_idle_after_twelve_hours_and_everywhere,
    an_authenticator_app_can_be_the_second_factor_and_changing_it_needs_reauthentication,
    proxy_access_needs_two_people_and_the_proxy_reads_only_its_scope,
    care_departments_give_lasting_spaces_or_one_per_stay_as_configured,
    the_desk_registers_admits_verifies_and_prints_slips_but_sees_no_result,
    scheduled_releases_are_told_once_per_patient_when_their_day_comes,
    a_lasting_space_recovers_a_forgotten_password_with_two_codes,
    a_patient_invited_by_email_opens_the_lasting_space_without_a_slip,
    a_space_per_test_stores_no_message_attachment,
);

const PASSWORD: &str = "copper kettle winter orchard";
const ADDRESS: &str = "patient-4e1b@example.org";

/// A patient with a test, a verified e-mail address and a released result for that test.
struct Scene {
    s: TestServer,
    sink: SmtpSink,
    h: Hospital,
    patient: String,
    test: String,
    contact: String,
    result: Value,
}

async fn scene(b: Backend, env: Vec<(&str, &str)>) -> Scene {
    let sink = SmtpSink::start().await;
    let mut vars = vec![("SEALROOM_MAIL__SMTP_URL".to_owned(), sink.url())];
    vars.extend(env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
    let s = TestServer::start_with(b, Options { env: vars }).await;
    let h = hospital(&s).await;
    let (patient, test) = admitted_patient(&s, &h).await;
    let contacts = format!("/api/v1/patients/{patient}/contacts");
    let (st, c) = post(&s, &h.reception, &contacts, json!({"email": ADDRESS})).await;
    assert_eq!(st, 201, "{c}");
    let contact = c["id"].as_str().unwrap().to_owned();
    let mail = sink.wait_for(|m| m.contains("verification code")).await;
    let code = code_in(&mail, "verification code is ");
    let (st, c) = post(
        &s,
        &h.reception,
        &format!("{contacts}/{contact}/verification"),
        json!({"code": code}),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    let result = upload(
        &s,
        &h.lab,
        &patient,
        json!({"category": "results", "kind": "result", "title": "Ferritin 212 µg/L", "test_id": test}),
        "ferritin.pdf",
        b"%PDF-1.4 ferritin result".to_vec(),
    )
    .await;
    let (st, r) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{}/release", id(&result)),
        json!({}),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    Scene {
        s,
        sink,
        h,
        patient,
        test,
        contact,
        result,
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn code_in(text: &str, marker: &str) -> String {
    let code: String = text
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker:?} in {text}"))
        .chars()
        .take(6)
        .collect();
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    code
}

/// The sign-in code of the next sign-in message after those in `before`.
async fn next_code(sink: &SmtpSink, before: &[String]) -> String {
    let mail = sink
        .wait_for(|m| m.contains("your sign-in code") && !before.iter().any(|b| b == m))
        .await;
    code_in(&mail, "patient space is ")
}

struct Slip {
    patient_number: String,
    test_reference: String,
    secret: String,
}

async fn slip(sc: &Scene) -> Slip {
    let (st, v) = post(
        &sc.s,
        &sc.h.reception,
        &format!("/api/v1/tests/{}/slips", sc.test),
        json!({"identity_check": "identity_card"}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    Slip {
        patient_number: v["patient_number"].as_str().unwrap().to_owned(),
        test_reference: v["test_reference"].as_str().unwrap().to_owned(),
        secret: v["activation_secret"].as_str().unwrap().to_owned(),
    }
}

async fn page(s: &TestServer, c: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let r = c.get(s.url(path)).send().await.unwrap();
    let st = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = r.text().await.unwrap();
    (st, location.unwrap_or(body))
}

/// Post a form; returns the status and the redirect target or the page.
async fn form(
    s: &TestServer,
    c: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = c.post(s.url(path)).form(fields).send().await.unwrap();
    let st = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = r.text().await.unwrap();
    (st, location.unwrap_or(body))
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF field in {html}"))
        .to_owned()
}

/// Activate with the slip and confirm an e-mail code: a signed-in browser.
async fn activated(sc: &Scene, slip: &Slip) -> reqwest::Client {
    let c = sc.s.browser();
    let (st, to) = form(
        &sc.s,
        &c,
        "/patient/activate",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
            ("activation_code", &slip.secret),
        ],
    )
    .await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/setup"));
    let (_, setup) = page(&sc.s, &c, "/patient/setup").await;
    // With an address verified at the desk, the slip alone cannot open the space: the first
    // method is confirmed through that address (an app can be added later).
    assert!(!setup.contains("value=\"totp\""), "{setup}");
    let before = sc.sink.messages();
    let method = format!("email:{}", sc.contact);
    let (st, to) = form(
        &sc.s,
        &c,
        "/patient/setup",
        &[
            ("_csrf", &csrf_of(&setup)),
            ("password", PASSWORD),
            ("confirmation", PASSWORD),
            ("method", &method),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/setup/confirm")
    );
    let code = next_code(&sc.sink, &before).await;
    let (_, confirm) = page(&sc.s, &c, "/patient/setup/confirm").await;
    let (st, to) = form(
        &sc.s,
        &c,
        "/patient/setup/confirm",
        &[("_csrf", &csrf_of(&confirm)), ("code", &code)],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{to}");
    assert_eq!(to, "/patient/documents?welcome=1");
    c
}

/// Sign in with the password and the e-mail code: a signed-in browser.
async fn signed_in(sc: &Scene, slip: &Slip) -> reqwest::Client {
    let c = sc.s.browser();
    let before = sc.sink.messages();
    let (st, to) = form(
        &sc.s,
        &c,
        "/patient/sign-in",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/code"));
    let code = next_code(&sc.sink, &before).await;
    let (_, page_html) = page(&sc.s, &c, "/patient/code").await;
    let (st, to) = form(
        &sc.s,
        &c,
        "/patient/code",
        &[("_csrf", &csrf_of(&page_html)), ("code", &code)],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/documents")
    );
    c
}

async fn a_patient_activates_with_a_slip_and_reads_only_their_released_results(b: Backend) {
    let sc = scene(b, vec![]).await;
    let s = &sc.s;
    // Two documents the patient must not see: the same test's, not yet released; and one of
    // another test, released.
    let unreleased = upload(
        s,
        &sc.h.lab,
        &sc.patient,
        json!({"category": "results", "kind": "result", "title": "Unreleased vitamin D", "test_id": sc.test}),
        "d.pdf",
        b"%PDF-1.4 d".to_vec(),
    )
    .await;
    let (st, other_test) = post(
        s,
        &sc.h.im_doctor,
        &format!("/api/v1/patients/{}/tests", sc.patient),
        json!({"laboratory_id": sc.h.laboratory}),
    )
    .await;
    assert_eq!(st, 201);
    let other = upload(
        s,
        &sc.h.lab,
        &sc.patient,
        json!({"category": "results", "kind": "result", "title": "Other test HbA1c", "test_id": id(&other_test)}),
        "h.pdf",
        b"%PDF-1.4 h".to_vec(),
    )
    .await;
    let (st, _) = post(
        s,
        &sc.h.im_doctor,
        &format!("/api/v1/documents/{}/release", id(&other)),
        json!({}),
    )
    .await;
    assert_eq!(st, 200);

    // The welcome page, in the browser's language.
    let c = s.browser();
    let r = c
        .get(s.url("/patient"))
        .header("accept-language", "fr-BE,fr;q=0.9")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("<html lang=\"fr\""), "{body}");
    assert!(body.contains("Votre espace patient"), "{body}");
    let (_, body) = page(s, &c, "/patient").await;
    assert!(body.contains("<html lang=\"en\""), "{body}");

    // A wrong activation code is refused plainly; the right one opens the set-up.
    let slip = slip(&sc).await;
    let (st, body) = form(
        s,
        &c,
        "/patient/activate",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
            ("activation_code", "AAAA-AAAA-AAAA-AAAA"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("activation code is not right"), "{body}");
    let c = activated(&sc, &slip).await;
    // The slip worked once.
    let again = s.browser();
    let (st, body) = form(
        s,
        &again,
        "/patient/activate",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
            ("activation_code", &slip.secret),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("can no longer be used"), "{body}");

    // Only the released result of this test is listed, with its verified signature.
    let (st, list) = page(s, &c, "/patient/documents").await;
    assert_eq!(st, 200, "{list}");
    assert!(list.contains("Ferritin 212"), "{list}");
    assert!(!list.contains("Unreleased vitamin D"), "{list}");
    assert!(!list.contains("Other test HbA1c"), "{list}");
    assert!(list.contains("the signature is verified"), "{list}");
    let result = id(&sc.result);
    let (st, one) = page(s, &c, &format!("/patient/documents/{result}")).await;
    assert_eq!(st, 200);
    assert!(one.contains("Signed by Test Person"), "{one}");
    let r = c
        .get(s.url(&format!("/patient/documents/{result}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.headers()["x-sealroom-signature"], "verified");
    assert_eq!(&r.bytes().await.unwrap()[..], b"%PDF-1.4 ferritin result");
    for hidden in [id(&unreleased), id(&other)] {
        for path in [
            format!("/patient/documents/{hidden}"),
            format!("/patient/documents/{hidden}/download"),
        ] {
            let (st, _) = page(s, &c, &path).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        }
    }

    // Every read went through the policy as the patient's account and is audited on the
    // patient, with the policy that permitted it.
    let events = patient_events(s, &sc.patient).await;
    let read = events
        .iter()
        .find(|e| e.0.starts_with("patient_account:") && e.1 == "document.read")
        .expect("the download is audited");
    assert_eq!(read.2, "granted");
    assert_eq!(read.3["purpose"], "PATRQT");
    assert_eq!(
        read.3["reasons"][0]["policy"],
        "patients-read-their-own-record"
    );
    assert_eq!(read.3["document"], result);

    // The access history shows staff by name and the patient's own read.
    let (st, history) = page(s, &c, "/patient/history").await;
    assert_eq!(st, 200);
    assert!(history.contains("Test Person"), "{history}");
    assert!(history.contains("You, in your patient space"), "{history}");
    assert!(history.contains("Your care"), "{history}");

    // Reception, who issued the slip, reads no result and no document list.
    let (st, _) = get(s, &sc.h.reception, &format!("/api/v1/documents/{result}")).await;
    assert!(st == 403 || st == 404, "{st}");
    let (st, list) = get(
        s,
        &sc.h.reception,
        &format!("/api/v1/patients/{}/documents", sc.patient),
    )
    .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(
        list["documents"],
        json!([]),
        "administrative documents only: {list}"
    );
    assert!(
        list["withheld_categories"]
            .as_array()
            .unwrap()
            .contains(&json!("results")),
        "{list}"
    );

    // A patient session opens no staff page and no staff API.
    let (st, to) = page(s, &c, "/patients").await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{to}");
    let (st, _) = page(s, &c, &format!("/api/v1/patients/{}", sc.patient)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

async fn sign_in_needs_the_password_and_a_code_bound_to_that_sign_in(b: Backend) {
    let sc = scene(b, vec![]).await;
    let s = &sc.s;
    let slip = slip(&sc).await;
    drop(activated(&sc, &slip).await);

    // The same answer for a wrong password and an unknown test.
    for (number, reference, password) in [
        (
            slip.patient_number.as_str(),
            slip.test_reference.as_str(),
            "wrong password here",
        ),
        (slip.patient_number.as_str(), "ZZZZZ-ZZZZZ", PASSWORD),
        ("000000", slip.test_reference.as_str(), PASSWORD),
    ] {
        let (st, body) = form(
            s,
            &s.browser(),
            "/patient/sign-in",
            &[
                ("patient_number", number),
                ("test_reference", reference),
                ("password", password),
            ],
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert!(
            body.contains("is not right, or sign-in is paused"),
            "{body}"
        );
    }

    // Two sign-ins at once: each code works only for its own sign-in.
    let (a, b2) = (s.browser(), s.browser());
    let fields = [
        ("patient_number", slip.patient_number.as_str()),
        ("test_reference", slip.test_reference.as_str()),
        ("password", PASSWORD),
    ];
    let before = sc.sink.messages();
    let (st, _) = form(s, &a, "/patient/sign-in", &fields).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let code_a = next_code(&sc.sink, &before).await;
    let before = sc.sink.messages();
    let (st, _) = form(s, &b2, "/patient/sign-in", &fields).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let code_b = next_code(&sc.sink, &before).await;
    let (_, page_b) = page(s, &b2, "/patient/code").await;
    assert!(page_b.contains("p•••@example.org"), "{page_b}");
    assert!(!page_b.contains(ADDRESS), "the address is masked");
    if code_a != code_b {
        let (st, body) = form(
            s,
            &b2,
            "/patient/code",
            &[("_csrf", &csrf_of(&page_b)), ("code", &code_a)],
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert!(body.contains("4 tries left"), "{body}");
    }
    // Four more wrong codes and this sign-in's code no longer works, even the right one.
    let wrong = if code_b == "000000" {
        "111111"
    } else {
        "000000"
    };
    for left in [3, 2, 1, 0] {
        let (_, p) = page(s, &b2, "/patient/code").await;
        let (st, body) = form(
            s,
            &b2,
            "/patient/code",
            &[("_csrf", &csrf_of(&p)), ("code", wrong)],
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        if code_a == code_b && left == 0 {
            break;
        }
        let expected = match left {
            1 => "1 try left".to_owned(),
            n => format!("{n} tries left"),
        };
        assert!(body.contains(&expected), "{left}: {body}");
    }
    let (_, p) = page(s, &b2, "/patient/code").await;
    let (st, body) = form(
        s,
        &b2,
        "/patient/code",
        &[("_csrf", &csrf_of(&p)), ("code", &code_b)],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("no longer works"), "{body}");
    // A new code can be sent, but not at once (30 s apart).
    let (_, p) = page(s, &b2, "/patient/code").await;
    let (st, _) = form(s, &b2, "/patient/code/resend", &[("_csrf", &csrf_of(&p))]).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    s.clock.advance(Duration::seconds(31));
    let before = sc.sink.messages();
    let (st, _) = form(s, &b2, "/patient/code/resend", &[("_csrf", &csrf_of(&p))]).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let fresh = next_code(&sc.sink, &before).await;
    // A code expires after 10 minutes (the pending sign-in, kept busy, outlives it).
    s.clock.advance(Duration::minutes(5));
    let (st, _) = page(s, &b2, "/patient/code").await;
    assert_eq!(st, 200);
    s.clock.advance(Duration::seconds(301));
    let (_, p) = page(s, &b2, "/patient/code").await;
    let (st, body) = form(
        s,
        &b2,
        "/patient/code",
        &[("_csrf", &csrf_of(&p)), ("code", &fresh)],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("no longer works"), "{body}");

    // The other sign-in (its pending session idle past 10 minutes) has ended: start again.
    let (st, to) = page(s, &a, "/patient/code").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );
    // The wrong codes slowed down sign-in for this account for a moment; then a right code
    // signs in, once.
    let (st, _) = form(
        s,
        &s.browser(),
        "/patient/sign-in",
        &[
            ("patient_number", slip.patient_number.as_str()),
            ("test_reference", slip.test_reference.as_str()),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "paused after the wrong codes");
    s.clock.advance(Duration::minutes(2));
    let c = signed_in(&sc, &slip).await;
    let (st, _) = page(s, &c, "/patient/documents").await;
    assert_eq!(st, 200);
    let events = patient_events(s, &sc.patient).await;
    assert!(events.iter().all(|e| !e.3.to_string().contains(ADDRESS)));
    let account_events = s
        .app()
        .store()
        .recent_audit(500)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("patient_sign_in"))
        .collect::<Vec<_>>();
    assert!(account_events
        .iter()
        .any(|e| e.action == "patient_sign_in.succeeded" && e.details.contains("password+email")));
    assert!(account_events
        .iter()
        .any(|e| e.action == "patient_sign_in.failed" && e.details.contains("second_factor")));
    assert!(account_events.iter().all(|e| !e.details.contains(PASSWORD)));
}

async fn patient_sessions_end_when_idle_after_twelve_hours_and_everywhere(b: Backend) {
    let sc = scene(b, vec![]).await;
    let s = &sc.s;
    let slip = slip(&sc).await;
    let c = activated(&sc, &slip).await;

    // Idle: 9 minutes is fine, 10 without a request ends the session.
    s.clock.advance(Duration::minutes(9));
    let (st, _) = page(s, &c, "/patient/documents").await;
    assert_eq!(st, 200);
    s.clock.advance(Duration::minutes(10));
    let (st, to) = page(s, &c, "/patient/documents").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );
    let (_, home) = page(s, &c, "/patient?ended=1").await;
    assert!(home.contains("You were signed out"), "{home}");

    // Absolute: even a busy session ends 12 hours after sign-in.
    let c = signed_in(&sc, &slip).await;
    let mut minutes = 0;
    while minutes < 12 * 60 - 9 {
        s.clock.advance(Duration::minutes(9));
        minutes += 9;
        let (st, _) = page(s, &c, "/patient/documents").await;
        assert_eq!(st, 200, "after {minutes} minutes");
    }
    s.clock.advance(Duration::minutes(12 * 60 - minutes));
    let (st, to) = page(s, &c, "/patient/documents").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );

    // Sign out everywhere ends the other device's session too.
    let phone = signed_in(&sc, &slip).await;
    let laptop = signed_in(&sc, &slip).await;
    let (_, account) = page(s, &phone, "/patient/account").await;
    assert!(account.contains("this device"), "{account}");
    let (st, _) = form(
        s,
        &phone,
        "/patient/sign-out-everywhere",
        &[("_csrf", &csrf_of(&account))],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    // This browser's cookie is gone; the other's session is ended and it is told so.
    let (st, to) = page(s, &phone, "/patient/documents").await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient"));
    let (st, to) = page(s, &laptop, "/patient/documents").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );

    // Five wrong activation codes void a slip; a new slip from the desk restarts the
    // account, whose sessions end.
    let c = signed_in(&sc, &slip).await;
    let fresh = crate::patient_space::slip(&sc).await;
    // A slip printed for a space in use could take it over: the patient hears of it.
    let notice = sc
        .sink
        .wait_for(|m| m.contains("sign-in changed") && m.contains(ADDRESS))
        .await;
    assert!(
        !notice.contains(&fresh.secret) && !notice.contains("Dupont"),
        "{notice}"
    );
    for _ in 0..5 {
        let (st, _) = form(
            s,
            &s.browser(),
            "/patient/activate",
            &[
                ("patient_number", &fresh.patient_number),
                ("test_reference", &fresh.test_reference),
                ("activation_code", "BBBB-BBBB-BBBB-BBBB"),
            ],
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
    let (st, body) = form(
        s,
        &s.browser(),
        "/patient/activate",
        &[
            ("patient_number", &fresh.patient_number),
            ("test_reference", &fresh.test_reference),
            ("activation_code", &fresh.secret),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("can no longer be used"), "{body}");
    // The wrong attempts also paused activation for this test for a moment (the throttle);
    // by the time the patient is back from the desk it has passed.
    let recovery = crate::patient_space::slip(&sc).await;
    let (st, body) = form(
        s,
        &s.browser(),
        "/patient/activate",
        &[
            ("patient_number", &recovery.patient_number),
            ("test_reference", &recovery.test_reference),
            ("activation_code", &recovery.secret),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("wait a few minutes"), "{body}");
    s.clock.advance(Duration::minutes(2));
    let c2 = activated(&sc, &recovery).await;
    let (st, _) = page(s, &c2, "/patient/documents").await;
    assert_eq!(st, 200);
    let (st, to) = page(s, &c, "/patient/documents").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );
}

async fn an_authenticator_app_can_be_the_second_factor_and_changing_it_needs_reauthentication(
    b: Backend,
) {
    let sc = scene(b, vec![("SEALROOM_PATIENT_SPACE__IDLE_MINUTES", "30")]).await;
    let s = &sc.s;
    let slip = slip(&sc).await;
    let c = activated(&sc, &slip).await;

    // Signing in counts as authenticating for five minutes; after that the set-up page is
    // closed until the patient re-authenticates.
    s.clock.advance(Duration::minutes(6));
    let (st, to) = page(s, &c, "/patient/setup").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/account?reauthenticate=1")
    );
    let (_, account) = page(s, &c, "/patient/account").await;
    assert!(
        account.contains("a code by e-mail to p•••@example.org"),
        "{account}"
    );
    let before = sc.sink.messages();
    let (st, to) = form(
        s,
        &c,
        "/patient/account/reauthenticate",
        &[("_csrf", &csrf_of(&account)), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/account/confirm")
    );
    let code = next_code(&sc.sink, &before).await;
    let (_, confirm) = page(s, &c, "/patient/account/confirm").await;
    let (st, to) = form(
        s,
        &c,
        "/patient/account/confirm",
        &[("_csrf", &csrf_of(&confirm)), ("code", &code)],
    )
    .await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/setup"));

    // Switch to an authenticator app: the key is shown, the first code confirms it.
    let (st, setup) = page(s, &c, "/patient/setup").await;
    assert_eq!(st, 200, "{setup}");

    // A passkey alone is offered too and needs no password (any other method does); nothing
    // changes until the passkey is created. An account with a password cannot use the
    // passkey-alone sign-in, and is told what a wrong password is told.
    assert!(setup.contains("value=\"passkey_only\""), "{setup}");
    let method = format!("email:{}", sc.contact);
    let (st, refusal) = form(
        s,
        &c,
        "/patient/setup",
        &[
            ("_csrf", &csrf_of(&setup)),
            ("password", ""),
            ("confirmation", ""),
            ("method", &method),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{refusal}");
    let (st, to) = form(
        s,
        &c,
        "/patient/setup",
        &[
            ("_csrf", &csrf_of(&setup)),
            ("password", ""),
            ("confirmation", ""),
            ("method", "passkey_only"),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/setup/confirm")
    );
    let (_, confirm) = page(s, &c, "/patient/setup/confirm").await;
    assert!(confirm.contains("patient-passkey-register"), "{confirm}");
    let (st, refused) = form(
        s,
        &s.browser(),
        "/patient/sign-in/passkey",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{refused}");
    let (_, wrong_password) = form(
        s,
        &s.browser(),
        "/patient/sign-in",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
            ("password", "not the password at all"),
        ],
    )
    .await;
    let alert = |page: &str| {
        page.split("id=\"form-error\"")
            .nth(1)
            .map(|r| r.split('<').next().unwrap_or("").to_owned())
    };
    assert_eq!(alert(&refused), alert(&wrong_password));
    assert!(alert(&refused).is_some(), "{refused}");
    let (st, to) = form(
        s,
        &c,
        "/patient/setup",
        &[
            ("_csrf", &csrf_of(&setup)),
            ("password", PASSWORD),
            ("confirmation", PASSWORD),
            ("method", "totp"),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/setup/confirm")
    );
    let (_, confirm) = page(s, &c, "/patient/setup/confirm").await;
    let key = confirm
        .split("id=\"totp-secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the key is shown")
        .to_owned();
    let secret = sealroom_crypto::totp::TotpSecret::from_bytes(
        data_encoding::BASE32_NOPAD.decode(key.as_bytes()).unwrap(),
    );
    let (st, to) = form(
        s,
        &c,
        "/patient/setup/confirm",
        &[
            ("_csrf", &csrf_of(&confirm)),
            ("code", &secret.code_at(s.now())),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{to}");
    let (_, account) = page(s, &c, "/patient/account").await;
    assert!(account.contains("authenticator app"), "{account}");

    // Next sign-in asks the app's code (none is sent), and a code is used once.
    s.clock.advance(Duration::seconds(30));
    let browser = s.browser();
    let (st, _) = form(
        s,
        &browser,
        "/patient/sign-in",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let (_, p) = page(s, &browser, "/patient/code").await;
    assert!(p.contains("authenticator app"), "{p}");
    assert!(!p.contains("resend"), "nothing to resend for an app");
    let now_code = secret.code_at(s.now());
    let (st, to) = form(
        s,
        &browser,
        "/patient/code",
        &[("_csrf", &csrf_of(&p)), ("code", &now_code)],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/documents")
    );
    let other = s.browser();
    let (_, _) = form(
        s,
        &other,
        "/patient/sign-in",
        &[
            ("patient_number", &slip.patient_number),
            ("test_reference", &slip.test_reference),
            ("password", PASSWORD),
        ],
    )
    .await;
    let (_, p) = page(s, &other, "/patient/code").await;
    let (st, body) = form(
        s,
        &other,
        "/patient/code",
        &[("_csrf", &csrf_of(&p)), ("code", &now_code)],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("already used"), "{body}");
    // An app code is not sent, so its tries count on the sign-in: five wrong in all end it.
    let wrong = if now_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..4 {
        let (_, p) = page(s, &other, "/patient/code").await;
        let (st, _) = form(
            s,
            &other,
            "/patient/code",
            &[("_csrf", &csrf_of(&p)), ("code", wrong)],
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
    let (st, body) = form(
        s,
        &other,
        "/patient/code",
        &[("_csrf", &csrf_of(&p)), ("code", wrong)],
    )
    .await;
    assert!(
        st == StatusCode::BAD_REQUEST && body.contains("Too many wrong codes")
            || st == StatusCode::SEE_OTHER,
        "{st} {body}"
    );
    let (st, to) = page(s, &other, "/patient/code").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );
    // The configured idle limit (30 minutes) holds instead of 10.
    s.clock.advance(Duration::minutes(20));
    let (st, _) = page(s, &browser, "/patient/documents").await;
    assert_eq!(st, 200);
    let changed = s
        .app()
        .store()
        .recent_audit(200)
        .await
        .unwrap()
        .into_iter()
        .any(|e| {
            e.action == "patient_account.sign_in_method_changed" && e.details.contains("totp")
        });
    assert!(changed);
}

const PROXY_ADDRESS: &str = "proxy-77c2@example.org";

async fn proxy_access_needs_two_people_and_the_proxy_reads_only_its_scope(b: Backend) {
    let sc = scene(b, vec![]).await;
    let s = &sc.s;
    // A released clinical note: outside the proxy's scope.
    let note = upload(
        s,
        &sc.h.im_doctor,
        &sc.patient,
        json!({"category": "clinical_notes", "kind": "letter", "title": "Discharge letter planted"}),
        "n.pdf",
        b"%PDF-1.4 note".to_vec(),
    )
    .await;
    let (st, _) = post(
        s,
        &sc.h.im_doctor,
        &format!("/api/v1/documents/{}/release", id(&note)),
        json!({}),
    )
    .await;
    assert_eq!(st, 200);
    let proxies = format!("/api/v1/patients/{}/proxies", sc.patient);
    let proposal = |extra: Value| {
        let mut p = json!({"name": "Planted Proxyname", "relationship": "parent",
            "legal_basis": "parental_authority", "categories": ["results"],
            "valid_until": "2027-06-30", "email": PROXY_ADDRESS});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };

    // Proposals are checked and say what is wrong.
    for (bad, field) in [
        (json!({"relationship": "neighbour"}), "relationship"),
        (json!({"valid_until": "2026-01-01"}), "valid_until"),
        (json!({"categories": []}), "categories"),
        (json!({"phone": "+32470123456"}), "email"),
    ] {
        let (st, e) = post(s, &sc.h.reception, &proxies, proposal(bad)).await;
        assert_eq!(st, 400, "{e}");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{field}: {e}"
        );
    }
    let (st, _) = post(s, &sc.h.cardio_doctor, &proxies, proposal(json!({}))).await;
    assert!(st == 403 || st == 404, "no relation to the patient: {st}");
    let (st, p) = post(s, &sc.h.reception, &proxies, proposal(json!({}))).await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["state"], "proposed");
    assert_eq!(p["contact"], "p•••@example.org");
    let proxy = id(&p);

    // Four eyes: the proposer can neither approve nor reject; someone without a relation to
    // the patient cannot decide; a second person with one can, once.
    for decision in ["approval", "rejection"] {
        let (st, e) = post(
            s,
            &sc.h.reception,
            &format!("/api/v1/proxies/{proxy}/{decision}"),
            json!({}),
        )
        .await;
        assert_eq!(st, 409, "{e}");
        assert!(
            e["message"].as_str().unwrap().contains("second person"),
            "{e}"
        );
    }
    let (st, _) = post(
        s,
        &sc.h.cardio_doctor,
        &format!("/api/v1/proxies/{proxy}/approval"),
        json!({}),
    )
    .await;
    assert!(st == 403 || st == 404, "{st}");
    // Approving needs to be able to read every category through care: not reception (it
    // registers patients, it does not read results), so two desk clerks can never open a
    // record to an outsider.
    let (_, by_doctor) = post(
        s,
        &sc.h.im_doctor,
        &proxies,
        proposal(json!({"name": "Third Person"})),
    )
    .await;
    let (st, e) = post(
        s,
        &sc.h.reception,
        &format!("/api/v1/proxies/{}/approval", id(&by_doctor)),
        json!({}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("care relationship"),
        "{e}"
    );
    let before = sc.sink.messages();
    let (st, p) = post(
        s,
        &sc.h.im_doctor,
        &format!("/api/v1/proxies/{proxy}/approval"),
        json!({}),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["state"], "approved");
    let reference = p["invitation_reference"].as_str().unwrap().to_owned();
    assert!(
        !p.to_string().contains("code"),
        "staff never see the code: {p}"
    );
    let (st, _) = post(
        s,
        &sc.h.im_doctor,
        &format!("/api/v1/proxies/{proxy}/approval"),
        json!({}),
    )
    .await;
    assert_eq!(st, 409);

    // The proxy's invitation goes to the proxy; the patient is told someone has access, and
    // nothing more.
    let invitation = sc
        .sink
        .wait_for(|m| {
            m.contains(PROXY_ADDRESS)
                && m.contains("your invitation")
                && !before.contains(&m.to_owned())
        })
        .await;
    let code: String = invitation
        .split("and the code ")
        .nth(1)
        .unwrap()
        .chars()
        .take(19)
        .collect();
    let told = sc
        .sink
        .wait_for(|m| m.contains(ADDRESS) && m.contains("Someone was given access"))
        .await;
    for secret in ["Proxyname", "Planted", "parent", &reference, &code] {
        assert!(!told.contains(secret), "{secret} in {told}");
    }
    let events = patient_events(s, &sc.patient).await;
    for action in ["proxy.proposed", "proxy.approved"] {
        assert!(
            events.iter().any(|e| e.1 == action && e.2 == "granted"),
            "{action}"
        );
    }
    assert!(events
        .iter()
        .all(|e| !e.3.to_string().contains("Proxyname")));

    // The proxy opens their own account with the invitation and their own second factor.
    let c = s.browser();
    let (st, body) = form(
        s,
        &c,
        "/patient/proxy",
        &[
            ("invitation_reference", &reference),
            ("invitation_code", "AAAA-AAAA-AAAA-AAAA"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, to) = form(
        s,
        &c,
        "/patient/proxy",
        &[
            ("invitation_reference", &reference),
            ("invitation_code", &code),
        ],
    )
    .await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/setup"));
    let (_, setup) = page(s, &c, "/patient/setup").await;
    assert!(
        setup.contains("p•••@example.org") && !setup.contains(ADDRESS),
        "{setup}"
    );
    let method = setup
        .split("value=\"email:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|contact| format!("email:{contact}"))
        .expect("the proxy's own address is offered");
    assert_ne!(
        method,
        format!("email:{}", sc.contact),
        "not the patient's address"
    );
    let before = sc.sink.messages();
    let (st, _) = form(
        s,
        &c,
        "/patient/setup",
        &[
            ("_csrf", &csrf_of(&setup)),
            ("password", "lantern meadow copper seven"),
            ("confirmation", "lantern meadow copper seven"),
            ("method", &method),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let mail = sc
        .sink
        .wait_for(|m| {
            m.contains("your sign-in code")
                && m.contains(PROXY_ADDRESS)
                && !before.iter().any(|b| b == m)
        })
        .await;
    let sign_in_code = code_in(&mail, "patient space is ");
    let (_, confirm) = page(s, &c, "/patient/setup/confirm").await;
    let (st, _) = form(
        s,
        &c,
        "/patient/setup/confirm",
        &[("_csrf", &csrf_of(&confirm)), ("code", &sign_in_code)],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);

    // The proxy sees the results, never the clinical note, and reads them through the proxy
    // policy.
    let (st, list) = page(s, &c, "/patient/documents").await;
    assert_eq!(st, 200);
    assert!(list.contains("Ferritin 212"), "{list}");
    assert!(!list.contains("Discharge letter planted"), "{list}");
    let (st, _) = page(s, &c, &format!("/patient/documents/{}", id(&note))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The access history names every category and reader: the patient's alone.
    let (st, _) = page(s, &c, "/patient/history").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let events = patient_events(s, &sc.patient).await;
    assert!(events.iter().any(|e| e.0.starts_with("patient_account:")
        && e.1 == "patient_space.read"
        && e.3["reasons"][0]["policy"] == "proxies-read-their-approved-scope"));
    assert!(events.iter().any(|e| e.1 == "patient_space.denied"));

    // Next time the proxy signs in with the invitation reference (no patient ID) and their
    // own password and code.
    let again = s.browser();
    let before = sc.sink.messages();
    let (st, to) = form(
        s,
        &again,
        "/patient/sign-in",
        &[
            ("patient_number", ""),
            ("test_reference", &reference),
            ("password", "lantern meadow copper seven"),
        ],
    )
    .await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/code"));
    let mail = sc
        .sink
        .wait_for(|m| {
            m.contains("your sign-in code")
                && m.contains(PROXY_ADDRESS)
                && !before.iter().any(|b| b == m)
        })
        .await;
    let (_, p) = page(s, &again, "/patient/code").await;
    let (st, to) = form(
        s,
        &again,
        "/patient/code",
        &[
            ("_csrf", &csrf_of(&p)),
            ("code", &code_in(&mail, "patient space is ")),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/documents")
    );
    // With a patient ID beside the reference it is refused like any wrong sign-in.
    let (st, _) = form(
        s,
        &s.browser(),
        "/patient/sign-in",
        &[
            ("patient_number", &mrn_of(&sc).await),
            ("test_reference", &reference),
            ("password", "lantern meadow copper seven"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // The patient sees who has access, and who looked; and ends it.
    let slip = slip(&sc).await;
    let patient = activated(&sc, &slip).await;
    let (_, account) = page(s, &patient, "/patient/account").await;
    assert!(
        account.contains("Planted Proxyname") && account.contains("parent"),
        "{account}"
    );
    let (_, history) = page(s, &patient, "/patient/history").await;
    assert!(history.contains("Planted Proxyname"), "{history}");
    let action = format!("/patient/proxies/{proxy}/revoke");
    let (st, to) = form(s, &patient, &action, &[("_csrf", &csrf_of(&account))]).await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/account?proxy_ended=1")
    );
    for proxy_browser in [&c, &again] {
        let (st, to) = page(s, proxy_browser, "/patient/documents").await;
        assert_eq!(
            (st, to.as_str()),
            (StatusCode::SEE_OTHER, "/patient?ended=1")
        );
    }
    let (st, _) = form(
        s,
        &s.browser(),
        "/patient/sign-in",
        &[
            ("patient_number", ""),
            ("test_reference", &reference),
            ("password", "lantern meadow copper seven"),
        ],
    )
    .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "an ended proxy access cannot sign in"
    );
    let (_, list) = get(s, &sc.h.reception, &proxies).await;
    let ended = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == proxy.as_str())
        .unwrap();
    assert_eq!(ended["state"], "revoked", "{list}");

    // A rejected proposal gives no invitation.
    let (_, p2) = post(
        s,
        &sc.h.reception,
        &proxies,
        proposal(json!({"name": "Second Person"})),
    )
    .await;
    let (st, p2) = post(
        s,
        &sc.h.im_doctor,
        &format!("/api/v1/proxies/{}/rejection", id(&p2)),
        json!({}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(p2["state"], "rejected");
    assert_eq!(p2["invitation_reference"], Value::Null);
}

/// The patient's record number.
async fn mrn_of(sc: &Scene) -> String {
    sc.s.app()
        .store()
        .patient(&sc.patient)
        .await
        .unwrap()
        .unwrap()
        .mrn
}

/// Open a space with a slip's values and an authenticator app (a patient with no verified
/// contact); returns the browser and the app's key.
async fn activated_with_app(
    s: &TestServer,
    number: &str,
    reference: &str,
    secret: &str,
) -> (reqwest::Client, sealroom_crypto::totp::TotpSecret) {
    let c = s.browser();
    let (st, to) = form(
        s,
        &c,
        "/patient/activate",
        &[
            ("patient_number", number),
            ("test_reference", reference),
            ("activation_code", secret),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/setup"),
        "{to}"
    );
    let (_, setup) = page(s, &c, "/patient/setup").await;
    let (st, _) = form(
        s,
        &c,
        "/patient/setup",
        &[
            ("_csrf", &csrf_of(&setup)),
            ("password", PASSWORD),
            ("confirmation", PASSWORD),
            ("method", "totp"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let (_, confirm) = page(s, &c, "/patient/setup/confirm").await;
    let key = confirm
        .split("id=\"totp-secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the key is shown")
        .to_owned();
    let app = sealroom_crypto::totp::TotpSecret::from_bytes(
        data_encoding::BASE32_NOPAD.decode(key.as_bytes()).unwrap(),
    );
    let (st, to) = form(
        s,
        &c,
        "/patient/setup/confirm",
        &[
            ("_csrf", &csrf_of(&confirm)),
            ("code", &app.code_at(s.now())),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{to}");
    (c, app)
}

async fn titles(s: &TestServer, c: &reqwest::Client) -> String {
    let (st, list) = page(s, c, "/patient/documents").await;
    assert_eq!(st, 200, "{list}");
    list
}

async fn care_departments_give_lasting_spaces_or_one_per_stay_as_configured(b: Backend) {
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![
                (
                    "SEALROOM_PATIENT_SPACE__ACCOUNT_MODELS".into(),
                    r#"{ "Cardiology" = "per_visit" }"#.into(),
                ),
                (
                    "SEALROOM_PATIENT_SPACE__RELEASE".into(),
                    r#"{ results = "immediately", clinical_notes = "immediately", imaging = "immediately" }"#.into(),
                ),
                ("SEALROOM_RETENTION__CLASSES".into(), "{ standard = 30 }".into()),
            ],
        },
    )
    .await;
    let s = &s;
    let h = hospital(s).await;
    let (patient, test) = admitted_patient(s, &h).await;
    let mrn = s
        .app()
        .store()
        .patient(&patient)
        .await
        .unwrap()
        .unwrap()
        .mrn;
    let im_stay = s.app().store().episodes_of(&patient).await.unwrap()[0]
        .id
        .clone();
    let doc = |category: &str, title: &str, link: Value| {
        let mut m = json!({"category": category, "kind": "report", "title": title});
        for (k, v) in link.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    upload(
        s,
        &h.lab,
        &patient,
        doc("results", "Lab result lasting", json!({"test_id": test})),
        "a.pdf",
        b"%PDF a".to_vec(),
    )
    .await;
    upload(
        s,
        &h.im_doctor,
        &patient,
        doc(
            "clinical_notes",
            "Medicine letter",
            json!({"episode_id": im_stay}),
        ),
        "b.pdf",
        b"%PDF b".to_vec(),
    )
    .await;

    // Internal medicine (a care department, not named) gives the patient one lasting space:
    // the slip for the stay carries an account ID, not a test ID.
    let (st, slip) = post(
        s,
        &h.reception,
        &format!("/api/v1/episodes/{im_stay}/slips"),
        json!({"identity_check": "passport"}),
    )
    .await;
    assert_eq!(st, 201, "{slip}");
    assert_eq!(slip["model"], "per_patient");
    assert_eq!(slip["test_reference"], Value::Null);
    let account_ref = slip["account_reference"].as_str().unwrap().to_owned();
    let (c, _) = activated_with_app(
        s,
        &mrn,
        &account_ref,
        slip["activation_secret"].as_str().unwrap(),
    )
    .await;
    let list = titles(s, &c).await;
    assert!(
        list.contains("Lab result lasting") && list.contains("Medicine letter"),
        "{list}"
    );
    // The laboratory (not named) still gives per-test slips.
    let (_, lab_slip) = post(
        s,
        &h.reception,
        &format!("/api/v1/tests/{test}/slips"),
        json!({"identity_check": "passport"}),
    )
    .await;
    assert_eq!(lab_slip["model"], "per_test");

    // Cardiology is configured per visit: the stay's own space, that stay's documents only.
    let (st, stay) = post(
        s,
        &h.im_doctor,
        &format!("/api/v1/patients/{patient}/transfer"),
        json!({"department_id": h.cardio}),
    )
    .await;
    assert_eq!(st, 201, "{stay}");
    let cardio_stay = id(&stay);
    upload(
        s,
        &h.cardio_doctor,
        &patient,
        doc(
            "imaging",
            "Echo during the stay",
            json!({"episode_id": cardio_stay}),
        ),
        "c.pdf",
        b"%PDF c".to_vec(),
    )
    .await;
    let (st, visit) = post(
        s,
        &h.reception,
        &format!("/api/v1/episodes/{cardio_stay}/slips"),
        json!({"identity_check": "passport"}),
    )
    .await;
    assert_eq!(st, 201, "{visit}");
    assert_eq!(visit["model"], "per_visit");
    let visit_ref = visit["account_reference"].as_str().unwrap().to_owned();
    assert_ne!(visit_ref, account_ref);
    let (v, app) = activated_with_app(
        s,
        &mrn,
        &visit_ref,
        visit["activation_secret"].as_str().unwrap(),
    )
    .await;
    let list = titles(s, &v).await;
    assert!(list.contains("Echo during the stay"), "{list}");
    assert!(
        !list.contains("Medicine letter") && !list.contains("Lab result lasting"),
        "{list}"
    );
    // The lasting space sees the stay's document too.
    assert!(titles(s, &c).await.contains("Echo during the stay"));
    // The per-visit slip printed for the patient says "Account ID".
    let r = s
        .client
        .post(s.url(&format!("/api/v1/episodes/{cardio_stay}/slips")))
        .bearer_auth(&h.reception.token)
        .header("accept", "text/html")
        .json(&json!({"identity_check": "passport"}))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Account ID"));

    // After discharge the stay's space stays readable until its retention class ends (30
    // days here), then it closes: its session ends and signing in no longer works.
    let (st, _) = post(
        s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{patient}/discharge"),
        json!({}),
    )
    .await;
    assert_eq!(st, 204);
    // (the print view above issued a new slip: sign in with the password and app instead)
    s.clock.advance(Duration::minutes(1));
    let again = s.browser();
    let (st, to) = form(
        s,
        &again,
        "/patient/sign-in",
        &[
            ("patient_number", &mrn),
            ("test_reference", &visit_ref),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/code"));
    let (_, p) = page(s, &again, "/patient/code").await;
    let (st, _) = form(
        s,
        &again,
        "/patient/code",
        &[("_csrf", &csrf_of(&p)), ("code", &app.code_at(s.now()))],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert!(titles(s, &again).await.contains("Echo during the stay"));
    s.clock.advance(Duration::hours(24 * 31));
    let (st, to) = page(s, &again, "/patient/documents").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );
    let (st, _) = form(
        s,
        &s.browser(),
        "/patient/sign-in",
        &[
            ("patient_number", &mrn),
            ("test_reference", &visit_ref),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    drop(v);
}

async fn the_desk_registers_admits_verifies_and_prints_slips_but_sees_no_result(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![("SEALROOM_MAIL__SMTP_URL".into(), sink.url())],
        },
    )
    .await;
    let s = &s;
    let h = hospital(s).await;
    let desk = crate::journeys::enrolled_staff(s, "front-desk@example.org", "reception").await;
    let desk_id = s
        .app()
        .store()
        .user_by_email("front-desk@example.org")
        .await
        .unwrap()
        .unwrap()
        .id;
    let admissions = s
        .app()
        .store()
        .department_by_name("Admissions desk")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (st, _) = post(
        s,
        &h.admin,
        &format!("/api/v1/users/{desk_id}/assignments"),
        json!({"department_id": admissions, "role": "reception"}),
    )
    .await;
    assert_eq!(st, 201);
    let c = &desk.client;
    let (st, home) = page(s, c, "/desk").await;
    assert_eq!(st, 200, "{home}");
    assert!(home.contains("href=\"/desk\""), "the menu links the desk");

    // Register, then admit, through the forms.
    let (st, to) = form(
        s,
        c,
        "/desk/patients",
        &[
            ("_csrf", &csrf_of(&home)),
            ("family_name", "Deskfamily"),
            ("given_names", "Anna"),
            ("birth_date", "1980-02-29"),
            ("sex", "female"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{to}");
    let patient_page = to.split('?').next().unwrap().to_owned();
    let patient = patient_page.rsplit('/').next().unwrap().to_owned();
    let (_, p) = page(s, c, &to).await;
    assert!(p.contains("Deskfamily") && p.contains("Registered"), "{p}");
    // Found again by number, posted (never in a URL).
    let mrn = s
        .app()
        .store()
        .patient(&patient)
        .await
        .unwrap()
        .unwrap()
        .mrn;
    let (st, found) = form(
        s,
        c,
        "/desk/search",
        &[("_csrf", &csrf_of(&p)), ("mrn", &mrn)],
    )
    .await;
    assert_eq!(st, 200);
    assert!(
        found.contains(&format!("/desk/patients/{patient}")),
        "{found}"
    );
    let (st, _) = form(
        s,
        c,
        &format!("{patient_page}/admission"),
        &[("_csrf", &csrf_of(&p)), ("department_id", &h.im)],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);

    // Record an address: a code goes to it, the patient reads it back.
    let (_, p) = page(s, c, &patient_page).await;
    assert!(p.contains("Internal medicine"), "{p}");
    let (st, to) = form(
        s,
        c,
        &format!("{patient_page}/contacts"),
        &[("_csrf", &csrf_of(&p)), ("address", "not-an-address")],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        to.contains("not valid") && !to.contains("?error"),
        "the error is shown: {to}"
    );
    let (_, p) = page(s, c, &patient_page).await;
    let (st, _) = form(
        s,
        c,
        &format!("{patient_page}/contacts"),
        &[
            ("_csrf", &csrf_of(&p)),
            ("address", "desk-patient@example.org"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let mail = sink.wait_for(|m| m.contains("verification code")).await;
    let code = code_in(&mail, "verification code is ");
    let (_, p) = page(s, c, &patient_page).await;
    assert!(
        p.contains("d•••@example.org") && p.contains("not verified"),
        "{p}"
    );
    assert!(
        !p.contains("desk-patient@example.org"),
        "masked at the desk too"
    );
    let contact = p
        .split("/contacts/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    let (st, _) = form(
        s,
        c,
        &format!("{patient_page}/contacts/{contact}/verification"),
        &[("_csrf", &csrf_of(&p)), ("code", &code)],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);

    // The desk registers the test the patient came for (a laboratory, not a care
    // department); the lab stores a result. The desk sees the test, never the result.
    let (st, e) = form(
        s,
        c,
        &format!("{patient_page}/tests"),
        &[("_csrf", &csrf_of(&p)), ("laboratory_id", &h.im)],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e.contains("no such laboratory"), "{e}");
    let (st, to) = form(
        s,
        c,
        &format!("{patient_page}/tests"),
        &[("_csrf", &csrf_of(&p)), ("laboratory_id", &h.laboratory)],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{to}");
    let (_, registered) = page(s, c, &to).await;
    assert!(
        registered.contains("The test is registered"),
        "{registered}"
    );
    let tests = s.app().store().tests_of(&patient).await.unwrap();
    assert_eq!(tests.len(), 1);
    let test = tests[0].id.clone();
    let events = patient_events(s, &patient).await;
    assert!(
        events
            .iter()
            .any(|e| e.1 == "test.ordered" && e.0 == format!("user:{desk_id}")),
        "{events:?}"
    );
    upload(
        s,
        &h.lab,
        &patient,
        json!({"category": "results", "kind": "result", "title": "Desk-hidden troponin", "test_id": test}),
        "t.pdf",
        b"%PDF t".to_vec(),
    )
    .await;
    let (_, p) = page(s, c, &patient_page).await;
    assert!(
        p.contains("Central laboratory") && p.contains("verified"),
        "{p}"
    );
    assert!(!p.contains("Desk-hidden troponin"), "{p}");
    // The staff documents page shows reception administrative documents only.
    let (_, docs) = page(s, c, &format!("/patients/{patient}/documents")).await;
    assert!(!docs.contains("Desk-hidden troponin"), "{docs}");

    // Printing a slip needs the identity document checked, and gives the printable page.
    let slip_path = format!("/desk/tests/{test}/slip");
    let (st, _) = form(
        s,
        c,
        &slip_path,
        &[("_csrf", &csrf_of(&p)), ("identity_check", "")],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let r = c
        .post(s.url(&slip_path))
        .form(&[
            ("_csrf", csrf_of(&p).as_str()),
            ("identity_check", "passport"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let printed = r.text().await.unwrap();
    assert!(
        printed.contains("Activation code") && printed.contains("Test ID"),
        "{printed}"
    );
    assert!(!printed.contains("troponin") && !printed.contains("Central laboratory"));
    let events = patient_events(s, &patient).await;
    assert!(events.iter().any(|e| e.1 == "access_slip.issued"
        && e.0 == format!("user:{desk_id}")
        && e.3["identity_check"] == "passport"));
    // The desk page never shows the activation code again.
    let secret = printed
        .split("class=\"code secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    let (_, p) = page(s, c, &patient_page).await;
    assert!(!p.contains(&secret));

    // An invitation to the lasting space goes to the verified address, never to the desk.
    let (st, to) = form(
        s,
        c,
        &format!("{patient_page}/contacts/{contact}/invitation"),
        &[("_csrf", &csrf_of(&p))],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{to}");
    let (_, p) = page(s, c, &to).await;
    assert!(p.contains("The invitation is on its way"), "{p}");
    let invitation = sink
        .wait_for(|m| m.contains("opened a secure patient space"))
        .await;
    let code = invitation_code(&invitation);
    assert!(!p.contains(&code), "the desk never sees the code");
    for planted in [
        &mrn[..],
        "Deskfamily",
        "Anna",
        "troponin",
        "Central laboratory",
    ] {
        assert!(!invitation.contains(planted), "{planted} in {invitation}");
    }
}

/// The activation code an invitation carries.
fn invitation_code(message: &str) -> String {
    message
        .split("activation code ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no activation code in {message}"))
        .to_owned()
}

async fn a_patient_invited_by_email_opens_the_lasting_space_without_a_slip(b: Backend) {
    let sc = scene(b, vec![]).await;
    let s = &sc.s;
    let invitations = format!("/api/v1/patients/{}/invitations", sc.patient);
    let invite = || async {
        let before = sc.sink.messages();
        let (st, sent) = post(
            s,
            &sc.h.reception,
            &invitations,
            json!({"contact_id": sc.contact}),
        )
        .await;
        assert_eq!(st, 201, "{sent}");
        let mail = sc
            .sink
            .wait_for(|m| {
                m.contains("opened a secure patient space") && !before.iter().any(|b| b == m)
            })
            .await;
        (sent, mail)
    };
    let activate = |patient_number: &str, reference: &str, code: &str| {
        let (patient_number, reference, code) = (
            patient_number.to_owned(),
            reference.to_owned(),
            code.to_owned(),
        );
        async move {
            form(
                s,
                &s.browser(),
                "/patient/activate",
                &[
                    ("patient_number", &patient_number),
                    ("test_reference", &reference),
                    ("activation_code", &code),
                ],
            )
            .await
        }
    };
    // Only by someone who may write the patient's administrative data (decided before the
    // contact is even looked at), and only to an address verified at the desk.
    let (st, _) = post(
        s,
        &sc.h.admin,
        &invitations,
        json!({"contact_id": sc.contact}),
    )
    .await;
    assert!(st == 403 || st == 404, "{st}");
    let (st, _) = post(
        s,
        &sc.h.lab,
        &invitations,
        json!({"contact_id": sc.contact}),
    )
    .await;
    assert_eq!(st, 403);
    let (st, c) = post(
        s,
        &sc.h.reception,
        &format!("/api/v1/patients/{}/contacts", sc.patient),
        json!({"email": "not-yet-verified@example.org"}),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let (st, e) = post(
        s,
        &sc.h.reception,
        &invitations,
        json!({"contact_id": id(&c)}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("verified"), "{e}");

    // Reception registers a test the patient came for; it cannot order one (a write of
    // results), and a laboratory cannot register one at the desk.
    let lab = json!({"laboratory_id": sc.h.laboratory});
    let tests = format!("/api/v1/patients/{}/tests", sc.patient);
    let registrations = format!("/api/v1/patients/{}/test-registrations", sc.patient);
    let (st, _) = post(s, &sc.h.reception, &tests, lab.clone()).await;
    assert_eq!(st, 403);
    let (st, _) = post(s, &sc.h.lab, &registrations, lab.clone()).await;
    assert_eq!(st, 403);
    let (st, t) = post(s, &sc.h.reception, &registrations, lab).await;
    assert_eq!(st, 201, "{t}");
    assert!(patient_events(s, &sc.patient)
        .await
        .iter()
        .any(|e| e.1 == "test.ordered" && e.3["how"] == "registered" && e.3["test"] == t["id"]));

    // An invitation left unused for 14 days stops working.
    let (sent, mail) = invite().await;
    assert_eq!(sent["channel"], "email");
    assert_eq!(sent["to"], "p•••@example.org");
    assert!(
        !sent.to_string().contains("activation"),
        "the answer never carries the code: {sent}"
    );
    let reference = sent["account_reference"].as_str().unwrap().to_owned();
    let mrn = mrn_of(&sc).await;
    assert!(mail.contains(&reference) && !mail.contains(&mrn), "{mail}");
    s.clock.advance(Duration::hours(14 * 24 + 1));
    let (st, expired) = activate("", &reference, &invitation_code(&mail)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(expired.contains("can no longer be used"), "{expired}");

    // A new one: a wrong code counts against it like a slip's and gets the slip's answer.
    let (sent, mail) = invite().await;
    assert_eq!(
        sent["account_reference"],
        reference.as_str(),
        "the same lasting space"
    );
    let code = invitation_code(&mail);
    let (st, refused) = activate("", &reference, "AAAA-AAAA-AAAA-AAAA").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.contains("not right"), "{refused}");

    // The patient ID stays empty; the space opens as with a slip, and the patient learns the
    // patient ID they will sign in with.
    let invited = Slip {
        patient_number: String::new(),
        test_reference: reference.clone(),
        secret: code.clone(),
    };
    let c = activated(&sc, &invited).await;
    let (_, docs) = page(s, &c, "/patient/documents").await;
    assert!(
        docs.contains("Ferritin 212"),
        "the lasting space shows the released result: {docs}"
    );
    let (_, account) = page(s, &c, "/patient/account").await;
    assert!(
        account.contains(&format!("id=\"my-patient-id\">{mrn}<")) && account.contains(&reference),
        "{account}"
    );
    let events = patient_events(s, &sc.patient).await;
    assert!(events
        .iter()
        .any(|e| e.1 == "patient_space.read" && e.3["view"] == "sign_in_identifiers"));
    assert!(events
        .iter()
        .any(|e| e.1 == "access_slip.issued" && e.3["identity_check"] == "invitation"));
    assert!(
        !format!("{events:?}").contains(&code),
        "the code is never audited"
    );
    // Later sign-ins use the patient ID, as everyone's do.
    let known = Slip {
        patient_number: mrn.clone(),
        test_reference: reference.clone(),
        secret: String::new(),
    };
    signed_in(&sc, &known).await;
    // The code worked once.
    let (st, again) = activate("", &reference, &code).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(again.contains("can no longer be used"), "{again}");

    // A space in use is never handed over by message.
    let (st, e) = post(
        s,
        &sc.h.reception,
        &invitations,
        json!({"contact_id": sc.contact}),
    )
    .await;
    assert_eq!(st, 409, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("already in use"),
        "{e}"
    );
    // A printed slip for the same space needs its patient ID: an empty one is wrong.
    let stay = s.app().store().episodes_of(&sc.patient).await.unwrap()[0]
        .id
        .clone();
    let (st, printed) = post(
        s,
        &sc.h.reception,
        &format!("/api/v1/episodes/{stay}/slips"),
        json!({"identity_check": "passport"}),
    )
    .await;
    assert_eq!(st, 201, "{printed}");
    assert_eq!(printed["account_reference"], reference.as_str());
    let secret = printed["activation_secret"].as_str().unwrap();
    let (st, wrong) = activate("", &reference, secret).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(wrong.contains("not right"), "{wrong}");
    let (st, to) = activate(&mrn, &reference, secret).await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/setup"));
}

async fn scheduled_releases_are_told_once_per_patient_when_their_day_comes(b: Backend) {
    let sc = scene(
        b,
        vec![
            (
                "SEALROOM_PATIENT_SPACE__RELEASE",
                r#"{ results = "after 2 days" }"#,
            ),
            ("SEALROOM_PATIENT_SPACE__NOTIFY_EVERY_SECONDS", "1"),
        ],
    )
    .await;
    let s = &sc.s;
    let told = |sink: &SmtpSink| {
        sink.messages()
            .iter()
            .filter(|m| m.contains("something new is waiting"))
            .count()
    };
    // The scene's result was released by its clinician: told once, at once.
    sc.sink
        .wait_for(|m| m.contains("something new is waiting"))
        .await;
    assert_eq!(told(&sc.sink), 1);
    for title in ["Scheduled one", "Scheduled two"] {
        upload(
            s,
            &sc.h.lab,
            &sc.patient,
            json!({"category": "results", "kind": "result", "title": title, "test_id": sc.test}),
            "s.pdf",
            b"%PDF s".to_vec(),
        )
        .await;
    }
    // Not before their day (the job runs every second; give it three).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(told(&sc.sink), 1, "nothing is told before the day");
    s.clock.advance(Duration::minutes(48 * 60 + 1));
    sc.sink
        .wait_for(|m| m.contains("something new is waiting") && m.contains(ADDRESS))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while told(&sc.sink) < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Both documents, one message; and never again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(told(&sc.sink), 2, "one message for the two documents");
    let notices: Vec<_> = patient_events(s, &sc.patient)
        .await
        .into_iter()
        .filter(|e| e.1 == "patient.notified")
        .collect();
    assert_eq!(notices.len(), 2, "{notices:?}");
    for planted in ["Scheduled one", "Scheduled two", "Ferritin"] {
        assert!(sc.sink.messages().iter().all(|m| !m.contains(planted)));
    }
}

/// Record and verify an e-mail address for the patient at the desk (API).
async fn verified_email(sc: &Scene, address: &str) -> String {
    let contacts = format!("/api/v1/patients/{}/contacts", sc.patient);
    let (st, c) = post(&sc.s, &sc.h.reception, &contacts, json!({"email": address})).await;
    assert_eq!(st, 201, "{c}");
    let contact = id(&c);
    let mail = sc
        .sink
        .wait_for(|m| m.contains("verification code") && m.contains(address))
        .await;
    let (st, _) = post(
        &sc.s,
        &sc.h.reception,
        &format!("{contacts}/{contact}/verification"),
        json!({"code": code_in(&mail, "verification code is ")}),
    )
    .await;
    assert_eq!(st, 200);
    contact
}

async fn a_lasting_space_recovers_a_forgotten_password_with_two_codes(b: Backend) {
    let sc = scene(b, vec![]).await;
    let s = &sc.s;
    const SECOND: &str = "second-9d2e@example.org";
    let mrn = mrn_of(&sc).await;
    // A per-test space has no online recovery: the desk it is.
    let test_slip = slip(&sc).await;
    drop(activated(&sc, &test_slip).await);
    let (st, _) = form(
        s,
        &s.browser(),
        "/patient/recover",
        &[
            ("patient_number", &mrn),
            ("account_reference", &test_slip.test_reference),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // The lasting space (internal medicine gives one per patient), opened with its slip.
    let stay = s.app().store().episodes_of(&sc.patient).await.unwrap()[0]
        .id
        .clone();
    let (st, v) = post(
        s,
        &sc.h.reception,
        &format!("/api/v1/episodes/{stay}/slips"),
        json!({"identity_check": "passport"}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let lasting = Slip {
        patient_number: mrn.clone(),
        test_reference: v["account_reference"].as_str().unwrap().to_owned(),
        secret: v["activation_secret"].as_str().unwrap().to_owned(),
    };
    let first = activated(&sc, &lasting).await;
    // With one verified contact only, there is no second proof to recover with.
    let (st, body) = form(
        s,
        &s.browser(),
        "/patient/recover",
        &[
            ("patient_number", &mrn),
            ("account_reference", &lasting.test_reference),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("verified at the desk"), "{body}");

    // With a second one: the remembered code, then a code to the other address, then a new
    // password; the old one stops working and other devices are signed out.
    verified_email(&sc, SECOND).await;
    let c = s.browser();
    let before = sc.sink.messages();
    let (st, to) = form(
        s,
        &c,
        "/patient/recover",
        &[
            ("patient_number", &mrn),
            ("account_reference", &lasting.test_reference),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/recover/code")
    );
    let mail = sc
        .sink
        .wait_for(|m| {
            m.contains("your sign-in code") && m.contains(ADDRESS) && !before.iter().any(|b| b == m)
        })
        .await;
    let (_, p) = page(s, &c, "/patient/recover/code").await;
    assert!(p.contains("p•••@example.org"), "{p}");
    let before = sc.sink.messages();
    let (st, to) = form(
        s,
        &c,
        "/patient/recover/code",
        &[
            ("_csrf", &csrf_of(&p)),
            ("code", &code_in(&mail, "patient space is ")),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/recover/code")
    );
    // The password page is not reachable before the second code.
    let (st, to) = page(s, &c, "/patient/recover/password").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/recover/code")
    );
    let mail = sc
        .sink
        .wait_for(|m| {
            m.contains("your sign-in code") && m.contains(SECOND) && !before.iter().any(|b| b == m)
        })
        .await;
    let (_, p) = page(s, &c, "/patient/recover/code").await;
    assert!(p.contains("s•••@example.org"), "{p}");
    let (st, to) = form(
        s,
        &c,
        "/patient/recover/code",
        &[
            ("_csrf", &csrf_of(&p)),
            ("code", &code_in(&mail, "patient space is ")),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/recover/password")
    );
    let (_, p) = page(s, &c, "/patient/recover/password").await;
    let new_password = "violet harbour seventeen lanterns";
    let (st, to) = form(
        s,
        &c,
        "/patient/recover/password",
        &[
            ("_csrf", &csrf_of(&p)),
            ("password", new_password),
            ("confirmation", new_password),
        ],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient/documents")
    );
    let (st, _) = page(s, &c, "/patient/documents").await;
    assert_eq!(st, 200);
    let (st, to) = page(s, &first, "/patient/documents").await;
    assert_eq!(
        (st, to.as_str()),
        (StatusCode::SEE_OTHER, "/patient?ended=1")
    );
    let (st, _) = form(
        s,
        &s.browser(),
        "/patient/sign-in",
        &[
            ("patient_number", &mrn),
            ("test_reference", &lasting.test_reference),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the old password no longer works"
    );
    let (st, to) = form(
        s,
        &s.browser(),
        "/patient/sign-in",
        &[
            ("patient_number", &mrn),
            ("test_reference", &lasting.test_reference),
            ("password", new_password),
        ],
    )
    .await;
    assert_eq!((st, to.as_str()), (StatusCode::SEE_OTHER, "/patient/code"));
    sc.sink
        .wait_for(|m| m.contains("sign-in changed") && m.contains(ADDRESS))
        .await;
    let recovered = s
        .app()
        .store()
        .recent_audit(300)
        .await
        .unwrap()
        .into_iter()
        .any(|e| e.action == "patient_account.recovered");
    assert!(recovered);
}

/// A space per test holds no messages: a reply with a file to it is refused before anything
/// of the file is stored.
async fn a_space_per_test_stores_no_message_attachment(b: Backend) {
    let sc = scene(b, vec![]).await;
    let slip = slip(&sc).await;
    let c = activated(&sc, &slip).await;
    let (_, html) = page(&sc.s, &c, "/patient/documents").await;
    let files_before = crate::documents::files_under(&sc.s.config.data_dir);
    let form = reqwest::multipart::Form::new()
        .text("_csrf", csrf_of(&html))
        .text("body", "Here is a photo of the rash")
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"\xff\xd8\xff\xe0 photo".to_vec())
                .file_name("rash.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = c
        .post(sc.s.url("/patient/messages/any-thread"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let unsent =
        sc.s.app()
            .store()
            .unsent_attachments(i64::MAX, 10)
            .await
            .unwrap();
    assert!(unsent.is_empty(), "{unsent:?}");
    assert_eq!(
        crate::documents::files_under(&sc.s.config.data_dir),
        files_before,
        "no blob was written"
    );
    let denied: Vec<_> = crate::access::patient_events(&sc.s, &sc.patient)
        .await
        .into_iter()
        .filter(|e| e.1 == "patient_space.denied" && e.3["view"] == "attachment")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].2, "denied");
    assert_eq!(denied[0].3["model"], "per_test");
}
