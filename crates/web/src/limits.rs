//! Request body limits. A body declared larger than [`crate::BODY_LIMIT`] is answered 413 after
//! reading (and discarding) up to [`DRAIN_LIMIT`] of it, so the client finishes sending and
//! sees the answer instead of a reset connection. Bodies without a length are cut at the
//! limit by the extractors (`DefaultBodyLimit`), which also answer 413.

use std::time::Duration;

use axum::extract::Request;
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Most bytes read from an oversized body before answering.
const DRAIN_LIMIT: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Requests whose body streams into the document store, which applies its own limit
/// (`documents.max_upload_mb`) as it reads.
fn is_streamed(req: &Request) -> bool {
    let path = req.uri().path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        (req.method().as_str(), segments.as_slice()),
        ("POST", ["api", "v1", "patients", _, "documents"])
            | ("POST", ["api", "v1", "documents", _, "versions"])
            | ("PATCH", ["api", "v1", "uploads", _])
            | ("POST", ["api", "v1", "attachments"])
            | ("POST", ["messages"])
            | ("POST", ["messages", _, "messages"])
            | ("POST", ["outside", "reply"])
            | ("POST", ["patient", "messages", _])
    )
}

pub async fn limit_body(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > crate::BODY_LIMIT as u64) && !is_streamed(&req) {
        let is_api = req.uri().path().starts_with("/api/");
        let body = req.into_body();
        let _ = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_LIMIT)).await;
        let mut r = crate::error::message_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            is_api,
            "too_large",
            &format!(
                "the request body is larger than {} KiB",
                crate::BODY_LIMIT / 1024
            ),
        );
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    next.run(req).await
}
