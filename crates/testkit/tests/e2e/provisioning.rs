//! HR lifecycle over SCIM 2.0 (issue 3): a joiner gets an account, an assignment and an
//! enrolment link by e-mail (through a real SMTP server); a mover's old assignment ends and
//! the new one waits; a leaver loses every session, assignment and grant within a second;
//! groups named "<department> / <role>" assign their members; bad requests get SCIM errors.

use std::time::Instant;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sealroom_app::tokens::TokenOwner;
use sealroom_testkit::{attr_after, Backend, Options, SmtpSink, TestServer};
use serde_json::{json, Value};

use crate::access::{department, get, person, post, Person};
use crate::journeys::{enrol_with_totp, get_page, location, operator, post_form, STAFF_PASSWORD};

both_backends!(
    scim_follows_joiners_movers_and_leavers,
    scim_groups_assign_their_members,
    scim_refuses_bad_requests_with_scim_errors,
);

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SCIM_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn hr_token(s: &TestServer, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    s.app()
        .create_api_token(
            &operator(),
            TokenOwner::Service { name: "hr" },
            "hr",
            &scopes,
            30,
        )
        .await
        .unwrap()
        .secret
}

async fn scim(
    s: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut r = s
        .client
        .request(method, s.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    if let Some(tag) = if_match {
        r = r.header("if-match", tag);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn patch_op(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// An API token for a provisioned person (acting as themselves).
async fn staff_token(s: &TestServer, user_id: &str) -> Person {
    let email = s
        .app()
        .store()
        .user_by_id(user_id)
        .await
        .unwrap()
        .unwrap()
        .email;
    let token = s
        .app()
        .create_api_token(
            &operator(),
            TokenOwner::User { email: &email },
            "t",
            &["organization:write".to_owned()],
            1,
        )
        .await
        .unwrap()
        .secret;
    Person {
        id: user_id.to_owned(),
        token,
    }
}

async fn assignments(s: &TestServer, admin: &Person, user: &str) -> Vec<Value> {
    let (st, a) = get(s, admin, &format!("/api/v1/users/{user}/assignments")).await;
    assert_eq!(st, 200, "{a}");
    a.as_array().unwrap().clone()
}

async fn scim_follows_joiners_movers_and_leavers(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![("SEALROOM_MAIL__SMTP_URL".into(), sink.url())],
        },
    )
    .await;
    let admin = person(&s, "admin@example.org", "administrator").await;
    let cardiology = department(&s, &admin, "Cardiology", "care").await;
    let internal = department(&s, &admin, "Internal medicine", "care").await;
    let hr = hr_token(&s, &["scim"]).await;

    // Joiner.
    let (st, headers, ana) = scim(
        &s,
        &hr,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "ana.pop", "externalId": "hr-7001",
            "name": {"givenName": "Ana", "familyName": "Pop"},
            "emails": [{"value": "ana.pop@hospital.example", "type": "work", "primary": true}],
            "roles": [{"value": "clinician", "primary": true}],
            ENTERPRISE: {"department": "cardiology", "employeeNumber": "7001"}
        })),
        None,
    )
    .await;
    assert_eq!(st, 201, "{ana}");
    assert_eq!(headers["content-type"], "application/scim+json");
    let id = ana["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"].to_str().unwrap(),
        ana["meta"]["location"].as_str().unwrap()
    );
    assert!(ana["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        ana["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(ana[ENTERPRISE]["employeeNumber"], "7001");
    let a = assignments(&s, &admin, &id).await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (
            a[0]["department_id"].as_str(),
            a[0]["role"].as_str(),
            &a[0]["in_force"]
        ),
        (Some(cardiology.as_str()), Some("clinician"), &json!(true))
    );

    // The enrolment link goes to the person by e-mail (never to the HR system), and works.
    let mail = sink
        .wait_for(|m| m.contains("To: ana.pop@hospital.example"))
        .await;
    assert!(
        mail.contains("Subject: Saint Example Hospital: set up your Sealroom account"),
        "{mail}"
    );
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/enrol/accept?token="))
        .unwrap_or_else(|| panic!("no link in {mail}"))
        .to_owned();
    let token_part = link.split("token=").nth(1).unwrap();
    assert!(
        !ana.to_string().contains(token_part),
        "the HR system never sees the link"
    );
    let client = s.browser();
    let (status, page) = get_page(&client, &s, link.trim_start_matches(&s.base)).await;
    assert_eq!(status, 200, "{page}");
    let token = attr_after(&page, "name=\"token\"", "value").unwrap();
    let r = post_form(&client, &s, "/enrol/accept", &[("token", &token)]).await;
    assert_eq!(location(&r), "/enrol");
    let staff = enrol_with_totp(&s, client, "ana.pop@hospital.example", STAFF_PASSWORD).await;
    let (status, _) = get_page(&staff.client, &s, "/me/security").await;
    assert_eq!(status, 200, "Ana is signed in");

    // Filters find her; the enterprise number too.
    for filter in [
        r#"userName eq "ANA.POP" and name.givenName pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7001""#,
        r#"emails[type eq "work" and value co "@hospital.example"]"#,
    ] {
        let (st, _, list) = scim(
            &s,
            &hr,
            Method::POST,
            "/Users/.search",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": filter, "attributes": ["userName"]
            })),
            None,
        )
        .await;
        assert_eq!(st, 200, "{list}");
        assert_eq!(list["totalResults"], 1, "{filter}: {list}");
        assert_eq!(
            list["Resources"][0],
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], "id": id, "userName": "ana.pop"})
        );
    }

    // Mover, with the manager HR names: with the current entity tag; a stale one is refused.
    let manager = person(&s, "maria.ionescu@hospital.example", "clinician").await;
    let tag = ana["meta"]["version"].as_str().unwrap().to_owned();
    let mover = patch_op(json!([
        {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Internal medicine"},
        {"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": {"value": manager.id}}
    ]));
    let (st, _, moved) = scim(
        &s,
        &hr,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(mover.clone()),
        Some(&tag),
    )
    .await;
    assert_eq!(st, 200, "{moved}");
    assert_eq!(moved[ENTERPRISE]["department"], "Internal medicine");
    assert_eq!(moved[ENTERPRISE]["manager"]["value"], manager.id.as_str());
    let (st, _, e) = scim(
        &s,
        &hr,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(mover),
        Some(&tag),
    )
    .await;
    assert_eq!(st, 412, "{e}");
    let a = assignments(&s, &admin, &id).await;
    let old = a
        .iter()
        .find(|x| x["department_id"] == cardiology.as_str())
        .unwrap();
    let new = a
        .iter()
        .find(|x| x["department_id"] == internal.as_str())
        .unwrap();
    assert_eq!(
        (&old["in_force"], &new["in_force"], &new["confirmed"]),
        (&json!(false), &json!(false), &json!(false)),
        "the old assignment ended, the new one waits for the manager: {a:?}"
    );
    let mail = sink
        .wait_for(|m| m.contains("To: maria.ionescu@hospital.example"))
        .await;
    assert!(
        mail.contains("waits for your confirmation") && mail.contains("Ana Pop"),
        "{mail}"
    );
    let pending = new["id"].as_str().unwrap();
    let (st, _) = post(
        &s,
        &staff_token(&s, &id).await,
        &format!("/api/v1/assignments/{pending}/confirmation"),
        json!({}),
    )
    .await;
    assert_eq!(st, 403, "nobody confirms their own move");
    let (st, confirmed) = post(
        &s,
        &manager,
        &format!("/api/v1/assignments/{pending}/confirmation"),
        json!({}),
    )
    .await;
    assert_eq!(
        (st, &confirmed["in_force"]),
        (StatusCode::OK, &json!(true)),
        "the named manager confirms: {confirmed}"
    );

    // Leaver: every session, assignment and token of the person ends within a second.
    let started = Instant::now();
    let (st, _, left) = scim(
        &s,
        &hr,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch_op(
            json!([{"op": "Replace", "value": {"active": false}}]),
        )),
        None,
    )
    .await;
    assert_eq!(st, 200, "{left}");
    assert_eq!(left["active"], false);
    let r = staff
        .client
        .get(s.url("/me/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the leaver's browser session has ended");
    assert!(assignments(&s, &admin, &id)
        .await
        .iter()
        .all(|x| x["in_force"] == false));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let events = s.app().store().recent_audit(100).await.unwrap();
    let off = events
        .iter()
        .find(|e| e.action == "staff.offboarded")
        .unwrap();
    let d: Value = serde_json::from_str(&off.details).unwrap();
    assert_eq!(d["sessions_ended"], 1, "{d}");
    assert_eq!(off.actor, "service:hr");
    assert!(events.iter().any(|e| e.action == "scim.user.created"));
    assert!(events
        .iter()
        .any(|e| e.action == "scim.user.updated" && e.details.contains("active")));

    // DELETE: gone from SCIM, the disabled account stays for the audit trail.
    let (st, _, _) = scim(&s, &hr, Method::DELETE, &format!("/Users/{id}"), None, None).await;
    assert_eq!(st, 204);
    let (st, _, e) = scim(&s, &hr, Method::GET, &format!("/Users/{id}"), None, None).await;
    assert_eq!(
        (st, &e["schemas"][0], &e["status"]),
        (StatusCode::NOT_FOUND, &json!(SCIM_ERROR), &json!("404"))
    );
    let user = s.app().store().user_by_id(&id).await.unwrap().unwrap();
    assert_eq!(user.status, "disabled");
}

