//! Mapping use-case errors to HTTP: JSON for `/api`, pages (or redirects) for the browser.
//! A 5xx never tells the client more than a request id; its cause travels in a response
//! extension to the request-context middleware, which logs it once.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use sealroom_app::AppError;
use serde_json::json;

use crate::context::InternalCause;
use crate::pages::layout;

/// Status and machine-readable code for an error.
pub fn classify(e: &AppError) -> (StatusCode, &'static str) {
    match e {
        AppError::SignInFailed => (StatusCode::UNAUTHORIZED, "sign_in_failed"),
        AppError::PatientSpace(sealroom_app::patient_space::PatientProblem::Paused) => {
            (StatusCode::TOO_MANY_REQUESTS, "throttled")
        }
        AppError::InvalidInput(_)
        | AppError::InvalidResource { .. }
        | AppError::Password(_)
        | AppError::PatientSpace(_)
        | AppError::Email(_)
        | AppError::Role(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
        AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        AppError::SessionEnded(_) => (StatusCode::UNAUTHORIZED, "session_ended"),
        AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        AppError::StepUpRequired => (StatusCode::FORBIDDEN, "step_up_required"),
        AppError::LinkInvalid => (StatusCode::GONE, "link_invalid"),
        AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        AppError::LeakCheck(_) => (StatusCode::UNPROCESSABLE_ENTITY, "leak_check"),
        AppError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        AppError::Gone(_) => (StatusCode::GONE, "gone"),
        AppError::Integrity(_) => (StatusCode::INTERNAL_SERVER_ERROR, "integrity_check_failed"),
        AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

pub(crate) fn with_cause(mut r: Response, e: &AppError) -> Response {
    let cause = match e {
        AppError::Internal(c) | AppError::Config(c) => Some(c.clone()),
        AppError::Store(s) => Some(s.to_string()),
        AppError::Integrity(_) | AppError::Unavailable(_) => {
            r.extensions_mut().insert(crate::context::PublicMessage);
            Some(e.to_string())
        }
        _ => None,
    };
    if let Some(c) = cause {
        r.extensions_mut().insert(InternalCause(c));
    }
    r
}

/// An error answered as JSON: `{"error": code, "message": text}`.
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = classify(&self.0);
        if let AppError::LeakCheck(findings) = &self.0 {
            // The sender reads each finding and confirms the warnings it can.
            let body = json!({"error": code, "message": self.0.to_string(), "findings": findings});
            return (status, Json(body)).into_response();
        }
        let r = message_response(status, true, code, &self.0.to_string());
        with_cause(r, &self.0)
    }
}

/// An error answered as a page; session problems become a redirect to sign-in or step-up.
pub struct PageError {
    pub error: AppError,
    /// Where to come back after a step-up.
    pub return_to: Option<String>,
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        PageError {
            error,
            return_to: None,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match &self.error {
            AppError::Unauthenticated => return Redirect::to("/signin").into_response(),
            AppError::SessionEnded(_) => return Redirect::to("/signin?ended=1").into_response(),
            AppError::StepUpRequired => {
                let back = self.return_to.as_deref().unwrap_or("/me/security");
                let q = serde_urlencoded::to_string([("return_to", back)]).unwrap_or_default();
                return Redirect::to(&format!("/me/step-up?{q}")).into_response();
            }
            _ => {}
        }
        let (status, code) = classify(&self.error);
        let r = message_response(status, false, code, &self.error.to_string());
        with_cause(r, &self.error)
    }
}

/// A plain error answer in the right format.
pub fn message_response(status: StatusCode, is_api: bool, code: &str, message: &str) -> Response {
    if is_api {
        (status, Json(json!({"error": code, "message": message}))).into_response()
    } else {
        let title = status.canonical_reason().unwrap_or("Error");
        let body = maud::html! {
            h1 { (title) }
            p role="alert" { (message) }
            p { a href="/" { "Back to Sealroom" } }
        };
        (status, layout::page(title, None, body)).into_response()
    }
}

/// The 500 page or JSON, naming only the request id.
pub fn internal_error_response(request_id: &str, is_api: bool, status: StatusCode) -> Response {
    let message = format!("Something went wrong on our side. If it happens again, give this request id to your administrator: {request_id}");
    let mut r = message_response(status, is_api, "internal", &message);
    if is_api {
        r = (
            status,
            Json(json!({"error": "internal", "message": message, "request_id": request_id})),
        )
            .into_response();
    }
    r
}

/// Unknown routes: JSON 404 under `/api`, an HTML 404 elsewhere.
pub async fn not_found(req: Request) -> Response {
    let is_api = req.uri().path().starts_with("/api/") || req.uri().path() == "/api";
    message_response(
        StatusCode::NOT_FOUND,
        is_api,
        "not_found",
        "There is nothing at this address.",
    )
}
