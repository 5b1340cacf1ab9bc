//! Secure messaging (issue 6): conversations between colleagues with attachments, department
//! inboxes, threads about a patient decided by policy, leak prevention, recall and expiry by
//! key destruction, receipts, live delivery and e-mail notices — through the real HTTPS API.

use reqwest::{Method, StatusCode};
use sealroom_testkit::{Backend, Options, SmtpSink, TestServer};
use serde_json::{json, Value};

use crate::access::{call, get, hospital, patient_events, person_named, post, register, Person};

both_backends!(
    colleagues_converse_with_an_attachment_and_the_sender_sees_receipts,
    a_recalled_message_is_gone_for_those_who_read_it_and_those_who_did_not,
    a_non_participant_gets_nothing_and_is_audited,
    patient_threads_are_decided_by_policy_and_audited_on_the_patient,
    leak_rules_block_errors_and_ask_to_confirm_warnings,
    department_inboxes_are_read_by_current_members,
    messages_expire_by_key_destruction,
    live_delivery_counts_unread_and_absent_recipients_get_one_notice,
    the_live_stream_does_not_keep_an_idle_session_alive,
    a_clinician_files_an_attachment_into_the_patients_record,
    concurrent_sends_each_arrive_once_and_an_attachment_goes_with_one_message,
    a_large_attachment_resumes_after_a_dropped_connection_and_goes_with_a_message,
);

async fn start_thread(s: &TestServer, who: &Person, body: Value) -> Value {
    let (st, t) = post(s, who, "/api/v1/threads", body).await;
    assert_eq!(st, 201, "{t}");
    t
}