async fn scim_groups_assign_their_members(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = person(&s, "admin@example.org", "administrator").await;
    let cardiology = department(&s, &admin, "Cardiology", "care").await;
    let hr = hr_token(&s, &["scim"]).await;
    let (st, _, bob) = scim(
        &s,
        &hr,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob",
            "emails": [{"value": "bob@hospital.example"}],
            "roles": [{"value": "administrator"}]
        })),
        None,
    )
    .await;
    assert_eq!(st, 201, "{bob}");
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let account = s.app().store().user_by_id(&bob_id).await.unwrap().unwrap();
    assert_eq!(
        account.role, "nurse",
        "provisioning never makes administrators"
    );
    assert!(assignments(&s, &admin, &bob_id).await.is_empty());

    let (st, _, g) = scim(
        &s,
        &hr,
        Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Cardiology / nurse", "members": [{"value": bob_id, "type": "User"}]
        })),
        None,
    )
    .await;
    assert_eq!(st, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let a = assignments(&s, &admin, &bob_id).await;
    assert_eq!(
        (
            a.len(),
            a[0]["department_id"].as_str(),
            a[0]["role"].as_str(),
            &a[0]["in_force"]
        ),
        (1, Some(cardiology.as_str()), Some("nurse"), &json!(true))
    );
    let (_, _, u) = scim(
        &s,
        &hr,
        Method::GET,
        &format!("/Users/{bob_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(u["groups"][0]["value"], gid.as_str());
    assert_eq!(u["groups"][0]["display"], "Cardiology / nurse");

    // Leaving the group ends the assignment (Microsoft Entra ID's way of removing members).
    let (st, _, g) = scim(
        &s,
        &hr,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(patch_op(
            json!([{"op": "Remove", "path": "members", "value": [{"value": bob_id}]}]),
        )),
        None,
    )
    .await;
    assert_eq!(st, 200, "{g}");
    assert!(g.get("members").is_none(), "{g}");
    assert!(assignments(&s, &admin, &bob_id)
        .await
        .iter()
        .all(|x| x["in_force"] == false));

    // A group that names no department and role grants nothing.
    let (st, _, _) = scim(
        &s,
        &hr,
        Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Friday football", "members": [{"value": bob_id}]
        })),
        None,
    )
    .await;
    assert_eq!(st, 201);
    assert!(assignments(&s, &admin, &bob_id)
        .await
        .iter()
        .all(|x| x["in_force"] == false));
    let (_, _, list) = scim(
        &s,
        &hr,
        Method::GET,
        "/Groups?filter=displayName%20sw%20%22friday%22&excludedAttributes=members",
        None,
        None,
    )
    .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert!(list["Resources"][0].get("members").is_none());
}

