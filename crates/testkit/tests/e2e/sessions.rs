//! Session limits, step-up, one-session-per-account and ending sessions, driven by the manual
//! clock (no sleeps).

use sealroom_domain::Duration;
use sealroom_testkit::{csrf_of, Backend, Options, TestServer};

use crate::journeys::*;

both_backends!(
    idle_limit_ends_a_quiet_session,
    absolute_limit_ends_a_busy_session,
    step_up_guards_sensitive_actions_for_five_minutes,
    one_session_per_account_ends_the_older_session_which_says_why,
    people_end_their_own_sessions_and_administrators_anyones,
    cookie_is_host_prefixed_strict_and_rotated_at_sign_in,
);

async fn idle_limit_ends_a_quiet_session(b: Backend) {
    let s = TestServer::start(b).await;
    let staff = set_up_admin(&s).await;
    s.clock.advance(Duration::minutes(14));
    let (status, _) = get_page(&staff.client, &s, "/me/security").await;
    assert_eq!(status, 200, "14 minutes idle is within the limit");
    s.clock.advance(Duration::minutes(15));
    let r = staff
        .client
        .get(s.url("/me/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/signin?ended=1");
    let (_, page) = get_page(&staff.client, &s, "/signin").await;
    assert!(
        page.contains("it was inactive for too long"),
        "the person is told why"
    );
    let events = s.app().store().recent_audit(5).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "session.expired" && e.outcome == "idle"));
}

async fn absolute_limit_ends_a_busy_session(b: Backend) {
    let s = TestServer::start(b).await;
    let staff = enrolled_staff(&s, "nina@example.org", "nurse").await;
    // Active every 10 minutes for 12 hours: the idle limit never triggers, the absolute one does.
    let mut ended_after = None;
    for i in 1..=80 {
        s.clock.advance(Duration::minutes(10));
        let r = staff
            .client
            .get(s.url("/me/security"))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            ended_after = Some(i * 10);
            break;
        }
    }
    let minutes = ended_after.expect("session never ended");
    assert!(
        (715..=725).contains(&minutes),
        "ended after {minutes} minutes, expected 12 hours"
    );
    let (_, page) = get_page(&staff.client, &s, "/signin").await;
    assert!(page.contains("it reached its maximum length"));
}