pub(crate) async fn upload(s: &TestServer, who: &Person, name: &str, content: Vec<u8>) -> Value {
    let part = reqwest::multipart::Part::bytes(content)
        .file_name(name.to_owned())
        .mime_str("application/pdf")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = s
        .client
        .post(s.url("/api/v1/attachments"))
        .bearer_auth(&who.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

pub(crate) async fn download(
    s: &TestServer,
    who: &Person,
    attachment: &str,
) -> (StatusCode, Vec<u8>) {
    let r = s
        .client
        .get(s.url(&format!("/api/v1/attachments/{attachment}/content")))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

/// Audit events about a thread, as (actor, action, outcome, details).
async fn thread_events(s: &TestServer, thread: &str) -> Vec<(String, String, String, Value)> {
    crate::access::events_about(s, &format!("thread:{thread}")).await
}

fn user(p: &Person) -> String {
    format!("user:{}", p.id)
}

async fn colleagues_converse_with_an_attachment_and_the_sender_sees_receipts(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let pdf: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let att = upload(&s, &h.im_doctor, "echo report.pdf", pdf.clone()).await;
    assert_eq!(att["size"], 300_000);
    let sent = start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "Echo protocol for next week", "participants": [user(&h.cardio_doctor)],
               "body": "Could you look at the attached protocol?", "attachments": [att["id"]]}),
    )
    .await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();

    // The recipient sees it unread in the inbox, opens it: body, verified signature, the file.
    let (_, inbox) = get(&s, &h.cardio_doctor, "/api/v1/threads").await;
    assert_eq!(inbox.as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox[0]["subject"], "Echo protocol for next week");
    assert_eq!(inbox[0]["unread"], 1);
    let (st, t) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(st, 200, "{t}");
    let m = &t["messages"][0];
    assert_eq!(m["body"], "Could you look at the attached protocol?");
    assert_eq!(m["signature"], "verified");
    assert_eq!(m["state"], "readable");
    assert_eq!(m["attachments"][0]["filename"], "echo report.pdf");
    assert!(m.get("receipts").is_none(), "receipts are the sender's");
    let (st, bytes) = download(&s, &h.cardio_doctor, att["id"].as_str().unwrap()).await;
    assert_eq!(st, 200);
    assert!(bytes == pdf, "the attachment comes back byte for byte");
    let (_, unread) = get(&s, &h.cardio_doctor, "/api/v1/messages/unread").await;
    assert_eq!(unread["total"], 0, "{unread}");

    // A reply; the first sender sees delivered and read on their message.
    let (st, r) = post(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/threads/{thread}/messages"),
        json!({"body": "Fine by me, see you Tuesday."}),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let (_, t) = get(&s, &h.im_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["messages"].as_array().unwrap().len(), 2);
    assert_eq!(t["messages"][1]["body"], "Fine by me, see you Tuesday.");
    assert_eq!(t["messages"][1]["signature"], "verified");
    let receipts = &t["messages"][0]["receipts"];
    assert_eq!(receipts[0]["recipient"], user(&h.cardio_doctor));
    assert!(
        receipts[0]["delivered_at"].is_i64() && receipts[0]["read_at"].is_i64(),
        "{receipts}"
    );

    // An attachment can go once only; someone else's cannot be sent.
    let (st, e) = post(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/threads/{thread}/messages"),
        json!({"body": "again", "attachments": [att["id"]]}),
    )
    .await;
    assert_eq!(st, 400, "{e}");

    // Stored content is ciphertext: the body and file name are nowhere in the database rows.
    let rows = s.app().store().messages_of(&thread).await.unwrap();
    for r in &rows {
        let sealed = r.body_sealed.as_ref().unwrap();
        assert!(!String::from_utf8_lossy(sealed).contains("protocol"));
    }
    // A bad message leaves nothing behind: no thread appears for the recipient.
    for bad in [
        json!({"subject": "x", "participants": [user(&h.cardio_doctor)], "body": "x", "expires_in_days": 0}),
        json!({"subject": "x", "participants": [user(&h.cardio_doctor)], "body": "   "}),
        json!({"subject": "x", "participants": [user(&h.cardio_doctor)], "body": "x", "legal_basis": "because"}),
    ] {
        let (st, e) = post(&s, &h.im_doctor, "/api/v1/threads", bad).await;
        assert_eq!(st, 400, "{e}");
    }
    let (_, inbox) = get(&s, &h.cardio_doctor, "/api/v1/threads").await;
    assert_eq!(inbox.as_array().unwrap().len(), 1, "{inbox}");
    // A token that may only read cannot send.
    let reader_only = s
        .app()
        .create_api_token(
            &crate::journeys::operator(),
            sealroom_app::tokens::TokenOwner::User {
                email: "cardio@example.org",
            },
            "read only",
            &["patients:read".to_owned()],
            1,
        )
        .await
        .unwrap()
        .secret;
    let r = s
        .client
        .post(s.url(&format!("/api/v1/threads/{thread}/messages")))
        .bearer_auth(&reader_only)
        .json(&json!({"body": "from a read-only token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A signature that does not match what is stored is shown as invalid, loudly.
    crate::documents::run_sql(
        &s,
        "UPDATE messages SET signature = (SELECT signature FROM messages m2 WHERE m2.id <> messages.id AND m2.thread_id = messages.thread_id LIMIT 1) WHERE id = $1",
        sent["message_id"].as_str().unwrap(),
    )
    .await;
    let (_, t) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["messages"][0]["signature"], "invalid");
    assert_eq!(t["messages"][1]["signature"], "verified");
    // …and its attachment is not served.
    let (st, _) = download(&s, &h.cardio_doctor, att["id"].as_str().unwrap()).await;
    assert_eq!(st, 500);
    let events = thread_events(&s, &thread).await;
    let actions: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    for a in [
        "message.thread_started",
        "message.sent",
        "message.read",
        "message.attachment_read",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(
        !serde_json::to_string(&events.iter().map(|e| &e.3).collect::<Vec<_>>())
            .unwrap()
            .contains("Echo protocol")
    );
}

async fn a_recalled_message_is_gone_for_those_who_read_it_and_those_who_did_not(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let att = upload(
        &s,
        &h.im_doctor,
        "wrong-patient.pdf",
        b"%PDF-1.7 wrong".to_vec(),
    )
    .await;
    let sent = start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "Results", "participants": [user(&h.cardio_doctor), user(&h.er_doctor)],
               "body": "Attached by mistake", "attachments": [att["id"]]}),
    )
    .await;
    let (thread, message) = (
        sent["thread_id"].as_str().unwrap().to_owned(),
        sent["message_id"].as_str().unwrap().to_owned(),
    );
    // Cardiology reads it (and the file); emergency has not yet.
    let (_, t) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["messages"][0]["body"], "Attached by mistake");
    assert_eq!(
        download(&s, &h.cardio_doctor, att["id"].as_str().unwrap())
            .await
            .0,
        200
    );

    // Only the sender may recall.
    let (st, _) = post(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/messages/{message}/recall"),
        json!({}),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/messages/{message}/recall"),
        json!({}),
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/messages/{message}/recall"),
        json!({}),
    )
    .await;
    assert_eq!(st, 410, "recalled once");

    for who in [&h.cardio_doctor, &h.er_doctor, &h.im_doctor] {
        let (_, t) = get(&s, who, &format!("/api/v1/threads/{thread}")).await;
        let m = &t["messages"][0];
        assert_eq!(m["state"], "recalled");
        assert!(m["body"].is_null() && m["attachments"] == json!([]), "{m}");
        let (st, _) = download(&s, who, att["id"].as_str().unwrap()).await;
        assert_eq!(st, 410);
    }
    // The keys are destroyed, not hidden.
    let row = s.app().store().message(&message).await.unwrap().unwrap();
    assert!(row.wrapped_data_key.is_none() && row.body_sealed.is_none());
    let a = s
        .app()
        .store()
        .attachment(att["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(a.wrapped_data_key.is_none());
    let events = thread_events(&s, &thread).await;
    let recall = events.iter().find(|e| e.1 == "message.recalled").unwrap();
    assert_eq!(recall.3["had_been_read_by"], 1);
    assert_eq!(recall.3["keys"], "destroyed");
    // No unread left for the one who never read it.
    let (_, unread) = get(&s, &h.er_doctor, "/api/v1/messages/unread").await;
    assert_eq!(unread["total"], 0);
}

async fn a_non_participant_gets_nothing_and_is_audited(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let att = upload(&s, &h.im_doctor, "a.pdf", b"%PDF secret".to_vec()).await;
    let sent = start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "Private", "participants": [user(&h.cardio_doctor)], "body": "Between us", "attachments": [att["id"]]}),
    )
    .await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    let message = sent["message_id"].as_str().unwrap().to_owned();
    for who in [&h.er_doctor, &h.admin, &h.officer, &h.im_nurse] {
        let attempts: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/api/v1/threads/{thread}"), None),
            (
                Method::POST,
                format!("/api/v1/threads/{thread}/messages"),
                Some(json!({"body": "hello"})),
            ),
            (
                Method::POST,
                format!("/api/v1/threads/{thread}/participants"),
                Some(json!({"participant": user(who)})),
            ),
            (
                Method::DELETE,
                format!(
                    "/api/v1/threads/{thread}/participants/{}",
                    user(&h.cardio_doctor)
                ),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/messages/{message}/recall"),
                Some(json!({})),
            ),
            (
                Method::GET,
                format!(
                    "/api/v1/attachments/{}/content",
                    att["id"].as_str().unwrap()
                ),
                None,
            ),
        ];
        for (m, path, body) in attempts {
            let (st, resp) = call(&s, who, m.clone(), &path, body).await;
            assert_eq!(st, 404, "{m} {path}: {resp}");
            assert!(
                !resp.to_string().contains("Between us") && !resp.to_string().contains("Private")
            );
        }
        let (_, inbox) = get(&s, who, "/api/v1/threads").await;
        assert_eq!(inbox, json!([]));
        // Someone else's unsent attachment cannot be sent either.
        let (st, _) = post(
            &s,
            who,
            "/api/v1/threads",
            json!({"subject": "x", "participants": [user(&h.cardio_doctor)], "body": "x", "attachments": [att["id"]]}),
        )
        .await;
        assert_eq!(st, 400);
    }
    let events = thread_events(&s, &thread).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1 == "message.access_denied")
            .count(),
        4 * 6,
        "each of the six attempts of each of the four is refused and recorded, once"
    );
    assert!(events.iter().all(|e| e.1 != "message.read"
        || e.0 == format!("user:{}", h.im_doctor.id)
        || e.0 == format!("user:{}", h.cardio_doctor.id)));

    // A removed participant loses the key: the thread is gone for them.
    let (st, _) = call(
        &s,
        &h.im_doctor,
        Method::DELETE,
        &format!(
            "/api/v1/threads/{thread}/participants/{}",
            user(&h.cardio_doctor)
        ),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(st, 404);
    let p = s.app().store().participants(&thread).await.unwrap();
    let removed = p
        .iter()
        .find(|p| p.mailbox == user(&h.cardio_doctor))
        .unwrap();
    assert!(removed.wrapped_thread_key.is_none() && removed.removed_at.is_some());
}

