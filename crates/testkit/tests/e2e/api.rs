//! The JSON API: bearer tokens, scopes, deny by default on every documented endpoint, bad input.

use reqwest::StatusCode;
use sealroom_app::tokens::TokenOwner;
use sealroom_testkit::{csrf_of, Backend, TestServer};
use serde_json::{json, Value};

use crate::journeys::*;

both_backends!(
    every_documented_endpoint_refuses_anonymous_callers,
    tokens_are_scoped_audited_and_revocable,
    browser_sessions_need_the_csrf_header,
    bad_json_is_explained_and_oversized_bodies_refused,
);

async fn token(s: &TestServer, owner: TokenOwner<'_>, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    s.app()
        .create_api_token(&operator(), owner, "test", &scopes, 30)
        .await
        .unwrap()
        .secret
}

async fn every_documented_endpoint_refuses_anonymous_callers(b: Backend) {
    let s = TestServer::start(b).await;
    let doc: Value = s
        .client
        .get(s.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 7, "{paths:?}");
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "0123456789abcdef0123456789abcdef")
            .replace("{version}", "1")
            .replace("{assignment_id}", "0123456789abcdef0123456789abcdef");
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s
                .client
                .request(m.clone(), s.url(&concrete))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{m} {path} without credentials"
            );
            let r = s
                .client
                .request(m.clone(), s.url(&concrete))
                .bearer_auth("srk_forged")
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{m} {path} with a forged token"
            );
            checked += 1;
        }
    }
    assert!(checked >= 9);
}

async fn tokens_are_scoped_audited_and_revocable(b: Backend) {
    let s = TestServer::start(b).await;
    let _admin = set_up_admin(&s).await;
    let reader = token(&s, TokenOwner::Service { name: "hr-sync" }, &["users:read"]).await;
    let r = s
        .client
        .get(s.url("/api/v1/users"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let users: Value = r.json().await.unwrap();
    assert_eq!(users[0]["email"], "ada@example.org");
    assert!(users[0].get("password_hash").is_none());
    // Scope users:read does not allow writing.
    let r = s
        .client
        .post(s.url("/api/v1/users"))
        .bearer_auth(&reader)
        .json(&json!({"email": "x@example.org", "display_name": "X", "role": "nurse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let writer = token(
        &s,
        TokenOwner::Service { name: "hr-sync" },
        &["users:write"],
    )
    .await;
    let r = s
        .client
        .post(s.url("/api/v1/users"))
        .bearer_auth(&writer)
        .json(&json!({"email": "x@example.org", "display_name": "X", "role": "nurse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert!(created["enrolment_link"]
        .as_str()
        .unwrap()
        .contains("/enrol/accept?token="));
    // Services never create administrators.
    let r = s
        .client
        .post(s.url("/api/v1/users"))
        .bearer_auth(&writer)
        .json(
            &json!({"email": "boss@example.org", "display_name": "Boss", "role": "administrator"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A clinician's own token cannot list users, whatever its scopes.
    let _cleo = enrolled_staff(&s, "cleo@example.org", "clinician").await;
    let cleo_token = token(
        &s,
        TokenOwner::User {
            email: "cleo@example.org",
        },
        &["users:read", "me:read"],
    )
    .await;
    assert_eq!(
        s.client
            .get(s.url("/api/v1/users"))
            .bearer_auth(&cleo_token)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let me: Value = s
        .client
        .get(s.url("/api/v1/me"))
        .bearer_auth(&cleo_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "cleo@example.org");
    // Every use is audited, with the route and never the token.
    let events = s.app().store().recent_audit(50).await.unwrap();
    let uses: Vec<_> = events
        .iter()
        .filter(|e| e.action == "api_token.used")
        .collect();
    assert!(uses.len() >= 5, "{}", uses.len());
    assert!(events
        .iter()
        .all(|e| !e.details.contains(&reader) && !e.details.contains("srk_")));
    // Revoked tokens stop working at once.
    let tokens = s.app().list_api_tokens(&operator()).await.unwrap();
    let id = &tokens
        .iter()
        .find(|t| t.scopes == vec!["users:read".to_string()])
        .unwrap()
        .id;
    s.app().revoke_api_token(&operator(), id).await.unwrap();
    assert_eq!(
        s.client
            .get(s.url("/api/v1/users"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Expired tokens too.
    s.clock.advance(sealroom_domain::Duration::hours(24 * 31));
    assert_eq!(
        s.client
            .get(s.url("/api/v1/me"))
            .bearer_auth(&cleo_token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

async fn browser_sessions_need_the_csrf_header(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    let body = json!({"email": "x@example.org", "display_name": "X", "role": "nurse"});
    let r = admin
        .client
        .post(s.url("/api/v1/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert!(err["message"].as_str().unwrap().contains("X-CSRF-Token"));
    let (_, page) = get_page(&admin.client, &s, "/me/security").await;
    let r = admin
        .client
        .post(s.url("/api/v1/users"))
        .header("x-csrf-token", csrf_of(&page))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A page form without its CSRF field is refused too.
    let r = post_form(
        &admin.client,
        &s,
        "/me/sessions/end-others",
        &[("_csrf", "wrong")],
    )
    .await;
    assert_eq!(r.status(), 400);
    // And a cross-site request is refused before anything runs.
    let r = admin
        .client
        .post(s.url("/me/sessions/end-others"))
        .header("origin", "https://evil.example")
        .form(&[("_csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn bad_json_is_explained_and_oversized_bodies_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let writer = token(&s, TokenOwner::Service { name: "hr" }, &["users:write"]).await;
    let post = |body: String| {
        s.client
            .post(s.url("/api/v1/users"))
            .bearer_auth(&writer)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = post("{\"email\": ".into()).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_json");
    let r = post(json!({"email": "a@example.org", "display_name": "A"}).to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(e["message"].as_str().unwrap().contains("role"), "{e}");
    let r =
        post(json!({"email": "not-an-email", "display_name": "A", "role": "nurse"}).to_string())
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(e["message"].as_str().unwrap().contains("e-mail"), "{e}");
    let r =
        post(json!({"email": "a@example.org", "display_name": "A", "role": "king"}).to_string())
            .await
            .unwrap();
    assert!(r.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("unknown role"));
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(100 * 1024));
    assert_eq!(post(huge).await.unwrap().status(), 413);
    let big_form = "x".repeat(100 * 1024);
    let r = s
        .client
        .post(s.url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big_form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Nothing was created by any of it.
    assert_eq!(s.app().store().count_users().await.unwrap(), 0);
}