async fn step_up_guards_sensitive_actions_for_five_minutes(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    // Just enrolled: the sign-in counts as a step-up for five minutes.
    s.clock.advance(Duration::minutes(6));
    let (_, page) = get_page(&admin.client, &s, "/admin/users").await;
    let csrf = csrf_of(&page);
    let create_admin = [
        ("_csrf", csrf.as_str()),
        ("email", "second@example.org"),
        ("display_name", "Second Admin"),
        ("role", "administrator"),
    ];
    let r = post_form(&admin.client, &s, "/admin/users", &create_admin).await;
    assert!(
        location(&r).starts_with("/me/step-up?return_to=%2Fadmin%2Fusers"),
        "{}",
        location(&r)
    );
    // A clinician needs no step-up.
    let r = post_form(
        &admin.client,
        &s,
        "/admin/users",
        &[
            ("_csrf", &csrf),
            ("email", "cleo@example.org"),
            ("display_name", "Cleo"),
            ("role", "clinician"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"enrolment-link\""));
    // Step up with password + code; the session gets a new token.
    let r = post_form(
        &admin.client,
        &s,
        "/me/step-up",
        &[
            ("_csrf", &csrf),
            ("return_to", "/admin/users"),
            ("password", &admin.password),
            ("code", &admin.totp.code_at(s.now())),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/users");
    assert!(
        r.headers().get("set-cookie").is_some(),
        "step-up rotates the session token"
    );
    // The CSRF token rotated with the session: the old one is refused, the new one works.
    let r = post_form(&admin.client, &s, "/admin/users", &create_admin).await;
    assert_eq!(
        r.status(),
        400,
        "a CSRF token from before the step-up still works"
    );
    let (_, page) = get_page(&admin.client, &s, "/admin/users").await;
    let csrf = csrf_of(&page);
    let create_admin = [
        ("_csrf", csrf.as_str()),
        ("email", "second@example.org"),
        ("display_name", "Second Admin"),
        ("role", "administrator"),
    ];
    let r = post_form(&admin.client, &s, "/admin/users", &create_admin).await;
    assert_eq!(r.status(), 200, "administrator created after step-up");
    // Five minutes later the step-up has lapsed.
    s.clock.advance(Duration::minutes(5));
    let r = post_form(
        &admin.client,
        &s,
        "/admin/users",
        &[
            ("_csrf", &csrf),
            ("email", "third@example.org"),
            ("display_name", "Third"),
            ("role", "administrator"),
        ],
    )
    .await;
    assert!(location(&r).starts_with("/me/step-up"));
    // Changing a role is guarded too.
    let cleo = s
        .app()
        .store()
        .user_by_email("cleo@example.org")
        .await
        .unwrap()
        .unwrap();
    let r = post_form(
        &admin.client,
        &s,
        &format!("/admin/users/{}/role", cleo.id),
        &[("_csrf", &csrf), ("role", "administrator")],
    )
    .await;
    assert!(
        location(&r).starts_with("/me/step-up"),
        "role changed without step-up"
    );
    let still = s
        .app()
        .store()
        .user_by_email("cleo@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.role, "clinician");
    // Removing a factor is guarded too.
    let r = post_form(&admin.client, &s, "/me/totp/remove", &[("_csrf", &csrf)]).await;
    assert!(location(&r).starts_with("/me/step-up"));
}

async fn one_session_per_account_ends_the_older_session_which_says_why(b: Backend) {
    let options = Options {
        env: vec![(
            "SEALROOM_SESSIONS__ONE_SESSION_PER_ACCOUNT".into(),
            "true".into(),
        )],
    };
    let s = TestServer::start_with(b, options).await;
    let first = set_up_admin(&s).await;
    let second_device = Staff {
        client: s.browser(),
        email: first.email.clone(),
        password: first.password.clone(),
        totp: sealroom_crypto::totp::TotpSecret::from_bytes(first.totp.as_bytes().to_vec()),
        recovery_codes: vec![],
    };
    sign_in(&s, &second_device).await;
    let r = first
        .client
        .get(s.url("/me/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/signin?ended=1");
    let (_, page) = get_page(&first.client, &s, "/signin").await;
    assert!(page.contains("you signed in somewhere else"), "{page}");
    let (status, _) = get_page(&second_device.client, &s, "/me/security").await;
    assert_eq!(status, 200);
}

async fn people_end_their_own_sessions_and_administrators_anyones(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    let nurse = enrolled_staff(&s, "nora@example.org", "nurse").await;
    let nurse_laptop = Staff {
        client: s.browser(),
        email: nurse.email.clone(),
        password: nurse.password.clone(),
        totp: sealroom_crypto::totp::TotpSecret::from_bytes(nurse.totp.as_bytes().to_vec()),
        recovery_codes: vec![],
    };
    sign_in(&s, &nurse_laptop).await;
    let (_, page) = get_page(&nurse.client, &s, "/me/security").await;
    assert_eq!(
        page.matches("/end\"").count(),
        1,
        "one other session listed with an End button"
    );
    let r = post_form(
        &nurse.client,
        &s,
        "/me/sessions/end-others",
        &[("_csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(location(&r), "/me/security?ended=1");
    assert_eq!(
        nurse_laptop
            .client
            .get(s.url("/me/security"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    // The administrator ends all of the nurse's sessions.
    let nurse_id = s
        .app()
        .store()
        .user_by_email("nora@example.org")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (_, page) = get_page(&admin.client, &s, "/admin/users").await;
    let r = post_form(
        &admin.client,
        &s,
        &format!("/admin/users/{nurse_id}/sessions/end"),
        &[("_csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = nurse
        .client
        .get(s.url("/me/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/signin?ended=1");
    let (_, page) = get_page(&nurse.client, &s, "/signin").await;
    assert!(page.contains("an administrator ended it"));
}

async fn cookie_is_host_prefixed_strict_and_rotated_at_sign_in(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    sign_out(&s, &admin).await;
    let c = s.browser();
    let r = password_step(&s, &c, &admin.email, &admin.password).await;
    let first = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(first.starts_with("__Host-sealroom="), "{first}");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(first.contains(attr), "{first} lacks {attr}");
    }
    let (_, page) = get_page(&c, &s, "/signin/second-factor").await;
    let r = post_form(
        &c,
        &s,
        "/signin/second-factor",
        &[
            ("_csrf", &csrf_of(&page)),
            ("code", &admin.totp.code_at(s.now())),
        ],
    )
    .await;
    let second = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        first.split(';').next(),
        second.split(';').next(),
        "sign-in issues a new token"
    );
    // The pre-second-factor token is worthless now.
    let old_token = first
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-sealroom=");
    let stale = s
        .browser()
        .get(s.url("/me/security"))
        .header("cookie", format!("__Host-sealroom={old_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 303);
    let token = second
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-sealroom=");
    assert!(
        token.len() >= 43,
        "token carries at least 128 bits: {}",
        token.len()
    );
}
