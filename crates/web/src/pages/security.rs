//! "My security": factors, recovery codes, password, sessions; and step-up re-authentication.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use sealroom_app::sessions::CurrentSession;
use sealroom_app::AppError;
use serde::Deserialize;

use super::enrol::{recovery_codes_markup, totp_markup, CodeForm};
use super::layout::{alert, csrf, notice, page, when};
use super::redirect_with_session;
use super::signin::CsrfOnly;
use crate::error::PageError;
use crate::extract::{ClientInfo, SignedIn, SignedInForm};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    changed: Option<String>,
    recovered: Option<String>,
    ended: Option<u32>,
    #[serde(skip)]
    error: Option<String>,
}

pub async fn overview(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    render_overview(&s, &me, q, StatusCode::OK).await
}

async fn render_overview(
    s: &AppState,
    me: &CurrentSession,
    q: OverviewQuery,
    status: StatusCode,
) -> Result<Response, PageError> {
    let o = s.app.security_overview(me).await?;
    let sessions = s.app.my_sessions(me).await?;
    let changed = q.changed.is_some();
    let info = match (q.recovered.is_some(), changed, q.ended) {
        (true, _, _) => Some("You signed in with a recovery code. Add a new passkey or authenticator app now, and regenerate your recovery codes.".to_owned()),
        (_, true, _) => Some("Your security settings changed. If you did not expect other devices to be signed in, end the other sessions below.".to_owned()),
        (_, _, Some(n)) => Some(format!("{n} session(s) ended.")),
        _ => None,
    };
    let stepped_up = me.stepped_up(s.app.now());
    let body = html! {
        h1 { "My security" }
        p { "Signed in as " strong { (me.user.display_name) } " (" (me.user.email) "), " (me.user.role.label()) "." }
        (notice(info.as_deref()))
        (alert(q.error.as_deref()))
        @if changed && sessions.len() > 1 {
            form #end-others-offer method="post" action="/me/sessions/end-others" {
                (csrf(me))
                button.danger type="submit" { "End all my other sessions" }
            }
        }
        @if !stepped_up {
            p.hint { "Adding or removing factors asks you to confirm it is you first. " a href="/me/step-up?return_to=/me/security" { "Confirm now" } }
        }
        section {
            h2 { "Passkeys" }
            ul #passkeys {
                @for p in &o.passkeys {
                    li {
                        strong { (p.name) } " — added " (when(p.created_at))
                        @if let Some(u) = p.last_used_at { ", last used " (when(u)) }
                        " "
                        form.inline method="post" action={ "/me/passkeys/" (p.id) "/remove" } {
                            (csrf(me))
                            button.secondary type="submit" aria-label={ "Remove passkey " (p.name) } { "Remove" }
                        }
                    }
                }
            }
            @if o.passkeys.is_empty() { p { "No passkey yet." } }
            label for="passkey_name" { "Name for a new passkey" }
            input #passkey_name type="text" name="passkey_name" value="My device" maxlength="60";
            button #add-passkey type="button" data-passkey-register="1" data-next="/me/security?changed=passkey" { "Add a passkey" }
        }
        section {
            h2 { "Authenticator app" }
            @if o.totp {
                p #totp-status { "An authenticator app is set up." }
                form method="post" action="/me/totp/remove" {
                    (csrf(me))
                    button.secondary type="submit" { "Remove the authenticator app" }
                }
            } @else {
                p #totp-status { "No authenticator app." }
                a.button href="/me/totp" { "Set up an authenticator app" }
            }
        }
        section {
            h2 { "Recovery codes" }
            p #recovery-status { (o.unused_recovery_codes) " unused recovery codes left." }
            form method="post" action="/me/recovery-codes" {
                (csrf(me))
                button.secondary type="submit" { "Make new recovery codes" }
            }
        }
        section {
            h2 { "Password" }
            form #change-password method="post" action="/me/password" {
                (csrf(me))
                input type="text" name="username" value=(me.user.email) autocomplete="username" hidden;
                label for="current_password" { "Current password" }
                input #current_password type="password" name="current_password" required autocomplete="current-password";
                label for="new_password" { "New password" }
                input #new_password type="password" name="new_password" required minlength="12" maxlength="256" autocomplete="new-password";
                label for="new_password_confirm" { "Type the new password again" }
                input #new_password_confirm type="password" name="new_password_confirm" required autocomplete="new-password";
                button type="submit" { "Change password" }
            }
        }
        section {
            h2 { "Where you are signed in" }
            table #sessions {
                thead { tr { th { "Started" } th { "Address" } th { "Browser" } th {} } }
                tbody {
                    @for sess in &sessions {
                        tr {
                            td { (when(sess.created_at)) }
                            td { (sess.client_address) }
                            td { (sess.user_agent.chars().take(60).collect::<String>()) }
                            td {
                                @if sess.id == me.id { "This session" } @else {
                                    form.inline method="post" action={ "/me/sessions/" (sess.id) "/end" } {
                                        (csrf(me))
                                        button.secondary type="submit" { "End" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if sessions.len() > 1 {
                form method="post" action="/me/sessions/end-others" {
                    (csrf(me))
                    button.secondary type="submit" { "End all other sessions" }
                }
            }
        }
    };
    Ok((status, page("My security", Some(me), body)).into_response())
}

#[derive(Deserialize)]
pub struct StepUpQuery {
    return_to: Option<String>,
}

/// Only plain local paths are accepted as a place to return to: a leading `/`, no second `/`
/// or `\` after it, and nothing but URL-safe characters (browsers drop tabs and newlines, so
/// `/\t/evil.example` would otherwise become `//evil.example`).
fn local_path(p: Option<&str>) -> String {
    let safe = |p: &str| {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.starts_with("/\\")
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.?=&%".contains(c))
    };
    match p {
        Some(p) if safe(p) => p.to_owned(),
        _ => "/me/security".to_owned(),
    }
}

fn step_up_markup(
    me: &CurrentSession,
    return_to: &str,
    error: Option<&str>,
    has_passkey: bool,
    has_totp: bool,
) -> maud::Markup {
    html! {
        h1 { "Confirm it is you" }
        p { "This action changes who can reach your account or others', so Sealroom asks you to confirm it is you. It stays confirmed for 5 minutes." }
        (alert(error))
        @if has_passkey {
            section {
                button #passkey-step-up type="button" data-next=(return_to) { "Confirm with my passkey" }
            }
        }
        @if has_totp {
            section {
                form #step-up method="post" action="/me/step-up" {
                    (csrf(me))
                    input type="hidden" name="return_to" value=(return_to);
                    input type="text" name="username" value=(me.user.email) autocomplete="username" hidden;
                    label for="password" { "Password" }
                    input #password type="password" name="password" required autocomplete="current-password";
                    label for="code" { "Code from your authenticator app" }
                    input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    button type="submit" { "Confirm" }
                }
            }
        }
    }
}

pub async fn step_up_form(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    Query(q): Query<StepUpQuery>,
) -> Result<Response, PageError> {
    let o = s.app.security_overview(&me).await?;
    let back = local_path(q.return_to.as_deref());
    Ok(page(
        "Confirm it is you",
        Some(&me),
        step_up_markup(&me, &back, None, !o.passkeys.is_empty(), o.totp),
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct StepUpForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    return_to: Option<String>,
    password: String,
    code: String,
}

pub async fn step_up_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, f): SignedInForm<StepUpForm>,
) -> Result<Response, PageError> {
    let back = local_path(f.return_to.as_deref());
    match s
        .app
        .step_up_with_password_and_totp(&me, &f.password, &f.code, &client)
        .await
    {
        Ok(token) => Ok(redirect_with_session(&back, &token)),
        Err(e @ AppError::SignInFailed) => {
            let o = s.app.security_overview(&me).await?;
            Ok((
                StatusCode::UNAUTHORIZED,
                page(
                    "Confirm it is you",
                    Some(&me),
                    step_up_markup(
                        &me,
                        &back,
                        Some(&e.to_string()),
                        !o.passkeys.is_empty(),
                        o.totp,
                    ),
                ),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn step_up_back(e: AppError, back: &str) -> PageError {
    PageError {
        error: e,
        return_to: Some(back.to_owned()),
    }
}

async fn problem(
    s: &AppState,
    me: &CurrentSession,
    e: AppError,
    back: &str,
) -> Result<Response, PageError> {
    match e {
        AppError::Conflict(_)
        | AppError::InvalidInput(_)
        | AppError::Password(_)
        | AppError::NotFound => {
            let (status, _) = crate::error::classify(&e);
            render_overview(
                s,
                me,
                OverviewQuery {
                    error: Some(e.to_string()),
                    ..Default::default()
                },
                status,
            )
            .await
        }
        other => Err(step_up_back(other, back)),
    }
}

#[derive(Deserialize)]
pub struct PasswordChange {
    #[serde(rename = "_csrf")]
    csrf: String,
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

pub async fn change_password(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, f): SignedInForm<PasswordChange>,
) -> Result<Response, PageError> {
    match s
        .app
        .change_password(
            &me,
            &f.current_password,
            &f.new_password,
            &f.new_password_confirm,
            &client,
        )
        .await
    {
        Ok(()) => Ok(Redirect::to("/me/security?changed=password").into_response()),
        Err(e) => problem(&s, &me, e, "/me/security").await,
    }
}

pub async fn totp_form(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
) -> Result<Response, PageError> {
    match s.app.start_totp_enrolment(&me).await {
        Ok(t) => Ok(page(
            "Add an authenticator app",
            Some(&me),
            totp_markup(&me, &t, "/me/totp", None),
        )
        .into_response()),
        Err(e) => problem(&s, &me, e, "/me/totp").await,
    }
}

pub async fn totp_submit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, f): SignedInForm<CodeForm>,
) -> Result<Response, PageError> {
    match s.app.confirm_totp(&me, &f.code, &client).await {
        Ok(()) => Ok(Redirect::to("/me/security?changed=totp").into_response()),
        Err(AppError::InvalidInput(msg)) => {
            let t = s
                .app
                .start_totp_enrolment(&me)
                .await
                .map_err(|e| step_up_back(e, "/me/totp"))?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(
                    "Add an authenticator app",
                    Some(&me),
                    totp_markup(&me, &t, "/me/totp", Some(&msg)),
                ),
            )
                .into_response())
        }
        Err(e) => problem(&s, &me, e, "/me/totp").await,
    }
}

pub async fn remove_totp(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match s.app.remove_totp(&me, &client).await {
        Ok(()) => Ok(Redirect::to("/me/security?changed=totp").into_response()),
        Err(e) => problem(&s, &me, e, "/me/security").await,
    }
}

pub async fn remove_passkey(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match s.app.remove_passkey(&me, &id, &client).await {
        Ok(()) => Ok(Redirect::to("/me/security?changed=passkey").into_response()),
        Err(e) => problem(&s, &me, e, "/me/security").await,
    }
}

pub async fn regenerate_recovery_codes(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match s.app.regenerate_recovery_codes(&me, &client).await {
        Ok(codes) => Ok(page(
            "Save your recovery codes",
            Some(&me),
            recovery_codes_markup(&codes, "/me/security"),
        )
        .into_response()),
        Err(e) => problem(&s, &me, e, "/me/security").await,
    }
}

pub async fn end_session(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match s.app.end_my_session(&me, &id, &client).await {
        Ok(()) => Ok(Redirect::to("/me/security?ended=1").into_response()),
        Err(e) => problem(&s, &me, e, "/me/security").await,
    }
}

pub async fn end_other_sessions(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let n = s.app.end_my_other_sessions(&me, &client).await?;
    Ok(Redirect::to(&format!("/me/security?ended={n}")).into_response())
}

crate::extract::csrf_forms!(StepUpForm, PasswordChange);

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_plain_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/admin/users")), "/admin/users");
        assert_eq!(
            local_path(Some("/me/security?changed=totp")),
            "/me/security?changed=totp"
        );
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\t/evil",
            "/\n/evil",
            "https://evil.example",
            "/\\evil",
            "evil",
        ] {
            assert_eq!(local_path(Some(bad)), "/me/security", "{bad:?}");
        }
        assert_eq!(local_path(None), "/me/security");
    }
}
