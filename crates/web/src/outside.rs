//! Pages for people outside the organization, under `/outside`: the link from their e-mail,
//! the verification the sender chose, then the one thread they were added to, with its files
//! and a reply form (text and files). Server-rendered, working without script.
//!
//! The link's reference finds the invitation and opens a session waiting for verification; it
//! grants nothing else, and the session cookie replaces it at once (the reference leaves the
//! address bar by a redirect). The cookie is `SameSite=Lax` so that arriving from a mail
//! program carries it to the redirect; every form carries the session's CSRF token.

use axum::extract::{Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use sealroom_app::messaging::{OutsideSession, VerifyMethod};
use sealroom_app::AppError;

use crate::error::classify;
use crate::extract::{cookie, csrf_matches, ClientInfo};
use crate::pages::layout::{alert, notice, page};
use crate::pages::messages::{message_article, MessageActions};
use crate::AppState;

/// The outside recipient's session cookie, bound to this origin.
const OUTSIDE_COOKIE: &str = "__Host-sealroom-outside";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/outside/m/{reference}", get(open_link))
        .route("/outside", get(home))
        .route("/outside/code", post(send_code))
        .route("/outside/verify", post(verify))
        .route(
            "/outside/reply",
            post(reply.layer(axum::extract::DefaultBodyLimit::disable())),
        )
        .route("/outside/attachments/{id}", get(attachment))
        .route("/outside/sign-out", post(sign_out))
}

