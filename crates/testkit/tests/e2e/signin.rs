//! Set-up, enrolment and sign-in through the pages, over real TLS.

use sealroom_domain::Duration;
use sealroom_testkit::{attr_after, csrf_of, Backend, TestServer};

use crate::journeys::*;

both_backends!(
    first_administrator_sets_up_enrols_and_signs_in_again,
    setup_link_works_once,
    totp_code_is_never_accepted_twice,
    unknown_user_wrong_password_and_locked_get_the_same_answer,
    recovery_code_signs_in_once_and_prompts_for_a_new_factor,
    weak_passwords_are_refused_with_the_reason,
    nothing_is_reachable_before_enrolment_is_complete,
);

async fn first_administrator_sets_up_enrols_and_signs_in_again(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    let (status, page) = get_page(&admin.client, &s, "/me/security").await;
    assert_eq!(status, 200);
    assert!(page.contains("My security") && page.contains("An authenticator app is set up"));
    assert!(page.contains("10 unused recovery codes left"));
    sign_out(&s, &admin).await;
    let (status, _) = get_page(&admin.client, &s, "/me/security").await;
    assert_eq!(status, 303, "signed out sessions no longer open pages");
    sign_in(&s, &admin).await;
    let (status, page) = get_page(&admin.client, &s, "/admin/users").await;
    assert_eq!(status, 200);
    assert!(page.contains("ada@example.org"));
}

async fn setup_link_works_once(b: Backend) {
    let s = TestServer::start(b).await;
    let path = s.setup_link.trim_start_matches(&s.base).to_owned();
    let c = s.browser();
    let (_, page) = get_page(&c, &s, &path).await;
    let token = attr_after(&page, "name=\"token\"", "value").unwrap();
    let r = post_form(
        &c,
        &s,
        "/setup",
        &[
            ("token", &token),
            ("email", "ada@example.org"),
            ("display_name", "Ada"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let other = s.browser();
    let r = post_form(
        &other,
        &s,
        "/setup",
        &[
            ("token", &token),
            ("email", "eve@example.org"),
            ("display_name", "Eve"),
        ],
    )
    .await;
    assert_eq!(r.status(), 410, "a spent set-up link must not work again");
    let (status, _) = get_page(&other, &s, &path).await;
    assert_eq!(status, 410);
    // No new set-up link once an account exists.
    assert_eq!(s.app().issue_setup_link_if_empty().await.unwrap(), None);
}

async fn totp_code_is_never_accepted_twice(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    sign_out(&s, &admin).await;
    let code = admin.totp.code_at(s.now());
    for attempt in 0..2 {
        let r = password_step(&s, &admin.client, &admin.email, &admin.password).await;
        assert_eq!(location(&r), "/signin/second-factor");
        let (_, page) = get_page(&admin.client, &s, "/signin/second-factor").await;
        let r = post_form(
            &admin.client,
            &s,
            "/signin/second-factor",
            &[("_csrf", &csrf_of(&page)), ("code", &code)],
        )
        .await;
        if attempt == 0 {
            assert_eq!(location(&r), "/me/security");
            sign_out(&s, &admin).await;
        } else {
            assert_eq!(r.status(), 401, "the same code was accepted twice");
            assert!(r.text().await.unwrap().contains("role=\"alert\""));
        }
    }
}

async fn unknown_user_wrong_password_and_locked_get_the_same_answer(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    let locked = enrolled_staff(&s, "locked@example.org", "nurse").await;
    let u = s
        .app()
        .store()
        .user_by_email("locked@example.org")
        .await
        .unwrap()
        .unwrap();
    s.app()
        .store()
        .set_password_locked(&u.id, true, 0)
        .await
        .unwrap();
    let c = s.browser();
    let mut bodies = Vec::new();
    for (email, password) in [
        ("nobody@example.org", "whatever password 123"),
        (admin.email.as_str(), "wrong password entirely"),
        (locked.email.as_str(), locked.password.as_str()),
    ] {
        let r = password_step(&s, &c, email, password).await;
        assert_eq!(r.status(), 401, "{email}");
        let body = r.text().await.unwrap();
        let alert = sealroom_testkit::text_between(&body, "role=\"alert\">", "<").unwrap();
        bodies.push(alert);
    }
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "answers differ: {bodies:?}"
    );
    // Failures are audited without the typed secret.
    let events = s.app().store().recent_audit(20).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "sign_in.failed" && e.outcome == "locked"));
    assert!(events
        .iter()
        .all(|e| !e.details.contains("wrong password") && !e.subject.contains("nobody@")));
}

