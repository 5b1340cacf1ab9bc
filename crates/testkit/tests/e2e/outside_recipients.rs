//! Outside recipients (issue 6, item 7): someone without an account is sent a link by e-mail
//! (through a real SMTP server), opens it with the verification the sender chose (an SMS code
//! from the outbox, an access code given another way), reads the thread, downloads its file and
//! replies with a file; the method is remembered for the address; wrong codes lock; a removed
//! recipient's session ends; a session opens one thread only.

use reqwest::StatusCode;
use sealroom_testkit::{attr_after, Backend, Options, SmtpSink, TestServer};
use serde_json::{json, Value};

use crate::access::{call, events_about, get, hospital, post, register};

both_backends!(
    an_outside_recipient_opens_with_an_sms_code_replies_with_a_file_and_is_remembered,
    access_codes_lock_after_five_wrong_tries_and_a_session_opens_one_thread,
    a_later_message_is_told_by_a_fresh_link_and_a_new_address_needs_a_method,
);

async fn server(b: Backend, sink: &SmtpSink) -> TestServer {
    TestServer::start_with(
        b,
        Options {
            env: vec![("SEALROOM_MAIL__SMTP_URL".into(), sink.url())],
        },
    )
    .await
}

/// The link in an e-mail to `to` that is not among `seen` (mail arrives in no set order),
/// once `count` e-mails have come; every one must say nothing about the thread.
async fn link_for(
    sink: &SmtpSink,
    to: &str,
    count: usize,
    forbidden: &[&str],
    seen: &[&str],
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mine: Vec<(String, String, String)> = sink
            .decoded_messages()
            .into_iter()
            .filter(|(r, _, _)| r.contains(to))
            .collect();
        if mine.len() >= count {
            let mut links = Vec::new();
            for (_, subject, body) in &mine {
                for f in forbidden {
                    assert!(
                        !subject.contains(f) && !body.contains(f),
                        "the e-mail reveals {f:?}: {subject} / {body}"
                    );
                }
                let start = body.find("https://").expect("a link");
                let link: String = body[start..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                assert!(link.contains("/outside/m/"), "{link}");
                links.push(link);
            }
            return links
                .into_iter()
                .find(|l| !seen.contains(&l.as_str()))
                .expect("a new link");
        }
        assert!(std::time::Instant::now() < deadline, "no e-mail to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The newest SMS to `number` in the development outbox, and its 6-digit code.
async fn sms_code(s: &TestServer, number: &str, count: usize) -> String {
    let outbox = s.config.data_dir.join("sms-outbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut texts: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&outbox)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "sms"))
                    .filter_map(|e| {
                        let t = std::fs::read_to_string(e.path()).ok()?;
                        let m = e.metadata().ok()?.modified().ok()?;
                        Some((m, t))
                    })
                    .filter(|(_, t)| t.starts_with(&format!("To: {number}")))
                    .collect()
            })
            .unwrap_or_default();
        if texts.len() >= count {
            texts.sort();
            let text = &texts.last().unwrap().1;
            assert!(text.contains("secure message"), "{text}");
            let at = text.find(" is ").expect("a code") + 4;
            return text[at..at + 6].to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no SMS to {number}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The CSRF token of an outside page's forms.
fn csrf_of(html: &str) -> String {
    attr_after(html, "name=\"_csrf\"", "value").expect("the page has a form")
}

/// Open an e-mailed link in a fresh browser: its client, the page it leads to, and the CSRF
/// token of that page's forms.
async fn open(s: &TestServer, link: &str) -> (reqwest::Client, String, String) {
    let c = s.browser();
    let (st, _) = page(&c, s, path_of(link)).await;
    assert_eq!(st, StatusCode::SEE_OTHER, "the link leads to /outside");
    let html = page(&c, s, "/outside").await.1;
    let csrf = csrf_of(&html);
    (c, html, csrf)
}

/// The path of a link (the test client resolves the host itself).
fn path_of(link: &str) -> &str {
    &link[link.find("/outside/").expect("an /outside/ link")..]
}

/// Type a code on the verification page: the status and the page answered.
async fn verify(
    c: &reqwest::Client,
    s: &TestServer,
    csrf: &str,
    code: &str,
) -> (StatusCode, String) {
    let (st, html, _) = form(c, s, "/outside/verify", &[("_csrf", csrf), ("code", code)]).await;
    (st, html)
}

async fn page(c: &reqwest::Client, s: &TestServer, path: &str) -> (StatusCode, String) {
    let r = c.get(s.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn form(
    c: &reqwest::Client,
    s: &TestServer,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let r = c.post(s.url(path)).form(fields).send().await.unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (r.status(), r.text().await.unwrap(), location)
}

async fn an_outside_recipient_opens_with_an_sms_code_replies_with_a_file_and_is_remembered(
    b: Backend,
) {
    let sink = SmtpSink::start().await;
    let s = server(b, &sink).await;
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
    let pdf: Vec<u8> = (0..70_000u32).map(|i| (i % 241) as u8).collect();
    let att = crate::messaging::upload(&s, &h.im_doctor, "discharge letter.pdf", pdf.clone()).await;
    let email = "dr.martin@clinique-exemple.fr";
    let phone = "+33612345678";
    let draft = |extra: Value| {
        let mut body = json!({
            "subject": "Discharge summary", "patient_id": patient,
            "outside": [{"email": email, "verify": "sms", "phone": phone}],
            "body": "Please find the discharge letter attached.", "attachments": [att["id"]],
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    // A file for someone outside without a legal basis is blocked; a first address is a
    // warning to confirm.
    let (st, e) = post(&s, &h.im_doctor, "/api/v1/threads", draft(json!({}))).await;
    assert_eq!(st, 422, "{e}");
    let rules: Vec<&str> = e["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"attachment_without_legal_basis"), "{e}");
    assert!(rules.contains(&"first_outside_address"), "{e}");
    assert!(
        sink.decoded_messages().is_empty(),
        "nothing goes out before the checks pass"
    );
    // A method the organization does not allow is refused plainly.
    let (st, e) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        draft(json!({"outside": [{"email": email, "verify": "email"}]})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("sms or access_code"),
        "{e}"
    );

    let (st, sent) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        draft(json!({"legal_basis": "continuity_of_care", "confirm": ["first_outside_address"]})),
    )
    .await;
    assert_eq!(st, 201, "{sent}");
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    assert_eq!(sent["outside"][0]["method"], "sms");
    assert_eq!(sent["outside"][0]["remembered"], false);
    assert!(sent["outside"][0].get("access_code").is_none());
    let address = sent["outside"][0]["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("outside:"));
    // Messages to outside recipients expire by default (30 days).
    assert_eq!(
        sent["expires_at"].as_i64().unwrap() - sent["sent_at"].as_i64().unwrap(),
        30 * 86_400
    );

    // The e-mail says only that a message waits, with a link.
    let link = link_for(
        &sink,
        email,
        1,
        &["Lambert", "Odile", "Discharge", &patient],
        &[],
    )
    .await;
    let path = path_of(&link);
    // A made-up link opens nothing.
    let (st, _) = page(&s.browser(), &s, "/outside/m/not-a-real-reference-at-all").await;
    assert_eq!(st, 404);
    let (c, html, csrf) = open(&s, &link).await;
    assert!(html.contains("data-method=\"sms\""), "{html}");
    assert!(
        html.contains("+33") && !html.contains(phone),
        "the number is masked: {html}"
    );
    assert!(
        !html.contains("Discharge"),
        "nothing of the thread before verifying"
    );
    // Not verified: no thread, no file.
    let (st, _) = page(
        &c,
        &s,
        &format!("/outside/attachments/{}", att["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(st, 303, "unverified: sent back to verify");
    // A wrong code spends a try.
    let (st, html) = verify(&c, &s, &csrf, "000000").await;
    assert_eq!(st, 200);
    assert!(html.contains("4 tries left"), "{html}");
    let (st, html, _) = form(&c, &s, "/outside/code", &[("_csrf", &csrf)]).await;
    assert_eq!(st, 200);
    assert!(html.contains("A code was sent"), "{html}");
    let code = sms_code(&s, phone, 1).await;
    let (st, _, location) = form(
        &c,
        &s,
        "/outside/verify",
        &[("_csrf", &csrf), ("code", &code)],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/outside"));
    let (st, html) = page(&c, &s, "/outside").await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Discharge summary"));
    assert!(html.contains("Please find the discharge letter attached."));
    assert!(html.contains("Signature verified"));
    let r = c
        .get(s.url(&format!(
            "/outside/attachments/{}",
            att["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        pdf,
        "the file, byte for byte"
    );
    // Decided by the policy and audited on the patient, as the outside recipient.
    let events = events_about(&s, &format!("patient:{patient}")).await;
    assert!(
        events
            .iter()
            .any(|(actor, action, outcome, d)| actor == &address
                && action == "message.read"
                && outcome == "granted"
                && d["reasons"][0]["policy"]
                    == "outside-recipients-read-what-was-addressed-to-them"),
        "{events:?}"
    );
    let on_thread = events_about(&s, &format!("thread:{thread}")).await;
    for action in [
        "outside.invited",
        "outside.link_opened",
        "outside.code_sent",
        "outside.verification_failed",
        "outside.verified",
    ] {
        assert!(
            on_thread.iter().any(|(_, a, _, _)| a == action),
            "no {action}: {on_thread:?}"
        );
    }

    // A reply with a file, inside the thread.
    let html = page(&c, &s, "/outside").await.1;
    let csrf = csrf_of(&html);
    // Larger than any form limit: the file streams into an encrypted attachment.
    let mut reply_file: Vec<u8> = b"%PDF-1.4 signed consent ".to_vec();
    reply_file.extend((0..200_000u32).map(|i| (i % 199) as u8));
    let form_data = reqwest::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .text(
            "body",
            "Received, thank you. The signed consent is attached.",
        )
        .part(
            "files",
            reqwest::multipart::Part::bytes(reply_file.clone())
                .file_name("consent.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let r = c
        .post(s.url("/outside/reply"))
        .multipart(form_data)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let (st, t) = get(&s, &h.im_doctor, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(st, 200, "{t}");
    let last = t["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["author"], address);
    assert_eq!(last["author_label"], email);
    assert_eq!(last["signature"], "verified");
    let (st, bytes) = crate::messaging::download(
        &s,
        &h.im_doctor,
        last["attachments"][0]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(bytes, reply_file);

    // Next time, the method that worked (and its number) is offered first.
    let (st, again) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        json!({"subject": "Follow-up", "patient_id": patient, "outside": [{"email": "  Dr.Martin@Clinique-Exemple.fr "}],
               "body": "A follow-up question."}),
    )
    .await;
    assert_eq!(st, 201, "{again}");
    assert_eq!(again["outside"][0]["method"], "sms");
    assert_eq!(again["outside"][0]["remembered"], true);
    assert_eq!(
        again["outside"][0]["address"], address,
        "the same person, found by address"
    );
    let follow_up_link = link_for(&sink, email, 2, &["Follow-up"], &[&link]).await;

    // Removed from the thread: the session ends and the link stops working.
    let (st, _) = call(
        &s,
        &h.im_doctor,
        reqwest::Method::DELETE,
        &format!("/api/v1/threads/{thread}/participants/{address}"),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = page(&c, &s, "/outside").await;
    assert_eq!(st, 401);
    let (st, _) = page(&s.browser(), &s, path).await;
    assert_eq!(st, 404);

    // Added again, with the remembered method and number: a new link opens with a new code.
    let (st, added) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/threads/{thread}/participants"),
        json!({"outside": {"email": email}, "confirm": ["first_outside_address"]}),
    )
    .await;
    assert_eq!(st, 200, "{added}");
    assert_eq!(added["outside"]["address"], address);
    assert_eq!(added["outside"]["method"], "sms");
    let again_link = link_for(
        &sink,
        email,
        3,
        &["Lambert", "Discharge"],
        &[&link, &follow_up_link],
    )
    .await;
    let (c3, _, csrf3) = open(&s, &again_link).await;
    let (st, html, _) = form(&c3, &s, "/outside/code", &[("_csrf", &csrf3)]).await;
    assert_eq!(st, 200, "{html}");
    let code = sms_code(&s, phone, 2).await;
    let (st, _) = verify(&c3, &s, &csrf3, &code).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert!(page(&c3, &s, "/outside")
        .await
        .1
        .contains("Discharge summary"));
    // The same new address twice (in other case) is one recipient.
    let (st, twice) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        json!({"subject": "Twice", "body": "Hello.", "confirm": ["first_outside_address"],
               "outside": [{"email": "new.gp@example.org", "verify": "access_code"},
                           {"email": "New.GP@example.org", "verify": "access_code"}]}),
    )
    .await;
    assert_eq!(st, 201, "{twice}");
    assert_eq!(twice["outside"].as_array().unwrap().len(), 1, "{twice}");
}

async fn access_codes_lock_after_five_wrong_tries_and_a_session_opens_one_thread(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = server(b, &sink).await;
    let h = hospital(&s).await;
    let email = "lab@synlab-example.be";
    let start = |subject: &'static str, with_file: Option<String>| {
        let s = &s;
        let h = &h;
        async move {
            let mut body = json!({"subject": subject, "outside": [{"email": email, "verify": "access_code"}],
                "body": "Results attached.", "confirm": ["first_outside_address"],
                "legal_basis": "patient_consent"});
            if let Some(f) = with_file {
                body["attachments"] = json!([f]);
            }
            let (st, sent) = post(s, &h.im_doctor, "/api/v1/threads", body).await;
            assert_eq!(st, 201, "{sent}");
            sent
        }
    };
    let att = crate::messaging::upload(&s, &h.im_doctor, "results.pdf", vec![7u8; 5000]).await;
    let first = start("Batch 1", Some(att["id"].as_str().unwrap().to_owned())).await;
    let code = first["outside"][0]["access_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 19, "an 80-bit code in four groups: {code}");
    let link = link_for(&sink, email, 1, &["Batch", "Results", &code], &[]).await;
    let (c, html, csrf) = open(&s, &link).await;
    assert!(html.contains("data-method=\"access_code\""));
    assert!(
        !html.contains("send-code"),
        "no code is sent for an access code"
    );
    for left in (1..5).rev() {
        let (_, html) = verify(&c, &s, &csrf, "AAAA-BBBB-CCCC-DDDD").await;
        let expected = if left == 1 {
            "1 try left".to_owned()
        } else {
            format!("{left} tries left")
        };
        assert!(html.contains(&expected), "{expected}: {html}");
    }
    let (_, html) = verify(&c, &s, &csrf, "AAAA-BBBB-CCCC-DDDD").await;
    assert!(html.contains("locked"), "{html}");
    // Locked: even the right code no longer opens it.
    let (st, html) = verify(&c, &s, &csrf, &code).await;
    assert_eq!(st, 200);
    assert!(html.contains("locked"), "{html}");
    assert_eq!(page(&c, &s, "/outside").await.0, 200);
    let (st, _) = page(
        &c,
        &s,
        &format!("/outside/attachments/{}", att["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        st, 303,
        "a locked, unverified session reads nothing (sent back to verify)"
    );

    // Removed and added again, they get a new link and code, and the lock is lifted.
    let first_thread = first["thread_id"].as_str().unwrap().to_owned();
    let first_address = first["outside"][0]["address"].as_str().unwrap().to_owned();
    let (st, _) = call(
        &s,
        &h.im_doctor,
        reqwest::Method::DELETE,
        &format!("/api/v1/threads/{first_thread}/participants/{first_address}"),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, added) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/threads/{first_thread}/participants"),
        json!({"outside": {"email": email, "verify": "access_code"}}),
    )
    .await;
    assert_eq!(st, 200, "{added}");
    let new_code = added["outside"]["access_code"].as_str().unwrap().to_owned();
    assert_ne!(new_code, code);
    let relink = link_for(&sink, email, 2, &["Batch"], &[&link]).await;
    let (c1, _, csrf1) = open(&s, &relink).await;
    let (st, _) = verify(&c1, &s, &csrf1, &new_code).await;
    assert_eq!(st, StatusCode::SEE_OTHER, "unlocked by adding them again");
    // The old link and code no longer open anything.
    assert_eq!(page(&s.browser(), &s, path_of(&link)).await.0, 404);

    // A second thread to the same address: its own link and code; typed in lower case with
    // spaces, it opens that thread and no other.
    let second = start("Batch 2", None).await;
    assert_eq!(
        second["outside"][0]["remembered"], false,
        "a method is remembered only once it worked"
    );
    let code2 = second["outside"][0]["access_code"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('-', " ");
    let link2 = link_for(&sink, email, 3, &["Batch"], &[&link, &relink]).await;
    let (c2, _, csrf2) = open(&s, &link2).await;
    let (st, _) = verify(&c2, &s, &csrf2, &code2).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let html = page(&c2, &s, "/outside").await.1;
    assert!(
        html.contains("Batch 2") && !html.contains("Batch 1"),
        "{html}"
    );
    let (st, _) = page(
        &c2,
        &s,
        &format!("/outside/attachments/{}", att["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(st, 404, "the first thread's file is not this session's");
    // The sender sees the access-code verification in the audit, never the code.
    let events = events_about(
        &s,
        &format!("thread:{}", second["thread_id"].as_str().unwrap()),
    )
    .await;
    assert!(events.iter().any(|(_, a, o, d)| a == "outside.verified"
        && o == "success"
        && d["method"] == "access_code"));
    assert!(!format!("{events:?}").contains(&code2.to_uppercase().replace(' ', "-")));
}

/// Someone outside who is not connected when a later message arrives is told by the batched
/// notice: an e-mail saying nothing but that a message waits, with a fresh link; the older link
/// stops working. A sender who names no way to verify for an address never written to before
/// is refused plainly, and nothing is sent.
async fn a_later_message_is_told_by_a_fresh_link_and_a_new_address_needs_a_method(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = server(b, &sink).await;
    let h = hospital(&s).await;
    let email = "registrar@clinique-exemple.fr";
    let (st, first) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        json!({"subject": "Transfer of care", "outside": [{"email": email, "verify": "access_code"}],
            "body": "We expect her on Monday.", "confirm": ["first_outside_address"]}),
    )
    .await;
    assert_eq!(st, 201, "{first}");
    let code = first["outside"][0]["access_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let thread = first["thread_id"].as_str().unwrap().to_owned();
    let old = link_for(&sink, email, 1, &["Transfer", "Monday", &code], &[]).await;

    let (st, v) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/threads/{thread}/messages"),
        json!({"body": "Bring the discharge letter."}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        s.app().send_message_notices().await.unwrap(),
        0,
        "not before the delay"
    );
    s.clock.advance(sealroom_domain::Duration::minutes(6));
    assert_eq!(
        s.app().send_message_notices().await.unwrap(),
        1,
        "one mailbox waits: the outside recipient's"
    );
    let fresh = link_for(
        &sink,
        email,
        2,
        &["Transfer", "Monday", "discharge", &code],
        &[old.as_str()],
    )
    .await;
    assert_ne!(fresh, old);
    assert_eq!(
        page(&s.browser(), &s, path_of(&old)).await.0,
        404,
        "the older link stops working"
    );
    let (c, _, csrf) = open(&s, &fresh).await;
    let (st, _) = verify(&c, &s, &csrf, &code).await;
    assert_eq!(st, StatusCode::SEE_OTHER, "verified");
    let (st, html) = page(&c, &s, "/outside").await;
    assert_eq!(st, 200);
    assert!(html.contains("Bring the discharge letter."), "{html}");

    // A new address with no way to verify: refused, saying what to give, and nobody is written to.
    let mails_before = sink.decoded_messages().len();
    let (st, v) = post(
        &s,
        &h.im_doctor,
        "/api/v1/threads",
        json!({"subject": "Results", "outside": [{"email": "new.colleague@hopital-exemple.fr"}],
            "body": "See below.", "confirm": ["first_outside_address"]}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let said = v.to_string();
    assert!(
        said.contains("sms") && said.contains("access_code"),
        "{said}"
    );
    assert!(
        !said.contains("new.colleague@"),
        "the address is masked in the error: {said}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.decoded_messages().len(), mails_before);
}
