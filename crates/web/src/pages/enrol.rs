//! First administrator set-up and enrolment: password, second factor, recovery codes.

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use sealroom_app::AppError;
use serde::Deserialize;

use super::layout::{alert, csrf, page};
use super::redirect_with_session;
use crate::error::PageError;
use crate::extract::{set_cookie, AnySession, ClientInfo, PageForm, SessionForm, SESSION_COOKIE};
use crate::AppState;

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn link_gone() -> Response {
    let body = html! {
        h1 { "This link cannot be used" }
        p role="alert" { (AppError::LinkInvalid.to_string()) }
    };
    (StatusCode::GONE, page("Link not usable", None, body)).into_response()
}

pub async fn setup_form(
    State(s): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    if !s.app.setup_link_is_usable(&q.token).await? {
        return Ok(link_gone());
    }
    Ok(page(
        "Set up Sealroom",
        None,
        setup_markup(&q.token, None, "", ""),
    )
    .into_response())
}

fn setup_markup(token: &str, error: Option<&str>, email: &str, name: &str) -> maud::Markup {
    html! {
        h1 { "Set up Sealroom" }
        p { "Create the first administrator account. You will choose a password and a second factor next." }
        (alert(error))
        form #setup method="post" action="/setup" {
            input type="hidden" name="token" value=(token);
            label for="email" { "Your work e-mail address" }
            input #email type="email" name="email" required autocomplete="email" value=(email);
            label for="display_name" { "Your name" }
            input #display_name type="text" name="display_name" required autocomplete="name" value=(name);
            button type="submit" { "Create administrator" }
        }
    }
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    email: String,
    display_name: String,
}

