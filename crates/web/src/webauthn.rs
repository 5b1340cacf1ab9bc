//! JSON endpoints for the passkey ceremonies driven by `assets/app.js`. Each pair is
//! start (returns the browser options) and finish (takes the authenticator's answer).

use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use sealroom_app::sessions::CurrentSession;
use sealroom_app::AppError;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::error::ApiError;
use crate::extract::{
    clear_cookie, cookie, set_cookie, ApiJson, ClientInfo, CEREMONY_COOKIE, SESSION_COOKIE,
};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webauthn/register/start", post(register_start))
        .route("/webauthn/register/finish", post(register_finish))
        .route("/webauthn/sign-in/start", post(sign_in_start))
        .route("/webauthn/sign-in/finish", post(sign_in_finish))
        .route("/webauthn/second-factor/start", post(second_factor_start))
        .route("/webauthn/second-factor/finish", post(second_factor_finish))
        .route("/webauthn/step-up/start", post(step_up_start))
        .route("/webauthn/step-up/finish", post(step_up_finish))
}

/// A session (in any state) whose CSRF token came in `X-CSRF-Token`.
struct CeremonySession(CurrentSession);

impl FromRequestParts<AppState> for CeremonySession {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(AppError::Unauthenticated)?;
        let client = parts
            .extensions
            .get::<sealroom_app::Client>()
            .cloned()
            .unwrap_or_default();
        let session = state.app.check_session(token, &client).await?;
        crate::extract::check_csrf_header(&parts.headers, &session)?;
        Ok(CeremonySession(session))
    }
}

fn with_session_cookie(token: &str, body: serde_json::Value) -> Response {
    (
        [(SET_COOKIE, set_cookie(SESSION_COOKIE, token, None))],
        Json(body),
    )
        .into_response()
}

#[derive(Deserialize)]
struct RegisterStart {
    name: String,
}

async fn register_start(
    State(s): State<AppState>,
    CeremonySession(me): CeremonySession,
    ApiJson(body): ApiJson<RegisterStart>,
) -> Result<Response, ApiError> {
    let challenge = s.app.start_passkey_registration(&me, &body.name).await?;
    Ok(Json(challenge).into_response())
}

async fn register_finish(
    State(s): State<AppState>,
    CeremonySession(me): CeremonySession,
    ClientInfo(client): ClientInfo,
    ApiJson(answer): ApiJson<RegisterPublicKeyCredential>,
) -> Result<Response, ApiError> {
    s.app
        .finish_passkey_registration(&me, &answer, &client)
        .await?;
    let next = if me.is_signed_in() {
        "/me/security?changed=passkey"
    } else {
        "/enrol/recovery-codes"
    };
    Ok(Json(json!({"redirect": next})).into_response())
}

#[derive(Deserialize)]
struct SignInStart {
    email: String,
}

async fn sign_in_start(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<SignInStart>,
) -> Result<Response, ApiError> {
    let (challenge, sealed) = s.app.start_passkey_sign_in(&body.email).await?;
    Ok((
        [(SET_COOKIE, set_cookie(CEREMONY_COOKIE, &sealed, Some(300)))],
        Json(challenge),
    )
        .into_response())
}

async fn sign_in_finish(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: axum::http::HeaderMap,
    ApiJson(answer): ApiJson<PublicKeyCredential>,
) -> Result<Response, ApiError> {
    let sealed = cookie(&headers, CEREMONY_COOKIE).ok_or(AppError::SignInFailed)?;
    let session = s
        .app
        .finish_passkey_sign_in(sealed, &answer, &client)
        .await?;
    let mut r = with_session_cookie(&session.token, json!({"redirect": "/me/security"}));
    if let Ok(v) = clear_cookie(CEREMONY_COOKIE).parse() {
        r.headers_mut().append(SET_COOKIE, v);
    }
    Ok(r)
}

async fn second_factor_start(
    State(s): State<AppState>,
    CeremonySession(me): CeremonySession,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.start_passkey_second_factor(&me).await?).into_response())
}

async fn second_factor_finish(
    State(s): State<AppState>,
    CeremonySession(me): CeremonySession,
    ClientInfo(client): ClientInfo,
    ApiJson(answer): ApiJson<PublicKeyCredential>,
) -> Result<Response, ApiError> {
    let token = s
        .app
        .finish_passkey_second_factor(&me, &answer, &client)
        .await?;
    Ok(with_session_cookie(
        &token,
        json!({"redirect": "/me/security"}),
    ))
}

async fn step_up_start(
    State(s): State<AppState>,
    CeremonySession(me): CeremonySession,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.start_passkey_step_up(&me).await?).into_response())
}

async fn step_up_finish(
    State(s): State<AppState>,
    CeremonySession(me): CeremonySession,
    ClientInfo(client): ClientInfo,
    ApiJson(answer): ApiJson<PublicKeyCredential>,
) -> Result<Response, ApiError> {
    let token = s.app.finish_passkey_step_up(&me, &answer, &client).await?;
    Ok(with_session_cookie(&token, json!({})))
}
