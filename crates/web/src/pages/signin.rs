//! Sign-in: e-mail and password, then a second factor; or a passkey alone. Sign-out.

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use sealroom_app::AppError;
use sealroom_domain::SessionState;
use serde::Deserialize;

use super::layout::{alert, csrf, notice, page};
use super::redirect_with_session;
use crate::error::PageError;
use crate::extract::{
    clear_cookie, cookie, AnySession, ClientInfo, PageForm, SessionForm, SignedInForm,
    SESSION_COOKIE,
};
use crate::AppState;

pub async fn home(
    State(s): State<AppState>,
    headers: HeaderMap,
    ClientInfo(client): ClientInfo,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(session) = s.app.check_session(token, &client).await {
            return match session.state {
                SessionState::SignedIn(_) => Redirect::to("/me/security"),
                SessionState::Enrolling => Redirect::to("/enrol"),
                SessionState::AwaitingSecondFactor => Redirect::to("/signin/second-factor"),
            }
            .into_response();
        }
    }
    Redirect::to("/signin").into_response()
}

#[derive(Deserialize)]
pub struct SignInQuery {
    ended: Option<String>,
}

fn form_markup(error: Option<&str>, info: Option<&str>, email: &str) -> maud::Markup {
    html! {
        h1 { "Sign in" }
        (notice(info))
        (alert(error))
        form #signin method="post" action="/signin" {
            label for="email" { "Work e-mail address" }
            input #email type="email" name="email" required autocomplete="username webauthn" value=(email);
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete="current-password";
            button #signin-submit type="submit" { "Sign in" }
            p.hint { "Have a passkey? Type your e-mail address and use it instead of a password:" }
            button #passkey-signin.secondary type="button" data-next="/me/security" { "Sign in with a passkey" }
        }
    }
}

pub async fn form(
    State(s): State<AppState>,
    headers: HeaderMap,
    ClientInfo(client): ClientInfo,
    Query(q): Query<SignInQuery>,
) -> Response {
    // Tell a person whose session ended why, without revealing anything to anyone else.
    let mut info = None;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        match s.app.check_session(token, &client).await {
            Ok(session) if session.is_signed_in() => {
                return Redirect::to("/me/security").into_response()
            }
            Err(AppError::SessionEnded(why)) => {
                info = Some(format!(
                    "Your session has ended: {why}. Please sign in again."
                ))
            }
            _ => {}
        }
    } else if q.ended.is_some() {
        info = Some("Your session has ended. Please sign in again.".to_owned());
    }
    page("Sign in", None, form_markup(None, info.as_deref(), "")).into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<SignInForm>,
) -> Result<Response, PageError> {
    match s
        .app
        .sign_in_with_password(&f.email, &f.password, &client)
        .await
    {
        Ok(session) => Ok(redirect_with_session(
            "/signin/second-factor",
            &session.token,
        )),
        Err(e @ AppError::SignInFailed) => Ok((
            StatusCode::UNAUTHORIZED,
            page(
                "Sign in",
                None,
                form_markup(Some(&e.to_string()), None, &f.email),
            ),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

fn second_factor_markup(
    me: &sealroom_app::sessions::CurrentSession,
    f: sealroom_app::sign_in::SecondFactors,
    error: Option<&str>,
) -> maud::Markup {
    html! {
        h1 { "Confirm it is you" }
        (alert(error))
        @if f.passkey {
            section {
                h2 { "Use your passkey" }
                button #passkey-second-factor type="button" data-next="/me/security" { "Use my passkey" }
            }
        }
        @if f.totp {
            section {
                h2 { "Use your authenticator app" }
                form #totp method="post" action="/signin/second-factor" {
                    (csrf(me))
                    label for="code" { "6-digit code" }
                    input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    button type="submit" { "Continue" }
                }
            }
        }
        details {
            summary { "Lost your device? Use a recovery code" }
            form #recovery method="post" action="/signin/recovery-code" {
                (csrf(me))
                label for="recovery_code" { "Recovery code" }
                input #recovery_code type="text" name="recovery_code" autocomplete="off" required;
                button type="submit" { "Continue" }
            }
        }
    }
}

fn awaiting(me: &sealroom_app::sessions::CurrentSession) -> Result<(), PageError> {
    if me.state == SessionState::AwaitingSecondFactor {
        Ok(())
    } else {
        Err(AppError::Unauthenticated.into())
    }
}

pub async fn second_factor_form(
    State(s): State<AppState>,
    AnySession(me): AnySession,
) -> Result<Response, PageError> {
    if me.is_signed_in() {
        return Ok(Redirect::to("/me/security").into_response());
    }
    awaiting(&me)?;
    let f = s.app.second_factors(&me).await?;
    Ok(page(
        "Confirm it is you",
        Some(&me),
        second_factor_markup(&me, f, None),
    )
    .into_response())
}

async fn second_factor_failed(
    s: &AppState,
    me: &sealroom_app::sessions::CurrentSession,
    e: AppError,
) -> Result<Response, PageError> {
    match e {
        AppError::SignInFailed => {
            let f = s.app.second_factors(me).await?;
            Ok((
                StatusCode::UNAUTHORIZED,
                page(
                    "Confirm it is you",
                    Some(me),
                    second_factor_markup(me, f, Some(&e.to_string())),
                ),
            )
                .into_response())
        }
        other => Err(other.into()),
    }
}

pub async fn totp_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SessionForm(me, f): SessionForm<super::enrol::CodeForm>,
) -> Result<Response, PageError> {
    awaiting(&me)?;
    match s.app.sign_in_with_totp(&me, &f.code, &client).await {
        Ok(token) => Ok(redirect_with_session("/me/security", &token)),
        Err(e) => second_factor_failed(&s, &me, e).await,
    }
}

#[derive(Deserialize)]
pub struct RecoveryForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    recovery_code: String,
}

pub async fn recovery_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SessionForm(me, f): SessionForm<RecoveryForm>,
) -> Result<Response, PageError> {
    awaiting(&me)?;
    match s
        .app
        .sign_in_with_recovery_code(&me, &f.recovery_code, &client)
        .await
    {
        Ok(token) => Ok(redirect_with_session("/me/security?recovered=1", &token)),
        Err(e) => second_factor_failed(&s, &me, e).await,
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

pub async fn sign_out(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    s.app.sign_out(&me, &client).await?;
    Ok((
        [(SET_COOKIE, clear_cookie(SESSION_COOKIE))],
        Redirect::to("/signin"),
    )
        .into_response())
}

crate::extract::csrf_forms!(RecoveryForm, CsrfOnly);
