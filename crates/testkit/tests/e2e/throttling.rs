//! Throttling of failed sign-ins, driven by the manual clock.

use sealroom_domain::Duration;
use sealroom_testkit::{Backend, Options, TestServer};

use crate::journeys::*;

both_backends!(
    failed_sign_ins_slow_down_then_recover,
    lockout_after_fifty_failures_is_lifted_by_an_administrator
);

async fn failed_sign_ins_slow_down_then_recover(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    sign_out(&s, &admin).await;
    let c = s.browser();
    for _ in 0..6 {
        assert_eq!(
            password_step(&s, &c, &admin.email, "not the password at all")
                .await
                .status(),
            401
        );
    }
    // Six consecutive failures: the next attempt must wait 2 seconds, even with the right password.
    let r = password_step(&s, &c, &admin.email, &admin.password).await;
    assert_eq!(r.status(), 401, "throttled attempt was let through");
    let events = s.app().store().recent_audit(3).await.unwrap();
    assert_eq!(events[0].action, "sign_in.throttled");
    s.clock.advance(Duration::seconds(2));
    let r = password_step(&s, &c, &admin.email, &admin.password).await;
    assert_eq!(
        location(&r),
        "/signin/second-factor",
        "the right password works once the delay has passed"
    );
}

async fn lockout_after_fifty_failures_is_lifted_by_an_administrator(b: Backend) {
    // The attacker comes from elsewhere: the server believes X-Forwarded-For from loopback.
    let options = Options {
        env: vec![(
            "SEALROOM_PROXY__TRUSTED_ADDRESSES".into(),
            "[\"127.0.0.1\"]".into(),
        )],
    };
    let s = TestServer::start_with(b, options).await;
    let victim = enrolled_staff(&s, "vic@example.org", "clinician").await;
    sign_out(&s, &victim).await;
    sign_in(&s, &victim).await; // the victim's own address becomes known
    sign_out(&s, &victim).await;
    let attacker = s.browser();
    let attack = |n: usize| {
        let (s, attacker, email) = (&s, &attacker, victim.email.clone());
        async move {
            for _ in 0..n {
                s.clock.advance(Duration::minutes(16)); // always past the longest delay
                let r = attacker
                    .post(s.url("/signin"))
                    .header("x-forwarded-for", "203.0.113.66")
                    .form(&[("email", email.as_str()), ("password", "guess guess guess")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 401);
            }
        }
    };
    attack(20).await;
    // Twenty failures put the account-wide counter at a 15-minute delay, yet the real person,
    // from an address they signed in from before, is not kept out.
    let r = password_step(&s, &victim.client, &victim.email, &victim.password).await;
    assert_eq!(
        location(&r),
        "/signin/second-factor",
        "the attacker locked the real user out"
    );
    let r = attacker
        .post(s.url("/signin"))
        .header("x-forwarded-for", "203.0.113.66")
        .form(&[
            ("email", victim.email.as_str()),
            ("password", victim.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the attacker's address is still throttled even with the right password"
    );
    attack(50).await;
    let user = s
        .app()
        .store()
        .user_by_email(&victim.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        user.password_locked, 1,
        "50 consecutive failures lock password sign-in"
    );
    assert_eq!(
        password_step(&s, &victim.client, &victim.email, &victim.password)
            .await
            .status(),
        401,
        "locked"
    );
    s.app()
        .unlock_account(&operator(), &victim.email)
        .await
        .unwrap();
    let r = password_step(&s, &victim.client, &victim.email, &victim.password).await;
    assert_eq!(location(&r), "/signin/second-factor");
    let events = s.app().store().recent_audit(500).await.unwrap();
    assert!(events.iter().any(|e| e.action == "account.locked"));
    assert!(events.iter().any(|e| e.action == "account.unlocked"));
    assert!(
        events.iter().any(|e| e.client_address == "203.0.113.66"),
        "audit records the client behind the proxy"
    );
}
