//! Extractors: cookies, sessions, the API principal, and JSON/form bodies whose rejections say
//! what was wrong (400) or that the body was too large (413).

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sealroom_app::accounts::Actor;
use sealroom_app::sessions::CurrentSession;
use sealroom_app::{AppError, Client};
use serde::de::DeserializeOwned;

use crate::error::{message_response, ApiError, PageError};
use crate::AppState;

/// The session cookie. `__Host-` binds it to this origin, path `/`, Secure.
pub const SESSION_COOKIE: &str = "__Host-sealroom";
/// A short-lived cookie holding a sealed passkey sign-in ceremony.
pub const CEREMONY_COOKIE: &str = "__Host-sealroom-passkey";

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for a session-scoped, strict, HTTP-only, secure cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> String {
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}")
}

pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", Some(0))
}

fn client(parts: &Parts) -> Client {
    parts
        .extensions
        .get::<Client>()
        .cloned()
        .unwrap_or_default()
}

/// The client making the request.
pub struct ClientInfo(pub Client);

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo(client(parts)))
    }
}

async fn session_from(parts: &Parts, state: &AppState) -> Result<CurrentSession, AppError> {
    let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(AppError::Unauthenticated)?;
    state.app.check_session(token, &client(parts)).await
}

/// Any valid session (enrolling, awaiting a second factor, or signed in), for pages.
pub struct AnySession(pub CurrentSession);

impl FromRequestParts<AppState> for AnySession {
    type Rejection = PageError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(AnySession(session_from(parts, state).await?))
    }
}

/// A signed-in session, for pages.
pub struct SignedIn(pub CurrentSession);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let s = session_from(parts, state).await?;
        if !s.is_signed_in() {
            return Err(AppError::Unauthenticated.into());
        }
        Ok(SignedIn(s))
    }
}

/// Who is calling the API: a bearer token, or a signed-in browser session that presents its
/// CSRF token in `X-CSRF-Token` on state-changing requests.
pub struct ApiCaller {
    pub actor: Actor,
    pub session: Option<CurrentSession>,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        api_caller(parts, state, true).await
    }
}

/// An API caller whose request the page makes on its own (the live message stream): checked
/// like [`ApiCaller`], but a browser session's idle time is not reset by it.
pub struct BackgroundCaller(pub ApiCaller);

impl FromRequestParts<AppState> for BackgroundCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(BackgroundCaller(api_caller(parts, state, false).await?))
    }
}

async fn api_caller(
    parts: &Parts,
    state: &AppState,
    activity: bool,
) -> Result<ApiCaller, ApiError> {
    {
        let client = client(parts);
        let bearer = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(secret) = bearer {
            let route = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
            let principal = state
                .app
                .authenticate_api_token(
                    secret.trim(),
                    &format!("{} {route}", parts.method),
                    &client,
                )
                .await?;
            return Ok(ApiCaller {
                actor: Actor {
                    principal,
                    stepped_up: false,
                    client,
                },
                session: None,
            });
        }
        let session = if activity {
            session_from(parts, state).await?
        } else {
            let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(AppError::Unauthenticated)?;
            state
                .app
                .check_session_in_background(token, &client)
                .await?
        };
        if !session.is_signed_in() {
            return Err(AppError::Unauthenticated.into());
        }
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            check_csrf_header(&parts.headers, &session)?;
        }
        let stepped_up = session.stepped_up(state.app.now());
        Ok(ApiCaller {
            actor: Actor {
                principal: session.principal(),
                stepped_up,
                client,
            },
            session: Some(session),
        })
    }
}

/// A JSON body; malformed JSON or wrong fields give 400 naming the problem, too large 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> Response {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return message_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            true,
            "too_large",
            "the request body is too large",
        );
    }
    let msg = match &r {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with Content-Type: application/json".to_owned()
        }
        other => format!("the JSON body is not valid: {}", other.body_text()),
    };
    message_response(StatusCode::BAD_REQUEST, true, "invalid_json", &msg)
}

/// A form body for pages, carrying the session's CSRF token as `_csrf` when signed in.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(r) => Err(form_rejection(r)),
        }
    }
}

fn form_rejection(r: FormRejection) -> Response {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return message_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            false,
            "too_large",
            "The form is too large.",
        );
    }
    message_response(
        StatusCode::BAD_REQUEST,
        false,
        "invalid_form",
        &format!("The form could not be read: {}", r.body_text()),
    )
}

/// Check the `X-CSRF-Token` header of a script's request against the session's token.
pub fn check_csrf_header(headers: &HeaderMap, session: &CurrentSession) -> Result<(), ApiError> {
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sealroom_crypto::constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError(AppError::InvalidInput(
            "missing or wrong X-CSRF-Token header".into(),
        )))
    }
}

/// Check a form's CSRF token against the session's.
pub fn check_csrf(session: &CurrentSession, sent: &str) -> Result<(), PageError> {
    Ok(csrf_matches(&session.csrf_token, sent)?)
}

/// Whether a form's `_csrf` field is the token its session expects (constant time), with the
/// error a person can act on when it is not. Shared by every kind of session.
pub fn csrf_matches(expected: &str, sent: &str) -> Result<(), AppError> {
    if sealroom_crypto::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(AppError::InvalidInput(
            "the form expired or was not sent from this page; reload the page and try again".into(),
        ))
    }
}

/// A form that carries the session's CSRF token in its `_csrf` field.
pub trait CsrfField {
    fn csrf(&self) -> &str;
}

/// Implement [`CsrfField`] for form structs with a `csrf` field (renamed `_csrf`).
macro_rules! csrf_forms {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::extract::CsrfField for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(crate) use csrf_forms;

/// A form posted by a signed-in person, its CSRF token already checked: a handler taking this
/// cannot forget the check.
pub struct SignedInForm<T>(pub CurrentSession, pub T);

/// A form posted in any session state (enrolment, second factor), CSRF token already checked.
pub struct SessionForm<T>(pub CurrentSession, pub T);

async fn checked_form<T: DeserializeOwned + CsrfField>(
    req: Request,
    state: &AppState,
    signed_in: bool,
) -> Result<(CurrentSession, T), Response> {
    let (parts, body) = req.into_parts();
    let session = session_from(&parts, state)
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    if signed_in && !session.is_signed_in() {
        return Err(PageError::from(AppError::Unauthenticated).into_response());
    }
    let PageForm(form) =
        PageForm::<T>::from_request(Request::from_parts(parts, body), state).await?;
    check_csrf(&session, form.csrf()).map_err(IntoResponse::into_response)?;
    Ok((session, form))
}

impl<T: DeserializeOwned + CsrfField + Send> FromRequest<AppState> for SignedInForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (session, form) = checked_form(req, state, true).await?;
        Ok(SignedInForm(session, form))
    }
}

impl<T: DeserializeOwned + CsrfField + Send> FromRequest<AppState> for SessionForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (session, form) = checked_form(req, state, false).await?;
        Ok(SessionForm(session, form))
    }
}
