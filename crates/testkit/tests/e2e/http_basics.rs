//! What every response carries, and how bad requests and failures are answered.

use reqwest::StatusCode;
use sealroom_testkit::{Backend, TestServer};
use serde_json::Value;

both_backends!(
    security_headers_on_every_response,
    unknown_routes_get_a_404_in_the_right_format,
    a_panicking_handler_answers_500_with_a_request_id_and_the_server_keeps_serving,
    health_probes_and_openapi_document,
    tls_1_2_and_plain_http_are_refused,
);

async fn security_headers_on_every_response(b: Backend) {
    let s = TestServer::start(b).await;
    for path in [
        "/signin",
        "/api/v1/me",
        "/healthz",
        "/nowhere",
        "/assets/app.js",
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert!(
            h.get("strict-transport-security")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("max-age="),
            "{path}"
        );
        assert!(h.get("x-request-id").is_some(), "{path}");
    }
    // Pages carry no inline script.
    let page = s
        .client
        .get(s.url("/signin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<script src=\"/assets/app.js\" defer></script>"));
    assert_eq!(page.matches("<script").count(), 1);
}

async fn unknown_routes_get_a_404_in_the_right_format(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s
        .client
        .get(s.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "not_found");
    let r = s.client.get(s.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("There is nothing at this address"));
}

async fn a_panicking_handler_answers_500_with_a_request_id_and_the_server_keeps_serving(
    b: Backend,
) {
    let s = TestServer::start(b).await;
    let r = s.client.get(s.url("/__panic_probe")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = r
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body = r.text().await.unwrap();
    assert!(body.contains(&id), "the page names the request id");
    assert!(
        !body.contains("panic probe requested"),
        "the cause is not shown to the client"
    );
    for _ in 0..3 {
        assert_eq!(
            s.client
                .get(s.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

async fn health_probes_and_openapi_document(b: Backend) {
    let s = TestServer::start(b).await;
    let h: Value = s
        .client
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let r: Value = s
        .client
        .get(s.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready");
    assert_eq!(
        r["database"],
        if b == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    let doc: Value = s
        .client
        .get(s.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/audit/verification",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn tls_1_2_and_plain_http_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let old = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&s.cert_pem).unwrap())
        .resolve("localhost", s.running.local_addr)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(
        old.get(s.url("/healthz")).send().await.is_err(),
        "TLS 1.2 was accepted"
    );
    let plain = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/healthz", s.running.local_addr.port());
    let answered = plain
        .get(url)
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    assert!(!answered, "plain HTTP was served on the TLS port");
}