fn set_cookie(token: &str) -> String {
    format!("{OUTSIDE_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

fn clear_cookie() -> String {
    format!("{OUTSIDE_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// A failure on an outside page: plain words, never a detail about the thread.
pub struct OutsideError(AppError);

impl From<AppError> for OutsideError {
    fn from(e: AppError) -> Self {
        OutsideError(e)
    }
}

impl IntoResponse for OutsideError {
    fn into_response(self) -> Response {
        let (status, _) = classify(&self.0);
        let message = match &self.0 {
            AppError::Unauthenticated => {
                "Your session has ended. Open the link in the latest e-mail you received again."
                    .to_owned()
            }
            AppError::NotFound => "This link or file does not work (any more). A newer e-mail may have replaced it, or the sender removed you from the conversation. Ask the sender.".to_owned(),
            AppError::Gone(m) | AppError::Integrity(m) => m.clone(),
            AppError::InvalidInput(m) | AppError::Conflict(m) | AppError::TooLarge(m) => m.clone(),
            _ => "Something went wrong on our side. Try again later.".to_owned(),
        };
        let mut r = (
            status,
            page(
                "Secure message",
                None,
                html! { h1 { "Secure message" } p.alert role="alert" { (message) } },
            ),
        )
            .into_response();
        if matches!(self.0, AppError::Unauthenticated) {
            if let Ok(v) = clear_cookie().parse() {
                r.headers_mut().insert(SET_COOKIE, v);
            }
        }
        crate::error::with_cause(r, &self.0)
    }
}

async fn session_of(
    s: &AppState,
    headers: &HeaderMap,
    client: &sealroom_app::Client,
) -> Result<OutsideSession, AppError> {
    let token = cookie(headers, OUTSIDE_COOKIE).ok_or(AppError::Unauthenticated)?;
    s.app.check_outside_session(token, client).await
}

/// The session of a form's request, if the form carries its CSRF token.
async fn form_session(
    s: &AppState,
    headers: &HeaderMap,
    client: &sealroom_app::Client,
    sent_csrf: &str,
) -> Result<OutsideSession, AppError> {
    let session = session_of(s, headers, client).await?;
    csrf_matches(&session.csrf_token, sent_csrf)?;
    Ok(session)
}

fn csrf(session: &OutsideSession) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf_token); }
}

/// `GET /outside/m/{reference}`: the link from the e-mail.
pub async fn open_link(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(reference): Path<String>,
) -> Result<Response, OutsideError> {
    let issued = s.app.open_outside_link(&reference, &client).await?;
    Ok((
        [(SET_COOKIE, set_cookie(&issued.token))],
        Redirect::to("/outside"),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    sent: Option<String>,
}

/// `GET /outside`: the verification step, or the thread once verified.
pub async fn home(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Result<Response, OutsideError> {
    let session = session_of(&s, &headers, &client).await?;
    if !session.verified {
        return verification_page(&s, &session, None, None).await;
    }
    let sent = q.sent.is_some().then_some("Your reply was sent securely.");
    thread_page(&s, &session, sent, None, "").await
}

async fn verification_page(
    s: &AppState,
    session: &OutsideSession,
    said: Option<&str>,
    error: Option<&str>,
) -> Result<Response, OutsideError> {
    let v = s.app.outside_verification(session).await?;
    let organization = &s.app.settings().organization_name;
    let body = html! {
        h1 { "A secure message from " (organization) }
        p { "To open it, prove that it is meant for you." }
        (notice(said))
        (alert(error))
        @if v.locked {
            p.alert role="alert" #locked { "Too many wrong codes: this message is locked. Ask the sender to send it to you again." }
        } @else {
            @match v.method {
                VerifyMethod::AccessCode => {
                    p #method data-method="access_code" { "Type the access code the sender gave you (by phone or in person)." }
                }
                VerifyMethod::Sms => {
                    p #method data-method="sms" { "We send a code by SMS to " strong { (v.to.as_deref().unwrap_or("")) } "." }
                }
                VerifyMethod::Email => {
                    p #method data-method="email" { "We send a code by e-mail to " strong { (v.to.as_deref().unwrap_or("")) } "." }
                }
            }
            @if v.method != VerifyMethod::AccessCode {
                form #send-code method="post" action="/outside/code" {
                    (csrf(session))
                    button type="submit" { "Send me a code" }
                }
            }
            form #verify method="post" action="/outside/verify" {
                (csrf(session))
                label for="code" { @if v.method == VerifyMethod::AccessCode { "Access code" } @else { "Code" } }
                input #code name="code" required autocomplete="one-time-code" autocapitalize="characters" spellcheck="false";
                button type="submit" { "Open the message" }
            }
        }
    };
    Ok(page("Secure message", None, body).into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /outside/code`: send a code by SMS or e-mail.
pub async fn send_code(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, OutsideError> {
    let session = form_session(&s, &headers, &client, &f.csrf).await?;
    match s.app.send_outside_code(&session).await {
        Ok(to) => {
            let said = format!("A code was sent to {to}. It works for 10 minutes.");
            verification_page(&s, &session, Some(&said), None).await
        }
        Err(e @ (AppError::Conflict(_) | AppError::InvalidInput(_))) => {
            verification_page(&s, &session, None, Some(&e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    code: String,
}

/// `POST /outside/verify`: the code; right, the session is replaced by a verified one.
pub async fn verify(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Result<Response, OutsideError> {
    let session = form_session(&s, &headers, &client, &f.csrf).await?;
    if session.verified {
        return Ok(Redirect::to("/outside").into_response());
    }
    match s.app.verify_outside(&session, &f.code).await {
        Ok(issued) => Ok((
            [(SET_COOKIE, set_cookie(&issued.token))],
            Redirect::to("/outside"),
        )
            .into_response()),
        Err(e @ (AppError::Conflict(_) | AppError::InvalidInput(_))) => {
            // Reload the invitation: a lock is shown as such.
            let session = session_of(&s, &headers, &client).await?;
            verification_page(&s, &session, None, Some(&e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn thread_page(
    s: &AppState,
    session: &OutsideSession,
    said: Option<&str>,
    error: Option<&str>,
    typed: &str,
) -> Result<Response, OutsideError> {
    let t = s.app.outside_thread(session).await?;
    let actions = MessageActions {
        attachment_href: &|id| format!("/outside/attachments/{id}"),
        beside_attachment: &|_| html! {},
        below: &|_| html! {},
    };
    let body = html! {
        h1 #thread-subject data-thread=(t.id) { (t.subject) }
        (notice(said))
        (alert(error))
        section #messages {
            @for m in &t.messages {
                (message_article(m, &actions))
            }
        }
        form #reply method="post" action="/outside/reply" enctype="multipart/form-data" {
            (csrf(session))
            label for="body" { "Reply" }
            textarea #body name="body" rows="6" { (typed) }
            label for="files" { "Attach files" }
            input #files type="file" name="files" multiple;
            button #send type="submit" { "Send securely" }
        }
        form #sign-out method="post" action="/outside/sign-out" {
            (csrf(session))
            button type="submit" { "Close" }
        }
    };
    Ok(page(&t.subject, None, body).into_response())
}

/// `POST /outside/reply`: text and files, streamed into encrypted attachments first.
pub async fn reply(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, OutsideError> {
    let session = session_of(&s, &headers, &client).await?;
    if !session.verified {
        return Ok(Redirect::to("/outside").into_response());
    }
    let actor = session.actor()?;
    let d = crate::pages::messages::read_form(&s, &session.csrf_token, &actor, request)
        .await
        .map_err(|e| OutsideError(e.error))?;
    let sent = match d.message() {
        Ok(m) => s.app.outside_reply(&session, m).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(_) => Ok(Redirect::to("/outside?sent=1").into_response()),
        Err(e @ (AppError::InvalidInput(_) | AppError::TooLarge(_) | AppError::Conflict(_))) => {
            thread_page(&s, &session, None, Some(&e.to_string()), &d.body).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /outside/attachments/{id}`: a file of the thread, checked like every attachment.
pub async fn attachment(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, OutsideError> {
    let session = session_of(&s, &headers, &client).await?;
    if !session.verified {
        return Ok(Redirect::to("/outside").into_response());
    }
    let content = s.app.outside_attachment(&session, &id).await?;
    Ok(crate::api::messages::attachment_response(content))
}

/// `POST /outside/sign-out`: end the session.
pub async fn sign_out(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, OutsideError> {
    let session = form_session(&s, &headers, &client, &f.csrf).await?;
    s.app.outside_sign_out(&session).await?;
    Ok((
        [(SET_COOKIE, clear_cookie())],
        page(
            "Secure message",
            None,
            html! { h1 { "Closed" } p { "You can open the message again with the link in your e-mail." } },
        ),
    )
        .into_response())
}