/// A request and the error it must get: method, path, body, token, status, scimType, and a
/// word the detail must contain.
type Case<'a> = (
    Method,
    &'a str,
    Option<Value>,
    &'a str,
    u16,
    Option<&'a str>,
    &'a str,
);

async fn scim_refuses_bad_requests_with_scim_errors(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = person(&s, "admin@example.org", "administrator").await;
    let hr = hr_token(&s, &["scim"]).await;
    let reader = hr_token(&s, &["users:read"]).await;
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "carla"});
    let (st, _, _) = scim(&s, &hr, Method::POST, "/Users", Some(user.clone()), None).await;
    assert_eq!(st, 201);

    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/Users",
            Some(user.clone()),
            &hr,
            409,
            Some("uniqueness"),
            "taken",
        ),
        (
            Method::POST,
            "/Users",
            Some(json!({"schemas": [], "displayName": "no name"})),
            &hr,
            400,
            Some("invalidValue"),
            "userName",
        ),
        (
            Method::POST,
            "/Users",
            Some(json!({"userName": "d", "password": "Secret-1234"})),
            &hr,
            400,
            Some("invalidValue"),
            "password",
        ),
        (
            Method::POST,
            "/Users",
            Some(json!({"userName": "d", "active": "maybe"})),
            &hr,
            400,
            Some("invalidValue"),
            "active",
        ),
        (
            Method::GET,
            "/Users?filter=userName%20eq",
            None,
            &hr,
            400,
            Some("invalidFilter"),
            "value",
        ),
        (
            Method::GET,
            "/Users?count=ten",
            None,
            &hr,
            400,
            Some("invalidValue"),
            "count",
        ),
        (
            Method::GET,
            "/Users/nosuch",
            None,
            &hr,
            404,
            None,
            "no such",
        ),
        (
            Method::PATCH,
            "/Users/nosuch",
            Some(patch_op(json!([{"op": "remove", "path": "title"}]))),
            &hr,
            404,
            None,
            "no such",
        ),
        (
            Method::GET,
            "/Users",
            None,
            "not-a-token",
            401,
            None,
            "bearer",
        ),
        (
            Method::GET,
            "/Users",
            None,
            &reader,
            403,
            None,
            "scim scope",
        ),
        (
            Method::GET,
            "/ServiceProviderConfig",
            None,
            &reader,
            403,
            None,
            "scim scope",
        ),
        (
            Method::DELETE,
            "/Schemas",
            None,
            &hr,
            405,
            None,
            "not allowed",
        ),
        (
            Method::GET,
            "/Nothing/here",
            None,
            &hr,
            404,
            None,
            "no SCIM endpoint",
        ),
    ];
    for (method, path, body, token, status, scim_type, says) in cases {
        let (st, headers, e) = scim(&s, token, method.clone(), path, body, None).await;
        assert_eq!(st.as_u16(), status, "{method} {path}: {e}");
        assert_eq!(e["schemas"], json!([SCIM_ERROR]), "{method} {path}: {e}");
        assert_eq!(e["status"], status.to_string());
        assert_eq!(e["scimType"].as_str(), scim_type, "{method} {path}: {e}");
        assert!(
            e["detail"].as_str().unwrap().contains(says),
            "{method} {path}: {e}"
        );
        assert_eq!(headers["content-type"], "application/scim+json");
    }
    // Malformed JSON, and a PATCH that would touch what is read-only.
    let r = s
        .client
        .post(s.url("/scim/v2/Users"))
        .bearer_auth(&hr)
        .header("content-type", "application/scim+json")
        .body("{\"userName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["scimType"], "invalidSyntax");
    let (_, _, list) = scim(
        &s,
        &hr,
        Method::GET,
        "/Users?filter=userName%20eq%20%22carla%22",
        None,
        None,
    )
    .await;
    let carla = list["Resources"][0]["id"].as_str().unwrap().to_owned();
    let (st, _, e) = scim(
        &s,
        &hr,
        Method::PATCH,
        &format!("/Users/{carla}"),
        Some(patch_op(
            json!([{"op": "add", "path": "groups", "value": [{"value": "x"}]}]),
        )),
        None,
    )
    .await;
    assert_eq!(
        (st.as_u16(), e["scimType"].as_str()),
        (400, Some("mutability")),
        "{e}"
    );
    let (st, _, _) = scim(
        &s,
        &hr,
        Method::GET,
        "/Users?filter=userName%20eq%20%22carla%22",
        None,
        None,
    )
    .await;
    assert_eq!(st, 200);
    // Paging is 1-based and bounded.
    let (_, _, page) = scim(
        &s,
        &hr,
        Method::GET,
        "/Users?startIndex=2&count=5",
        None,
        None,
    )
    .await;
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["startIndex"].as_u64(),
            page["itemsPerPage"].as_u64()
        ),
        (Some(1), Some(2), Some(0)),
        "{page}"
    );
    let _ = admin;
}