async fn patient_threads_are_decided_by_policy_and_audited_on_the_patient(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Lambert", "Odile", "1958-02-11").await;
    let id = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;

    // Someone with no relation to the patient cannot start a thread about them.
    let (st, _) = post(
        &s,
        &h.cardio_doctor,
        "/api/v1/threads",
        json!({"subject": "Question", "patient_id": id, "participants": [user(&h.im_doctor)], "body": "?"}),
    )
    .await;
    assert_eq!(st, 404);
    // A colleague outside the patient's care is refused as a recipient (an error by default).
    let (st, e) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        json!({"subject": "Handover", "patient_id": id, "participants": [user(&h.cardio_doctor)], "body": "Stable."}),
    )
    .await;
    assert_eq!(st, 422, "{e}");
    assert_eq!(e["findings"][0]["rule"], "no_care_relationship");
    assert!(!e.to_string().contains("Lambert"));
    // Within the care team it goes.
    let sent = start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "Handover", "patient_id": id, "participants": [user(&h.im_nurse)], "body": "Stable overnight."}),
    )
    .await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    let (st, t) = get(&s, &h.im_nurse, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["patient_id"], id);
    let (_, inbox) = get(&s, &h.im_nurse, &format!("/api/v1/threads?patient={id}")).await;
    assert_eq!(inbox.as_array().unwrap().len(), 1);
    let (_, found) = post(
        &s,
        &h.im_nurse,
        "/api/v1/threads/.search",
        json!({"subject": "handover", "patient": id}),
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let (_, found) = post(
        &s,
        &h.im_nurse,
        "/api/v1/threads/.search",
        json!({"subject": "discharge"}),
    )
    .await;
    assert_eq!(found, json!([]));
    let (st, _) = get(&s, &h.im_nurse, "/api/v1/threads?subject=handover").await;
    assert_eq!(st, 400, "search words do not go in URLs");

    // Reads of a patient thread are audited on the patient, with the policy that permitted.
    let events = patient_events(&s, &id).await;
    let read = events
        .iter()
        .find(|e| e.1 == "message.read" && e.0 == format!("user:{}", h.im_nurse.id))
        .unwrap();
    assert_eq!(read.2, "granted");
    assert_eq!(read.3["thread"], thread);
    assert!(read.3["reasons"][0]["policy"].is_string(), "{}", read.3);
    assert!(events
        .iter()
        .any(|e| e.1 == "patient.read" && e.3["listed_in"] == "inbox"));

    // A participant whose care ended long ago loses the thread (the policy decides each read).
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/transfer"),
        json!({"department_id": h.cardio}),
    )
    .await;
    s.clock.advance(sealroom_domain::Duration::hours(24 * 31));
    let (st, _) = get(&s, &h.im_nurse, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(st, 404);
    let (_, inbox) = get(&s, &h.im_nurse, "/api/v1/threads").await;
    assert_eq!(inbox, json!([]));
    let events = patient_events(&s, &id).await;
    assert!(events
        .iter()
        .any(|e| e.1 == "patient.access_denied" && e.0 == format!("user:{}", h.im_nurse.id)));
}

