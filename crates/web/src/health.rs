//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::AppState;

/// Liveness: the process serves requests.
pub async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

/// Readiness: the database answers.
pub async fn readyz(State(s): State<AppState>) -> Response {
    match s.app.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": s.app.store().backend_name()})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "the database does not answer"})),
        )
            .into_response(),
    }
}

/// Proves that a panic in a handler is contained: answers 500 with a request id, and the server
/// keeps serving. Only mounted when the server runs with `--dev` or in tests.
pub async fn panic_probe(State(s): State<AppState>) -> Response {
    if !s.config.panic_probe {
        return crate::error::message_response(
            StatusCode::NOT_FOUND,
            false,
            "not_found",
            "There is nothing at this address.",
        );
    }
    #[allow(clippy::panic)]
    {
        panic!("panic probe requested");
    }
}
