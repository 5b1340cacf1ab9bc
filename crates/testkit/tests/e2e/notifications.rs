//! Patient notifications: only to addresses verified at the desk, and saying only that
//! something new is waiting. Every message is decoded independently and searched for the
//! patient data planted in the record.

use reqwest::StatusCode;
use sealroom_testkit::{Backend, Options, SmsGateway, SmtpSink, TestServer};
use serde_json::json;

use crate::access::{hospital, patient_events, post, register};
use crate::documents::upload;

both_backends!(
    patients_are_told_something_is_waiting_and_nothing_more,
    text_messages_go_through_the_gateway_and_say_nothing_more,
);

/// Patient data planted in the record, which no notification may contain.
fn planted(mrn: &str) -> Vec<String> {
    [
        "Plantedfamily",
        "Plantedgiven",
        "1961",
        mrn,
        "PLANTED",
        "haemoglobin",
        "13.1",
        "cardiology",
        "Internal medicine",
        "Central laboratory",
        "result",
        "letter",
    ]
    .map(str::to_lowercase)
    .to_vec()
}

/// The six characters after `marker` in a message (the code it carries).
fn six_digits_after(text: &str, marker: &str) -> String {
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

const ADDRESS: &str = "contact-7f3a@example.org";

async fn patients_are_told_something_is_waiting_and_nothing_more(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![
                ("SEALROOM_MAIL__SMTP_URL".into(), sink.url()),
                (
                    "SEALROOM_PATIENT_SPACE__RELEASE".into(),
                    r#"{ administrative = "immediately" }"#.into(),
                ),
            ],
        },
    )
    .await;
    let h = hospital(&s).await;
    let p = register(
        &s,
        &h.reception,
        "Plantedfamily",
        "Plantedgiven",
        "1961-03-14",
    )
    .await;
    let patient = p["id"].as_str().unwrap().to_owned();
    let mrn = p["mrn"].as_str().unwrap().to_owned();
    let (st, _) = post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{patient}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    assert_eq!(st, 201);
    let contacts = format!("/api/v1/patients/{patient}/contacts");

    // Recording an address: checked, permitted by policy, and a code goes to it.
    let (st, e) = post(
        &s,
        &h.reception,
        &contacts,
        json!({"email": "not an address"}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = post(&s, &h.cardio_doctor, &contacts, json!({"email": ADDRESS})).await;
    assert!(
        st == StatusCode::NOT_FOUND || st == StatusCode::FORBIDDEN,
        "{st}"
    );
    let (st, c) = post(&s, &h.reception, &contacts, json!({"email": ADDRESS})).await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["address"], "c•••@example.org");
    assert_eq!(c["verified"], false);
    let contact = c["id"].as_str().unwrap().to_owned();
    let code_mail = sink.wait_for(|m| m.contains("verification code")).await;
    let code = six_digits_after(&code_mail, "verification code is ");
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
    let verify = format!("{contacts}/{contact}/verification");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (st, e) = post(&s, &h.reception, &verify, json!({"code": wrong})).await;
    assert_eq!(st, 400);
    assert!(
        e["message"].as_str().unwrap().contains("4 of 5 tries left"),
        "{e}"
    );
    let (st, c) = post(&s, &h.reception, &verify, json!({"code": code})).await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["verified"], true);

    // Five tries per code, the right one included: after five wrong ones, the right code no
    // longer works either.
    let second = "second-9c1d@example.org";
    let (st, c2) = post(&s, &h.reception, &contacts, json!({"email": second})).await;
    assert_eq!(st, 201);
    let mail = sink
        .wait_for(|m| m.contains(second) && m.contains("verification code"))
        .await;
    let code2 = six_digits_after(&mail, "verification code is ");
    let verify2 = format!("{contacts}/{}/verification", c2["id"].as_str().unwrap());
    let wrong2 = if code2 == "000000" {
        "111111"
    } else {
        "000000"
    };
    for left in (0..5).rev() {
        let (st, e) = post(&s, &h.reception, &verify2, json!({"code": wrong2})).await;
        assert_eq!(st, 400);
        let message = e["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{left} of 5 tries left")),
            "{message}"
        );
    }
    let (st, e) = post(&s, &h.reception, &verify2, json!({"code": code2})).await;
    assert_eq!(st, 400);
    assert!(
        e["message"].as_str().unwrap().contains("no longer works"),
        "{e}"
    );

    // A result waits for review: no message. Released by the doctor: one message. A letter
    // released at once by rule: another.
    let planted_title = "PLANTED-TITLE haemoglobin 13.1 g/dL";
    let result = upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "results", "kind": "result", "title": planted_title}),
        "hb.pdf",
        b"%PDF hb".to_vec(),
    )
    .await;
    let notices = || {
        sink.decoded_messages()
            .into_iter()
            .filter(|(_, subject, _)| subject.contains("something new"))
            .collect::<Vec<_>>()
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(notices().is_empty(), "nothing is released yet");
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &format!(
            "/api/v1/documents/{}/release",
            result["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(st, 200);
    upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "administrative", "kind": "letter", "title": "PLANTED-LETTER cardiology follow-up"}),
        "letter.pdf",
        b"%PDF letter".to_vec(),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while notices().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sent = notices();
    assert_eq!(sent.len(), 2, "{sent:#?}");

    // What each says: where to sign in, and nothing of the planted data.
    let planted = planted(&mrn);
    for (to, subject, body) in &sent {
        assert_eq!(to, ADDRESS);
        assert!(body.contains(&format!("{}/patient", s.base)), "{body}");
        for p in &planted {
            assert!(
                !subject.to_lowercase().contains(p) && !body.to_lowercase().contains(p),
                "the notification mentions {p}: {subject}\n{body}"
            );
        }
    }

    // The audit log says a message went, never where to or what about.
    let events = patient_events(&s, &patient).await;
    let notified: Vec<_> = events
        .iter()
        .filter(|e| e.1 == "patient.notified")
        .collect();
    assert_eq!(notified.len(), 2, "{notified:?}");
    assert!(notified
        .iter()
        .all(|e| e.2 == "success" && e.3["email"] == 1 && e.3["sms"] == 0));
    let everything = format!("{events:?}");
    assert!(!everything.contains(ADDRESS) && !everything.contains(&code));
    assert!(events.iter().any(|e| e.1 == "patient.contact_added"));
    assert!(events.iter().any(|e| e.1 == "patient.contact_verified"));

    // A patient with no verified address gets nothing, and the log says so.
    let other = register(&s, &h.reception, "Other", "Person", "1970-01-01").await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{other_id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    let (st, _) = post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{other_id}/contacts"),
        json!({"email": "unverified@example.org"}),
    )
    .await;
    assert_eq!(st, 201);
    upload(
        &s,
        &h.im_doctor,
        &other_id,
        json!({"category": "administrative", "kind": "letter", "title": "Letter"}),
        "l.pdf",
        b"%PDF l".to_vec(),
    )
    .await;
    let events = patient_events(&s, &other_id).await;
    assert!(events
        .iter()
        .any(|e| e.1 == "patient.notified" && e.2 == "no_contact"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        sink.decoded_messages()
            .iter()
            .all(|(to, subject, _)| to != "unverified@example.org"
                || subject.contains("verification"))
    );

    // Without a gateway, a text message lands in the outbox (development), as written.
    let (st, c) = post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{other_id}/contacts"),
        json!({"phone": "+32470111222"}),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let outbox = s.config.data_dir.join("sms-outbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let found = std::fs::read_dir(&outbox).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "sms"))
                .and_then(|p| std::fs::read_to_string(p).ok())
        });
        if let Some(t) = found {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "no SMS in the outbox");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        text.starts_with("To: +32470111222") && text.contains("your code is"),
        "{text}"
    );
}