async fn leak_rules_block_errors_and_ask_to_confirm_warnings(b: Backend) {
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![(
                "SEALROOM_MESSAGING__LEAK_RULES".into(),
                r#"{ outside_recipients_see_each_other = "off" }"#.into(),
            )],
        },
    )
    .await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Vandermeulen", "Jef", "1970-05-05").await;
    let id = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;

    // Errors block: the patient's name or a national number in the subject.
    for subject in ["Vandermeulen follow-up", "Follow-up 85.07.30-033.28"] {
        let (st, e) = post(
            &s,
            &h.im_doctor,
            "/api/v1/threads",
            json!({"subject": subject, "patient_id": id, "participants": [user(&h.im_nurse)], "body": "x", "confirm": ["patient_name_in_subject", "national_identifier_in_subject"]}),
        )
        .await;
        assert_eq!(st, 422, "{subject}: {e}");
        assert_eq!(e["findings"][0]["level"], "error");
        assert!(
            !e.to_string().contains("Vandermeulen") && !e.to_string().contains("033"),
            "{e}"
        );
    }

    // A warning waits for confirmation: a colleague whose name resembles a frequent recipient.
    let peeters = person_named(&s, "a.peeters@example.org", "Anna Peeters", "clinician").await;
    let peters = person_named(&s, "a.peters@example.org", "Anna Peters", "clinician").await;
    for n in 0..3 {
        start_thread(
            &s,
            &h.im_doctor,
            json!({"subject": format!("Rota {n}"), "participants": [user(&peeters)], "body": "ok"}),
        )
        .await;
    }
    let draft = json!({"subject": "Rota 4", "participants": [user(&peters)], "body": "ok"});
    let (st, e) = post(&s, &h.im_doctor, "/api/v1/threads", draft.clone()).await;
    assert_eq!(st, 422, "{e}");
    let f = &e["findings"][0];
    assert_eq!(f["rule"], "resembles_frequent_recipient");
    assert_eq!(f["level"], "warning");
    assert_eq!(f["recipient"], "Anna Peters");
    assert_eq!(f["did_you_mean"], "Anna Peeters");
    let mut confirmed = draft.clone();
    confirmed["confirm"] = json!(["resembles_frequent_recipient"]);
    let sent = start_thread(&s, &h.im_doctor, confirmed).await;
    assert_eq!(sent["findings"][0]["rule"], "resembles_frequent_recipient");

    // Replying in a thread someone else started counts too: the doctor has never written to
    // Peeter, whose name resembles a frequent recipient's.
    let peeter = person_named(&s, "a.peeter@example.org", "Anna Peeter", "clinician").await;
    let theirs = start_thread(
        &s,
        &peeter,
        json!({"subject": "Swap", "participants": [user(&h.im_doctor)], "body": "Swap Friday?"}),
    )
    .await;
    let reply = format!(
        "/api/v1/threads/{}/messages",
        theirs["thread_id"].as_str().unwrap()
    );
    let (st, e) = post(&s, &h.im_doctor, &reply, json!({"body": "Yes"})).await;
    assert_eq!(st, 422, "{e}");
    assert_eq!(e["findings"][0]["rule"], "resembles_frequent_recipient");
    // Once written to, Peeter is known: the next reply goes without a warning.
    let (st, e) = post(
        &s,
        &h.im_doctor,
        &reply,
        json!({"body": "Yes", "confirm": ["resembles_frequent_recipient"]}),
    )
    .await;
    assert_eq!(st, 201, "{e}");
    let (st, e) = post(&s, &h.im_doctor, &reply, json!({"body": "See you"})).await;
    assert_eq!(st, 201, "{e}");
    assert_eq!(e["findings"], json!([]), "{e}");

    // Each outcome is audited, without what matched.
    let events: Vec<_> = s
        .app()
        .store()
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "message.leak_check")
        .collect();
    let outcomes: Vec<String> = events
        .iter()
        .flat_map(|e| {
            let d: Value = serde_json::from_str(&e.details).unwrap();
            d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    format!(
                        "{}={}",
                        f["rule"].as_str().unwrap(),
                        f["outcome"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for o in [
        "patient_name_in_subject=blocked",
        "national_identifier_in_subject=blocked",
        "resembles_frequent_recipient=awaiting_confirmation",
        "resembles_frequent_recipient=confirmed",
    ] {
        assert!(outcomes.contains(&o.to_owned()), "{o} in {outcomes:?}");
    }
    assert!(events
        .iter()
        .all(|e| !e.details.contains("Vandermeulen") && !e.details.contains("85.07")));
}

async fn department_inboxes_are_read_by_current_members(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let sent = start_thread(
        &s,
        &h.er_doctor,
        json!({"subject": "Bed request", "participants": [format!("department:{}", h.im)], "body": "Any bed tonight?"}),
    )
    .await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    // Every current member of internal medicine sees it; cardiology does not.
    for who in [&h.im_doctor, &h.im_nurse] {
        let (_, inbox) = get(&s, who, "/api/v1/threads").await;
        assert_eq!(inbox[0]["id"], thread, "{inbox}");
        assert_eq!(inbox[0]["unread"], 1);
    }
    let (st, _) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(st, 404);
    // One member reads: the department's copy is read, for everyone in it.
    let (_, t) = get(&s, &h.im_nurse, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["messages"][0]["body"], "Any bed tonight?");
    let (_, unread) = get(&s, &h.im_doctor, "/api/v1/messages/unread").await;
    assert_eq!(unread["total"], 0);
    // To answer as themselves, a member joins the thread first.
    let path = format!("/api/v1/threads/{thread}/messages");
    let (st, _) = post(&s, &h.im_nurse, &path, json!({"body": "Bed 12"})).await;
    assert_eq!(st, 409);
    let (st, _) = post(
        &s,
        &h.im_nurse,
        &format!("/api/v1/threads/{thread}/participants"),
        json!({"participant": user(&h.im_nurse)}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = post(&s, &h.im_nurse, &path, json!({"body": "Bed 12"})).await;
    assert_eq!(st, 201);
    let (_, t) = get(&s, &h.er_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["messages"][1]["author"], user(&h.im_nurse));
    // The sender sees the department's receipt.
    assert_eq!(
        t["messages"][0]["receipts"][0]["recipient"],
        format!("department:{}", h.im)
    );
    assert!(t["messages"][0]["receipts"][0]["read_at"].is_i64());
}

async fn messages_expire_by_key_destruction(b: Backend) {
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![("SEALROOM_MESSAGING__READ_RECEIPTS".into(), "false".into())],
        },
    )
    .await;
    let h = hospital(&s).await;
    let sent = start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "Temporary code", "participants": [user(&h.cardio_doctor)], "body": "Door code 4711", "expires_in_days": 2}),
    )
    .await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    assert_eq!(sent["expires_at"], s.now() as i64 + 2 * 86_400);
    let (_, t) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["messages"][0]["body"], "Door code 4711");
    // Read receipts are off: the sender sees delivery only.
    let (_, t) = get(&s, &h.im_doctor, &format!("/api/v1/threads/{thread}")).await;
    let r = &t["messages"][0]["receipts"][0];
    assert!(r["delivered_at"].is_i64() && r["read_at"].is_null(), "{r}");
    let (st, _) = post(&s, &h.im_doctor, "/api/v1/threads", json!({"subject": "x", "participants": [user(&h.cardio_doctor)], "body": "x", "expires_in_days": 0})).await;
    assert_eq!(st, 400);

    s.clock.advance(sealroom_domain::Duration::hours(49));
    assert_eq!(s.app().expire_messages().await.unwrap(), 1);
    let (_, t) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["messages"][0]["state"], "expired");
    assert!(t["messages"][0]["body"].is_null());
    let row = s
        .app()
        .store()
        .message(sent["message_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(row.wrapped_data_key.is_none() && row.body_sealed.is_none());
    let events = thread_events(&s, &thread).await;
    assert!(events
        .iter()
        .any(|e| e.1 == "message.expired" && e.3["keys"] == "destroyed"));
}

/// Read Server-Sent Events from a streaming response until `pick` matches one (bounded).
async fn next_event(resp: &mut reqwest::Response, buffer: &mut String, pick: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            if event == pick {
                return serde_json::from_str(data).unwrap();
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("the event arrives within 10 seconds")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn live_delivery_counts_unread_and_absent_recipients_get_one_notice(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![("SEALROOM_MAIL__SMTP_URL".into(), sink.url())],
        },
    )
    .await;
    let h = hospital(&s).await;
    let mut events = s
        .client
        .get(s.url("/api/v1/messages/events"))
        .bearer_auth(&h.cardio_doctor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(events.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut buffer = String::new();
    let first = next_event(&mut events, &mut buffer, "unread").await;
    assert_eq!(first["total"], 0);
    assert_eq!(s.app().live().connections(), 1);

    let sent = start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "Live", "participants": [user(&h.cardio_doctor), user(&h.er_doctor)], "body": "Are you there?"}),
    )
    .await;
    let event = next_event(&mut events, &mut buffer, "message").await;
    assert_eq!(event["thread"], sent["thread_id"]);
    assert_eq!(event["message"], sent["message_id"]);
    assert!(!event.to_string().contains("Are you there") && !event.to_string().contains("Live"));
    let counts = next_event(&mut events, &mut buffer, "unread").await;
    assert_eq!(counts["total"], 1);

    // The connected recipient had it delivered at once; the absent one waits for a notice.
    let (_, t) = get(
        &s,
        &h.im_doctor,
        &format!("/api/v1/threads/{}", sent["thread_id"].as_str().unwrap()),
    )
    .await;
    let receipts = t["messages"][0]["receipts"].as_array().unwrap().clone();
    let of = |p: &Person| {
        receipts
            .iter()
            .find(|r| r["recipient"] == user(p))
            .unwrap()
            .clone()
    };
    assert!(of(&h.cardio_doctor)["delivered_at"].is_i64());
    assert!(of(&h.er_doctor)["delivered_at"].is_null());
    // A second message before the batch is due: still one notice, saying two.
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &format!(
            "/api/v1/threads/{}/messages",
            sent["thread_id"].as_str().unwrap()
        ),
        json!({"body": "Hello?"}),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(
        s.app().send_message_notices().await.unwrap(),
        0,
        "not before the delay"
    );
    s.clock.advance(sealroom_domain::Duration::minutes(6));
    assert_eq!(s.app().send_message_notices().await.unwrap(), 1);
    let mail = sink.wait_for(|m| m.contains("er@example.org")).await;
    assert!(mail.contains("2 secure messages are waiting"), "{mail}");
    assert!(!mail.contains("Live") && !mail.contains("Are you there") && !mail.contains("Hello?"));
    assert_eq!(
        s.app().send_message_notices().await.unwrap(),
        0,
        "told once"
    );
    drop(events);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.app().live().connections() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection was not released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn the_live_stream_does_not_keep_an_idle_session_alive(b: Backend) {
    let s = TestServer::start(b).await;
    let staff = crate::journeys::enrolled_staff(&s, "nina@example.org", "nurse").await;
    // The page reconnects its stream by itself; that is not the person at the screen.
    s.clock.advance(sealroom_domain::Duration::minutes(10));
    let r = staff
        .client
        .get(s.url("/api/v1/messages/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    s.clock.advance(sealroom_domain::Duration::minutes(10));
    let r = staff
        .client
        .get(s.url("/api/v1/messages/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "20 minutes without the person: the idle limit (15) holds"
    );
    let r = staff
        .client
        .get(s.url("/me/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"].to_str().unwrap(), "/signin?ended=1");
}

async fn a_clinician_files_an_attachment_into_the_patients_record(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Lambert", "Odile", "1958-02-11").await;
    let patient = p["id"].as_str().unwrap().to_owned();
    post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{patient}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    let scan: Vec<u8> = (0..150_000u32).map(|i| (i % 233) as u8).collect();
    let att = upload(&s, &h.im_nurse, "wound photo.pdf", scan.clone()).await;
    let sent = start_thread(
        &s,
        &h.im_nurse,
        json!({"subject": "Wound check", "patient_id": patient, "category": "results",
               "participants": [user(&h.im_doctor)], "body": "Photo of today.", "attachments": [att["id"]]}),
    )
    .await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    let att_id = att["id"].as_str().unwrap();

    // Someone who cannot read the thread files nothing and learns nothing.
    let (st, _) = post(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/attachments/{att_id}/file"),
        json!({}),
    )
    .await;
    assert_eq!(st, 404);
    // A bad kind is named.
    let (st, e) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/attachments/{att_id}/file"),
        json!({"kind": "x-ray"}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("kind"), "{e}");

    let (st, doc) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/attachments/{att_id}/file"),
        json!({"title": "Wound, day 3", "kind": "image"}),
    )
    .await;
    assert_eq!(st, 201, "{doc}");
    assert_eq!(doc["patient_id"], patient.as_str());
    assert_eq!(doc["category"], "results", "the thread's category");
    assert_eq!(doc["kind"], "image");
    assert_eq!(doc["title"], "Wound, day 3");
    let version = &doc["versions"][0];
    assert_eq!(version["filename"], "wound photo.pdf");
    assert_eq!(version["signature"]["status"], "verified", "{version}");
    assert_eq!(
        version["signature"]["signer_id"],
        h.im_doctor.id.as_str(),
        "{version}"
    );
    let doc_id = doc["id"].as_str().unwrap();
    let r = s
        .client
        .get(s.url(&format!("/api/v1/documents/{doc_id}/content")))
        .bearer_auth(&h.im_doctor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        scan,
        "the file, byte for byte"
    );
    let (st, list) = get(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{patient}/documents"),
    )
    .await;
    assert_eq!(st, 200);
    assert!(
        list["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == doc_id),
        "{list}"
    );
    let events = thread_events(&s, &thread).await;
    assert!(
        events
            .iter()
            .any(|(actor, a, o, d)| actor == &user(&h.im_doctor)
                && a == "message.attachment_filed"
                && o == "success"
                && d["document"] == doc_id),
        "{events:?}"
    );

    // An attachment of a conversation about no patient has no record to go to.
    let other = upload(&s, &h.im_doctor, "rota.pdf", vec![1u8; 100]).await;
    start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "Rota", "participants": [user(&h.cardio_doctor)], "body": "Next week.", "attachments": [other["id"]]}),
    )
    .await;
    let (st, e) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/attachments/{}/file", other["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("not about a patient"),
        "{e}"
    );
}

