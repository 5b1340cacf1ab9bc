//! The patient space's passkey ceremonies, as JSON for `/assets/app.js`: registering the
//! passkey chosen at set-up, and answering with it at sign-in or re-authentication. Each call
//! carries the session's CSRF token in `X-CSRF-Token`; a finished ceremony answers with where
//! to go next and sets the session's new cookie.

use axum::extract::{FromRequestParts, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use sealroom_app::patient_space::PatientSession;
use sealroom_app::AppError;

use super::i18n::Lang;
use super::{error_message, Patient, PATIENT_COOKIE};
use crate::error::classify;
use crate::extract::{set_cookie, ApiJson};
use crate::AppState;

/// A patient session whose request carries its CSRF token in the header.
pub struct PatientCall(PatientSession, Lang);

impl FromRequestParts<AppState> for PatientCall {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Patient(session, lang) = Patient::from_request_parts(parts, state)
            .await
            .map_err(|e| failure(e.lang, e.error))?;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !sealroom_crypto::constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(failure(
                lang,
                AppError::InvalidInput("missing or wrong X-CSRF-Token header".into()),
            ));
        }
        Ok(PatientCall(session, lang))
    }
}

/// A refusal as JSON, in the patient's language (the script shows `message`).
fn failure(lang: Lang, e: AppError) -> Response {
    let (status, code) = classify(&e);
    let r = (
        status,
        Json(json!({"error": code, "message": error_message(lang, &e)})),
    )
        .into_response();
    crate::error::with_cause(r, &e)
}

fn next(to: &str, token: &str) -> Response {
    (
        StatusCode::OK,
        [(SET_COOKIE, set_cookie(PATIENT_COOKIE, token, None))],
        Json(json!({"redirect": to})),
    )
        .into_response()
}

pub async fn register_start(
    State(s): State<AppState>,
    PatientCall(session, lang): PatientCall,
) -> Response {
    match s.app.start_patient_passkey_registration(&session).await {
        Ok(challenge) => Json(challenge).into_response(),
        Err(e) => failure(lang, e),
    }
}

pub async fn register_finish(
    State(s): State<AppState>,
    PatientCall(session, lang): PatientCall,
    ApiJson(answer): ApiJson<RegisterPublicKeyCredential>,
) -> Response {
    match s
        .app
        .finish_patient_passkey_registration(&session, &answer)
        .await
    {
        Ok(token) => next("/patient/documents?welcome=1", &token),
        Err(e) => failure(lang, e),
    }
}

pub async fn start(State(s): State<AppState>, PatientCall(session, lang): PatientCall) -> Response {
    match s.app.start_patient_passkey(&session).await {
        Ok(challenge) => Json(challenge).into_response(),
        Err(e) => failure(lang, e),
    }
}

pub async fn finish(
    State(s): State<AppState>,
    PatientCall(session, lang): PatientCall,
    ApiJson(answer): ApiJson<PublicKeyCredential>,
) -> Response {
    let reauthenticating = session.is_signed_in();
    match s.app.finish_patient_passkey(&session, &answer).await {
        Ok(token) => next(
            if reauthenticating {
                "/patient/setup"
            } else {
                "/patient/documents"
            },
            &token,
        ),
        Err(e) => failure(lang, e),
    }
}