async fn recovery_code_signs_in_once_and_prompts_for_a_new_factor(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    sign_out(&s, &admin).await;
    let code = admin.recovery_codes[3].to_lowercase().replace('-', " ");
    for attempt in 0..2 {
        password_step(&s, &admin.client, &admin.email, &admin.password).await;
        let (_, page) = get_page(&admin.client, &s, "/signin/second-factor").await;
        let r = post_form(
            &admin.client,
            &s,
            "/signin/recovery-code",
            &[("_csrf", &csrf_of(&page)), ("recovery_code", &code)],
        )
        .await;
        if attempt == 0 {
            assert_eq!(location(&r), "/me/security?recovered=1");
            let (_, page) = get_page(&admin.client, &s, "/me/security?recovered=1").await;
            assert!(page.contains("Add a new passkey or authenticator app now"));
            assert!(page.contains("9 unused recovery codes left"));
            sign_out(&s, &admin).await;
        } else {
            assert_eq!(r.status(), 401, "a recovery code worked twice");
        }
    }
}

async fn weak_passwords_are_refused_with_the_reason(b: Backend) {
    let s = TestServer::start(b).await;
    let created = s
        .app()
        .create_user(&operator(), "bob@example.org", "Bob Builder", "nurse")
        .await
        .unwrap();
    let c = s.browser();
    let token = created.enrolment_link.split("token=").nth(1).unwrap();
    post_form(&c, &s, "/enrol/accept", &[("token", token)]).await;
    let (_, page) = get_page(&c, &s, "/enrol").await;
    let csrf = csrf_of(&page);
    for (pw, reason) in [
        ("short pw", "at least 12 characters"),
        ("password1234", "common or breached"),
        ("builder tulip garden 9", "must not contain your name"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
    ] {
        let r = post_form(
            &c,
            &s,
            "/enrol/password",
            &[("_csrf", &csrf), ("password", pw), ("password_confirm", pw)],
        )
        .await;
        assert_eq!(r.status(), 400, "{pw}");
        let body = r.text().await.unwrap();
        assert!(body.contains(reason), "{pw}: {body}");
        assert!(
            !body.contains(pw) || pw == "short pw",
            "the refused password is echoed back"
        );
    }
}

async fn nothing_is_reachable_before_enrolment_is_complete(b: Backend) {
    let s = TestServer::start(b).await;
    let created = s
        .app()
        .create_user(&operator(), "carl@example.org", "Carl", "clinician")
        .await
        .unwrap();
    let c = s.browser();
    let token = created.enrolment_link.split("token=").nth(1).unwrap();
    post_form(&c, &s, "/enrol/accept", &[("token", token)]).await;
    for path in ["/me/security", "/admin/users", "/enrol/recovery-codes"] {
        let r = c.get(s.url(path)).send().await.unwrap();
        assert_ne!(r.status(), 200, "{path} reachable during enrolment");
    }
    let r = c.get(s.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A password alone does not finish enrolment either.
    let (_, page) = get_page(&c, &s, "/enrol").await;
    let csrf = csrf_of(&page);
    post_form(
        &c,
        &s,
        "/enrol/password",
        &[
            ("_csrf", &csrf),
            ("password", STAFF_PASSWORD),
            ("password_confirm", STAFF_PASSWORD),
        ],
    )
    .await;
    let r = c.get(s.url("/enrol/recovery-codes")).send().await.unwrap();
    assert_eq!(
        r.status(),
        400,
        "enrolment finished without a second factor"
    );
    s.clock.advance(Duration::seconds(1));
}