/// Many sends at once (stored by group commit, several per transaction): each arrives once, in
/// a place of its own in its thread; the recipient history and the notice count every one; of
/// two sends racing with the same attachment, one takes it and the other is refused plainly.
async fn concurrent_sends_each_arrive_once_and_an_attachment_goes_with_one_message(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let mut threads = Vec::new();
    for i in 0..3 {
        let t = start_thread(
            &s,
            &h.im_doctor,
            json!({"subject": format!("Rota {i}"), "participants": [user(&h.cardio_doctor)], "body": "Start"}),
        )
        .await;
        threads.push(t["thread_id"].as_str().unwrap().to_owned());
    }
    let file = upload(&s, &h.im_doctor, "rota.pdf", b"%PDF-1.4 rota".to_vec()).await;
    let file = file["id"].as_str().unwrap().to_owned();
    let (s, sender) = (&s, &h.im_doctor);
    let plain = (0..60).map(|i| {
        let path = format!("/api/v1/threads/{}/messages", threads[i % 3]);
        async move { post(s, sender, &path, json!({"body": format!("Slot {i}")})).await }
    });
    let with_file = (0..2).map(|i| {
        let path = format!("/api/v1/threads/{}/messages", threads[i]);
        let body = json!({"body": "The rota", "attachments": [file.clone()]});
        async move { post(s, sender, &path, body).await }
    });
    let (plain, with_file) = tokio::join!(
        futures_util::future::join_all(plain),
        futures_util::future::join_all(with_file)
    );
    for (st, v) in &plain {
        assert_eq!(*st, 201, "{v}");
    }
    let taken: Vec<&(StatusCode, Value)> = with_file.iter().filter(|(st, _)| *st == 201).collect();
    assert_eq!(taken.len(), 1, "{with_file:?}");
    let refused = with_file.iter().find(|(st, _)| *st != 201).unwrap();
    // Refused at the check (the other was stored already) or at the commit (both in flight).
    assert!(refused.0 == 409 || refused.0 == 400, "{refused:?}");
    assert!(
        refused.1.to_string().contains("attachment"),
        "the refusal says what was wrong: {}",
        refused.1
    );

    let mut seen = Vec::new();
    for t in &threads {
        let (st, view) = get(s, &h.cardio_doctor, &format!("/api/v1/threads/{t}")).await;
        assert_eq!(st, 200);
        for m in view["messages"].as_array().unwrap() {
            assert_eq!(m["signature"], "verified", "{m}");
            seen.push(m["id"].as_str().unwrap().to_owned());
        }
    }
    let sent: Vec<String> = plain
        .iter()
        .chain(taken.iter().copied())
        .map(|(_, v)| v["message_id"].as_str().unwrap().to_owned())
        .collect();
    // The threads hold the 3 first messages and every send, none twice.
    let mut arrived = seen;
    arrived.sort();
    assert!(sent.iter().all(|id| arrived.binary_search(id).is_ok()));
    assert_eq!(arrived.len(), sent.len() + 3);
    arrived.dedup();
    assert_eq!(arrived.len(), sent.len() + 3, "a message shown twice");
    // 3 first messages + 60 + 1, each counted once.
    let history = s
        .app()
        .store()
        .recipient_history(&user(&h.im_doctor))
        .await
        .unwrap();
    assert_eq!(history, [(user(&h.cardio_doctor), 64)]);
    // Nobody was connected: one notice waits, counting all 64.
    let notices = s
        .app()
        .store()
        .take_message_notices(i64::MAX)
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!((&notices[0].0, notices[0].1), (&user(&h.cardio_doctor), 64));
    for t in &threads {
        let seqs = seqs_of(s, t).await;
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, expected, "each message has a place of its own in {t}");
    }
}

