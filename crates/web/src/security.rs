//! Security headers on every response, and the origin check on every state-changing request.
//! (The per-session CSRF token is checked by the extractors in `extract.rs`.)

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/") || req.uri().path() == "/favicon.ico";
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A handler may set a stricter policy (downloads are sandboxed); never a looser one.
    if !h.contains_key("content-security-policy") {
        h.insert("content-security-policy", HeaderValue::from_static(CSP));
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    if state.config.hsts {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if !is_asset {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    res
}

/// Refuse unsafe requests that a browser says come from another site. Requests without
/// `Origin` and `Sec-Fetch-Site` (scripts, integrations) pass here; cookie-authenticated ones
/// still need the session's CSRF token.
pub async fn check_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let h = req.headers();
        // With `Referrer-Policy: no-referrer` browsers send `Origin: null` on same-origin form
        // posts, so `Sec-Fetch-Site` decides when present; a real `Origin` must be ours.
        let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let origin = h.get("origin").and_then(|v| v.to_str().ok());
        let allowed = match (site, origin) {
            (Some(s), _) if s != "same-origin" && s != "none" => false,
            (Some(_), Some("null")) | (_, None) => true,
            (None, Some("null")) => false,
            (_, Some(o)) => o == state.config.public_origin,
        };
        if !allowed {
            let is_api = req.uri().path().starts_with("/api/");
            return crate::error::message_response(
                StatusCode::FORBIDDEN,
                is_api,
                "cross_origin",
                "this request came from another site and was refused",
            )
            .into_response();
        }
    }
    next.run(req).await
}