async fn text_messages_go_through_the_gateway_and_say_nothing_more(b: Backend) {
    let gateway = SmsGateway::start().await;
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("sms-token");
    std::fs::write(&token_file, "gateway-secret-42\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![
                ("SEALROOM_SMS__GATEWAY_URL".into(), gateway.url()),
                (
                    "SEALROOM_SMS__TOKEN_FILE".into(),
                    token_file.display().to_string(),
                ),
                (
                    "SEALROOM_PATIENT_SPACE__RELEASE".into(),
                    r#"{ administrative = "immediately" }"#.into(),
                ),
            ],
        },
    )
    .await;
    let h = hospital(&s).await;
    let p = register(
        &s,
        &h.reception,
        "Plantedfamily",
        "Plantedgiven",
        "1961-03-14",
    )
    .await;
    let patient = p["id"].as_str().unwrap().to_owned();
    let mrn = p["mrn"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{patient}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    let contacts = format!("/api/v1/patients/{patient}/contacts");
    let (st, e) = post(
        &s,
        &h.reception,
        &contacts,
        json!({"phone": "0470 12 34 56"}),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        e["message"].as_str().unwrap().contains("international"),
        "{e}"
    );
    let (st, _) = post(
        &s,
        &h.reception,
        &contacts,
        json!({"phone": "+32470123456", "email": "x@example.org"}),
    )
    .await;
    assert_eq!(st, 400);
    let (st, c) = post(
        &s,
        &h.reception,
        &contacts,
        json!({"phone": "+32 470 12 34 56"}),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["address"], "+32•••56");

    // The code goes through the gateway: JSON by default, with the bearer token.
    let request = gateway.wait_for(|r| r.body.contains("your code is")).await;
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer gateway-secret-42")
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    let sms: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(sms["to"], "+32470123456");
    let text = sms["text"].as_str().unwrap();
    let code = six_digits_after(text, "your code is ");
    let (st, c) = post(
        &s,
        &h.reception,
        &format!("{contacts}/{}/verification", c["id"].as_str().unwrap()),
        json!({"code": code}),
    )
    .await;
    assert_eq!(st, 200, "{c}");

    // A letter released at once: one text, saying only that something is waiting.
    upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "administrative", "kind": "letter", "title": "PLANTED-LETTER cardiology follow-up"}),
        "letter.pdf",
        b"%PDF letter".to_vec(),
    )
    .await;
    let request = gateway.wait_for(|r| r.body.contains("something new")).await;
    let sms: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    let text = sms["text"].as_str().unwrap().to_lowercase();
    assert!(text.contains(&format!("{}/patient", s.base)), "{text}");
    for p in planted(&mrn) {
        assert!(!text.contains(&p), "the text mentions {p}: {text}");
    }
    let events = patient_events(&s, &patient).await;
    assert!(events.iter().any(|e| e.1 == "patient.notified"
        && e.2 == "success"
        && e.3["sms"] == 1
        && e.3["email"] == 0));
    assert!(!format!("{events:?}").contains("+32470123456"));

    // An invitation to the lasting space by text: the account ID and a one-time code, where to
    // type them, and nothing of the planted data.
    let (st, sent) = post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{patient}/invitations"),
        json!({"contact_id": c["id"]}),
    )
    .await;
    assert_eq!(st, 201, "{sent}");
    assert_eq!(sent["channel"], "sms");
    assert_eq!(sent["to"], "+32•••56");
    let request = gateway.wait_for(|r| r.body.contains("/activate")).await;
    let sms: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(sms["to"], "+32470123456");
    let text = sms["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("{}/patient/activate", s.base))
            && text.contains(sent["account_reference"].as_str().unwrap()),
        "{text}"
    );
    let code = text
        .split("code ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default();
    assert_eq!(
        code.len(),
        19,
        "an activation code XXXX-XXXX-XXXX-XXXX in {text}"
    );
    for p in planted(&mrn) {
        assert!(
            !text.to_lowercase().contains(&p),
            "the invitation mentions {p}: {text}"
        );
    }
    let events = patient_events(&s, &patient).await;
    assert!(
        !format!("{events:?}").contains(code),
        "the code is never audited"
    );
}