/// The places (`seq`) of a thread's messages, read directly from the database.
async fn seqs_of(s: &TestServer, thread: &str) -> Vec<i64> {
    use sqlx::Connection;
    let url = &s.config.database_url;
    let sql = "SELECT seq FROM messages WHERE thread_id = $1 ORDER BY seq";
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(thread)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(thread)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }
}

/// tus 1.0 to `/api/v1/uploads` with `for` = `attachment`: the attachment is built over several
/// requests, one of them cut off, and then goes with a message like any other.
async fn a_large_attachment_resumes_after_a_dropped_connection_and_goes_with_a_message(b: Backend) {
    use crate::documents::{
        contains, files_under, offset_of, patch_then_drop, stored_files, tus, tus_metadata,
        tus_patch,
    };
    const MARKER: &str = "MARKER-attachment-5e1d-Peeters-MRI";
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let content: Vec<u8> = MARKER
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(700_000)
        .collect();
    let length = content.len().to_string();
    let meta = tus_metadata(&[
        ("for", "attachment"),
        ("filename", "MRI series.zip"),
        ("filetype", "application/zip"),
    ]);
    let create = |who: &Person, meta: String, length: String| {
        let token = who.token.clone();
        let s = &s;
        async move {
            s.client
                .post(s.url("/api/v1/uploads"))
                .bearer_auth(token)
                .header("tus-resumable", "1.0.0")
                .header("upload-length", length)
                .header("upload-metadata", meta)
                .send()
                .await
                .unwrap()
        }
    };

    // What an attachment upload may say is checked.
    let r = create(
        &h.im_doctor,
        tus_metadata(&[("for", "photo"), ("filename", "a.jpg")]),
        "10".into(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("document or an attachment"));
    let r = create(
        &h.im_doctor,
        tus_metadata(&[("for", "attachment"), ("patient_id", "p-1")]),
        "10".into(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("patient_id is not a key"));

    let r = create(&h.im_doctor, meta.clone(), length.clone()).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let attachment = r.headers()["x-sealroom-attachment"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!r.headers().contains_key("x-sealroom-document"));
    assert_eq!(
        offset_of(&s, &h.cardio_doctor, &location).await.status(),
        404,
        "an upload is its uploader's alone"
    );
    // Unfinished, it cannot be sent.
    let (st, e) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        json!({"subject": "MRI", "participants": [user(&h.cardio_doctor)],
               "body": "Images attached.", "attachments": [attachment]}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("not one you uploaded and have not sent yet"));

    let patch =
        |offset: usize, body: reqwest::Body| tus_patch(&s, &h.im_doctor, &location, offset, body);
    // 300 000 bytes: four whole 64 KiB segments count.
    let r = patch(0, content[..300_000].to_vec().into()).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "262144");
    assert_eq!(r.headers()["x-sealroom-attachment"], attachment.as_str());
    // Nobody else can add to it.
    let body = content[262_144..300_000].to_vec().into();
    let r = tus_patch(&s, &h.cardio_doctor, &location, 262_144, body)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The connection drops after 200 000 more bytes: three more whole segments are kept.
    let held = patch_then_drop(
        &s,
        &h.im_doctor,
        &location,
        262_144,
        &content[262_144..462_144],
        458_752,
    )
    .await;
    assert_eq!(held, 458_752);
    let staging = s.config.data_dir.join("uploads");
    let staged = files_under(&staging);
    assert_eq!(staged.len(), 1);
    assert!(
        !contains(&std::fs::read(&staged[0]).unwrap(), MARKER.as_bytes()),
        "only ciphertext is staged"
    );

    // The rest completes the attachment.
    let r = patch(458_752, content[458_752..].to_vec().into())
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    assert_eq!(r.headers()["upload-offset"], length.as_str());
    assert_eq!(r.headers()["x-sealroom-attachment"], attachment.as_str());
    assert!(files_under(&staging).is_empty());
    assert_eq!(offset_of(&s, &h.im_doctor, &location).await.status(), 404);
    let uploaded = crate::access::events_about(&s, &format!("attachment:{attachment}")).await;
    assert_eq!(
        uploaded
            .iter()
            .filter(|e| e.1 == "message.attachment_uploaded" && e.0 == user(&h.im_doctor))
            .count(),
        1,
        "{uploaded:?}"
    );

    // Only its uploader can send it; then it reaches the recipient whole, signed.
    let (st, e) = post(
        &s,
        &h.cardio_doctor,
        "/api/v1/threads",
        json!({"subject": "MRI", "participants": [user(&h.im_doctor)],
               "body": "Not mine.", "attachments": [attachment]}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let sent = start_thread(
        &s,
        &h.im_doctor,
        json!({"subject": "MRI", "participants": [user(&h.cardio_doctor)],
               "body": "Images attached.", "attachments": [attachment]}),
    )
    .await;
    let thread = sent["thread_id"].as_str().unwrap();
    let (_, t) = get(&s, &h.cardio_doctor, &format!("/api/v1/threads/{thread}")).await;
    let m = &t["messages"][0];
    assert_eq!(m["signature"], "verified");
    assert_eq!(m["attachments"][0]["id"], attachment.as_str());
    assert_eq!(m["attachments"][0]["filename"], "MRI series.zip");
    assert_eq!(m["attachments"][0]["size"], 700_000);
    let (st, bytes) = download(&s, &h.cardio_doctor, &attachment).await;
    assert_eq!(st, 200);
    assert!(bytes == content, "the attachment comes back byte for byte");
    // Neither the content nor the file name is stored in the clear (blobs, database file).
    for f in stored_files(&s) {
        let stored = std::fs::read(&f).unwrap();
        assert!(!contains(&stored, MARKER.as_bytes()), "{}", f.display());
        assert!(!contains(&stored, b"MRI series"), "{}", f.display());
    }

    // A cancelled upload and an expired one leave nothing, and the audit log says why.
    let cancelled = create(&h.im_doctor, meta.clone(), "1000".into()).await;
    assert_eq!(cancelled.status(), 201);
    let cancelled_id = cancelled.headers()["x-sealroom-attachment"]
        .to_str()
        .unwrap()
        .to_owned();
    let cancelled = cancelled.headers()["location"].to_str().unwrap().to_owned();
    let r = tus(&s, &h.cardio_doctor, Method::DELETE, &cancelled)
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nobody else can cancel it");
    let r = tus(&s, &h.im_doctor, Method::DELETE, &cancelled)
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let expiring = create(&h.im_doctor, meta.clone(), "1000".into()).await;
    let expiring_id = expiring.headers()["x-sealroom-attachment"]
        .to_str()
        .unwrap()
        .to_owned();
    s.clock.advance(sealroom_domain::Duration::hours(25));
    assert_eq!(s.app().expire_uploads().await.unwrap(), 1);
    assert_eq!(
        s.app().expire_uploads().await.unwrap(),
        0,
        "an upload expires once"
    );
    assert!(files_under(&staging).is_empty());
    for (id, why) in [
        (cancelled_id, "cancelled by the uploader"),
        (expiring_id, "the upload expired before it was complete"),
    ] {
        let events = crate::access::events_about(&s, &format!("attachment:{id}")).await;
        let abandoned: Vec<_> = events
            .iter()
            .filter(|e| e.1 == "message.attachment_upload_abandoned")
            .collect();
        assert_eq!(abandoned.len(), 1, "{events:?}");
        assert_eq!(abandoned[0].2, "failure");
        assert_eq!(abandoned[0].3["why"], why);
    }
}