pub async fn setup_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<SetupForm>,
) -> Result<Response, PageError> {
    match s
        .app
        .complete_setup(&f.token, &f.email, &f.display_name, &client)
        .await
    {
        Ok(session) => Ok(redirect_with_session("/enrol", &session.token)),
        Err(AppError::LinkInvalid) => Ok(link_gone()),
        Err(e @ (AppError::Email(_) | AppError::InvalidInput(_))) => {
            let body = setup_markup(&f.token, Some(&e.to_string()), &f.email, &f.display_name);
            Ok((StatusCode::BAD_REQUEST, page("Set up Sealroom", None, body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn accept_form(
    State(s): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let Some(email) = s.app.enrolment_link_email(&q.token).await? else {
        return Ok(link_gone());
    };
    let body = html! {
        h1 { "Welcome to Sealroom" }
        p { "This link sets up the account " strong { (email) } ". You will choose a password and a second factor (a passkey or an authenticator app)." }
        form #accept-enrolment method="post" action="/enrol/accept" {
            input type="hidden" name="token" value=(q.token);
            button type="submit" { "Continue" }
        }
    };
    Ok(page("Welcome", None, body).into_response())
}

#[derive(Deserialize)]
pub struct AcceptForm {
    token: String,
}

pub async fn accept_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<AcceptForm>,
) -> Result<Response, PageError> {
    match s.app.accept_enrolment(&f.token, &client).await {
        Ok(session) => Ok(redirect_with_session("/enrol", &session.token)),
        Err(AppError::LinkInvalid) => Ok(link_gone()),
        Err(e) => Err(e.into()),
    }
}

fn enrolling(session: &sealroom_app::sessions::CurrentSession) -> Result<(), PageError> {
    if session.state == sealroom_domain::SessionState::Enrolling {
        Ok(())
    } else {
        Err(AppError::Forbidden.into())
    }
}

fn password_markup(
    me: &sealroom_app::sessions::CurrentSession,
    error: Option<&str>,
) -> maud::Markup {
    html! {
        h1 { "Choose your password" }
        p { "Use at least 12 characters. A few unrelated words make a strong password that is easy to remember. Pasting from a password manager is fine." }
        (alert(error))
        form #set-password method="post" action="/enrol/password" {
            (csrf(me))
            input type="text" name="username" value=(me.user.email) autocomplete="username" hidden;
            label for="password" { "New password" }
            input #password type="password" name="password" required minlength="12" maxlength="256" autocomplete="new-password";
            label for="password_confirm" { "Type it again" }
            input #password_confirm type="password" name="password_confirm" required autocomplete="new-password";
            button type="submit" { "Save password" }
        }
    }
}

pub async fn password_form(
    State(s): State<AppState>,
    AnySession(me): AnySession,
) -> Result<Response, PageError> {
    enrolling(&me)?;
    let progress = s.app.enrolment_progress(&me).await?;
    if progress.password_set {
        return Ok(Redirect::to("/enrol/factor").into_response());
    }
    Ok(page(
        "Choose your password",
        Some(&me),
        password_markup(&me, None),
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    password: String,
    password_confirm: String,
}

pub async fn password_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SessionForm(me, f): SessionForm<PasswordForm>,
) -> Result<Response, PageError> {
    enrolling(&me)?;
    match s
        .app
        .set_initial_password(&me, &f.password, &f.password_confirm, &client)
        .await
    {
        Ok(()) => Ok(Redirect::to("/enrol/factor").into_response()),
        Err(AppError::Password(p)) => Ok((
            StatusCode::BAD_REQUEST,
            page(
                "Choose your password",
                Some(&me),
                password_markup(&me, Some(&p.to_string())),
            ),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn factor_choice(
    State(s): State<AppState>,
    AnySession(me): AnySession,
) -> Result<Response, PageError> {
    enrolling(&me)?;
    let progress = s.app.enrolment_progress(&me).await?;
    if !progress.password_set {
        return Ok(Redirect::to("/enrol").into_response());
    }
    if progress.has_second_factor() {
        return Ok(Redirect::to("/enrol/recovery-codes").into_response());
    }
    let body = html! {
        h1 { "Add a second factor" }
        p { "Staff accounts always have a second factor. Choose one; you can add more later." }
        section {
            h2 { "A passkey (recommended)" }
            p { "Your computer or phone unlocks it with your fingerprint, face or PIN. It cannot be phished." }
            label for="passkey_name" { "Name for this passkey" }
            input #passkey_name type="text" name="passkey_name" value="My device" maxlength="60";
            button #enrol-passkey type="button" data-passkey-register="1" { "Create a passkey" }
        }
        section {
            h2 { "An authenticator app" }
            p { "An app on your phone (such as FreeOTP, Aegis, Google or Microsoft Authenticator) shows a 6-digit code." }
            a #enrol-totp.button href="/enrol/totp" { "Use an authenticator app" }
        }
    };
    Ok(page("Add a second factor", Some(&me), body).into_response())
}

pub fn totp_markup(
    me: &sealroom_app::sessions::CurrentSession,
    t: &sealroom_app::enrolment::TotpEnrolment,
    action: &str,
    error: Option<&str>,
) -> maud::Markup {
    html! {
        h1 { "Add an authenticator app" }
        ol {
            li { "Open your authenticator app and add an account by scanning this code:" }
        }
        img #totp-qr src=(t.qr_data_uri) alt="QR code for your authenticator app" width="200" height="200";
        p { "Cannot scan? Enter this key by hand: " code #totp-secret { (t.secret_base32) } }
        details {
            summary { "Setup link for apps on this device" }
            p { code #totp-uri { (t.uri) } }
        }
        (alert(error))
        form #confirm-totp method="post" action=(action) {
            (csrf(me))
            label for="code" { "Type the 6-digit code the app shows" }
            input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required;
            button type="submit" { "Confirm" }
        }
    }
}

pub async fn totp_form(
    State(s): State<AppState>,
    AnySession(me): AnySession,
) -> Result<Response, PageError> {
    enrolling(&me)?;
    let t = s.app.start_totp_enrolment(&me).await?;
    Ok(page(
        "Add an authenticator app",
        Some(&me),
        totp_markup(&me, &t, "/enrol/totp", None),
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
    pub code: String,
}

pub async fn totp_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SessionForm(me, f): SessionForm<CodeForm>,
) -> Result<Response, PageError> {
    enrolling(&me)?;
    match s.app.confirm_totp(&me, &f.code, &client).await {
        Ok(()) => Ok(Redirect::to("/enrol/recovery-codes").into_response()),
        Err(AppError::InvalidInput(msg)) => {
            let t = s.app.start_totp_enrolment(&me).await?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(
                    "Add an authenticator app",
                    Some(&me),
                    totp_markup(&me, &t, "/enrol/totp", Some(&msg)),
                ),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub fn recovery_codes_markup(codes: &[String], done_href: &str) -> maud::Markup {
    html! {
        h1 { "Save your recovery codes" }
        p { "If you lose your passkey or phone, each of these codes lets you sign in once. "
            strong { "They are shown only now." } " Print them or keep them in your password manager." }
        ul #recovery-codes { @for c in codes { li { code { (c) } } } }
        form #recovery-codes-done method="get" action=(done_href) {
            button type="submit" { "I have saved them" }
        }
    }
}

/// Finishes enrolment (activates the account and signs the session in) and shows the codes.
pub async fn recovery_codes(
    State(s): State<AppState>,
    AnySession(me): AnySession,
    ClientInfo(client): ClientInfo,
) -> Result<Response, PageError> {
    if me.is_signed_in() {
        return Ok(Redirect::to("/me/security").into_response());
    }
    enrolling(&me)?;
    let (token, codes) = s.app.finish_enrolment(&me, &client).await?;
    let me = s.app.check_session(&token, &client).await?;
    let markup = page(
        "Save your recovery codes",
        Some(&me),
        recovery_codes_markup(&codes, "/me/security"),
    );
    Ok((
        [(SET_COOKIE, set_cookie(SESSION_COOKIE, &token, None))],
        markup,
    )
        .into_response())
}

crate::extract::csrf_forms!(PasswordForm, CodeForm);
