//! The patient space's pages, under `/patient`: mobile-first, server-rendered, working without
//! script (which adds passkeys and live message updates), in
//! the patient's language. Element ids and field names are part of the browser-test contract
//! (`e2e/tests/patient-space.test.mjs`).
//!
//! Patient sessions use their own cookie and never open a staff page, nor a staff session a
//! patient page.

mod entry;
pub mod i18n;
mod layout;
mod messages;
mod passkey;
mod space;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use sealroom_app::patient_space::{PatientProblem, PatientSession};
use sealroom_app::AppError;
use sealroom_domain::PasswordRejected;

use crate::error::classify;
use crate::extract::{cookie, set_cookie, CsrfField, PageForm};
use crate::AppState;
use i18n::Lang;

/// The patient session cookie. `__Host-` binds it to this origin, path `/`, Secure.
pub const PATIENT_COOKIE: &str = "__Host-sealroom-patient";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/patient", get(entry::home))
        .route("/patient/sign-in", post(entry::sign_in))
        .route("/patient/sign-in/passkey", post(entry::passkey_sign_in))
        .route(
            "/patient/activate",
            get(entry::activate_form).post(entry::activate),
        )
        .route("/patient/proxy", get(entry::proxy_form).post(entry::proxy))
        .route(
            "/patient/recover",
            get(entry::recover_form).post(entry::recover),
        )
        .route(
            "/patient/recover/code",
            get(entry::recover_code_form).post(entry::recover_code),
        )
        .route(
            "/patient/recover/password",
            get(entry::recover_password_form).post(entry::recover_password),
        )
        .route("/patient/setup", get(entry::setup_form).post(entry::setup))
        .route(
            "/patient/setup/confirm",
            get(entry::setup_confirm_form).post(entry::setup_confirm),
        )
        .route("/patient/code", get(entry::code_form).post(entry::code))
        .route("/patient/code/resend", post(entry::resend))
        .route("/patient/language/{lang}", get(entry::language))
        .route(
            "/patient/passkey/register/start",
            post(passkey::register_start),
        )
        .route(
            "/patient/passkey/register/finish",
            post(passkey::register_finish),
        )
        .route("/patient/passkey/start", post(passkey::start))
        .route("/patient/passkey/finish", post(passkey::finish))
        .route("/patient/documents", get(space::documents))
        .route("/patient/documents/{id}", get(space::document))
        .route("/patient/documents/{id}/download", get(space::download))
        .route("/patient/messages", get(messages::list))
        .route("/patient/messages/events", get(messages::events))
        .route(
            "/patient/messages/attachments/{id}",
            get(messages::attachment),
        )
        .route(
            "/patient/messages/{id}",
            get(messages::thread).post(axum::handler::Handler::layer(
                messages::reply,
                axum::extract::DefaultBodyLimit::disable(),
            )),
        )
        .route("/patient/history", get(space::history))
        .route("/patient/account", get(space::account))
        .route(
            "/patient/account/reauthenticate",
            post(space::reauthenticate),
        )
        .route(
            "/patient/account/confirm",
            get(space::reauthenticate_code_form).post(space::reauthenticate_code),
        )
        .route("/patient/proxies/{id}/revoke", post(space::revoke_proxy))
        .route("/patient/sign-out", post(space::sign_out))
        .route(
            "/patient/sign-out-everywhere",
            post(space::sign_out_everywhere),
        )
}

/// A patient page's failure, answered in the patient's language. Session problems become a
/// redirect to the right step.
pub struct PatientError {
    pub error: AppError,
    pub lang: Lang,
}

impl PatientError {
    pub fn new(error: impl Into<AppError>, lang: Lang) -> Self {
        PatientError {
            error: error.into(),
            lang,
        }
    }
}

/// The message for a failure, in `lang`: never a detail the patient could not act on.
pub fn error_message(lang: Lang, e: &AppError) -> String {
    let key = match e {
        AppError::SignInFailed => "error-sign-in-failed",
        AppError::PatientSpace(p) => match p {
            PatientProblem::SlipWrong => "error-slip-wrong",
            PatientProblem::SlipNoLonger => "error-slip-no-longer",
            PatientProblem::CodeWrong { tries_left } => {
                return lang.t_with("error-code-wrong", &[("tries", (*tries_left).into())])
            }
            PatientProblem::CodeNoLonger => "error-code-no-longer",
            PatientProblem::CodeLimit => "error-code-limit",
            PatientProblem::NothingPending => "error-nothing-pending",
            PatientProblem::ContactNotVerified => "error-contact-not-verified",
            PatientProblem::ChooseFactor => "error-choose-factor",
            PatientProblem::ChooseContact => "error-choose-contact",
            PatientProblem::AppCodeWrong => "error-app-code-wrong",
            PatientProblem::AppCodeUsed => "error-app-code-used",
            PatientProblem::SpaceClosed => "error-space-closed",
            PatientProblem::Paused => "error-paused",
            PatientProblem::TooManyTries => "error-too-many-tries",
            PatientProblem::UsePasskey => "error-use-passkey",
            PatientProblem::PasskeyFailed => "error-passkey-failed",
            PatientProblem::RecoveryAtDesk => "error-recovery-at-desk",
            PatientProblem::RecoveryPasskeyAtDesk => "error-recovery-passkey-at-desk",
            _ => "error-invalid",
        },
        AppError::Password(r) => match r {
            PasswordRejected::TooShort => "error-password-too-short",
            PasswordRejected::TooLong => "error-password-too-long",
            PasswordRejected::Mismatch => "error-password-mismatch",
            PasswordRejected::Common => "error-password-common",
            PasswordRejected::ContainsContext => "error-password-context",
            _ => "error-password-guessable",
        },
        AppError::NotFound => "error-not-found",
        AppError::Forbidden => "error-forbidden",
        AppError::Integrity(_) => "error-integrity",
        AppError::Gone(_) => "error-gone",
        AppError::Unavailable(_) => "error-unavailable",
        AppError::Conflict(_) => "error-conflict",
        AppError::InvalidInput(_) => "error-invalid",
        AppError::TooLarge(_) => "error-too-large",
        _ => "error-internal",
    };
    lang.t(key)
}

impl IntoResponse for PatientError {
    fn into_response(self) -> Response {
        match &self.error {
            AppError::Unauthenticated => return Redirect::to("/patient").into_response(),
            AppError::SessionEnded(_) => {
                return (
                    [(SET_COOKIE, crate::extract::clear_cookie(PATIENT_COOKIE))],
                    Redirect::to("/patient?ended=1"),
                )
                    .into_response()
            }
            AppError::StepUpRequired => {
                return Redirect::to("/patient/account?reauthenticate=1").into_response()
            }
            _ => {}
        }
        let (status, _) = classify(&self.error);
        let lang = self.lang;
        let title = lang.t("error-title");
        let body = maud::html! {
            h1 { (title) }
            p.alert role="alert" { (error_message(lang, &self.error)) }
            p { a href="/patient" { (lang.t("error-back")) } }
        };
        let r = (status, layout::page(lang, &title, None, "/patient", body)).into_response();
        crate::error::with_cause(r, &self.error)
    }
}

/// The patient session of this request, if any (whatever its state).
async fn session_of(parts: &Parts, state: &AppState) -> Result<Option<PatientSession>, AppError> {
    let Some(token) = cookie(&parts.headers, PATIENT_COOKIE) else {
        return Ok(None);
    };
    let client = parts
        .extensions
        .get::<sealroom_app::Client>()
        .cloned()
        .unwrap_or_default();
    state
        .app
        .check_patient_session(token, &client)
        .await
        .map(Some)
}

/// A patient session in any state (activating, waiting for a code, signed in).
pub struct Patient(pub PatientSession, pub Lang);

impl FromRequestParts<AppState> for Patient {
    type Rejection = PatientError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(lang) = Lang::from_request_parts(parts, state).await;
        match session_of(parts, state).await {
            Ok(Some(s)) => Ok(Patient(s, lang)),
            Ok(None) => Err(PatientError::new(AppError::Unauthenticated, lang)),
            Err(e) => Err(PatientError::new(e, lang)),
        }
    }
}

/// A signed-in patient whose request the page makes on its own (the live message stream): the
/// session is checked, but its idle time is not reset.
pub struct BackgroundPatient(pub PatientSession, pub Lang);

impl FromRequestParts<AppState> for BackgroundPatient {
    type Rejection = PatientError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(lang) = Lang::from_request_parts(parts, state).await;
        let token = cookie(&parts.headers, PATIENT_COOKIE)
            .ok_or_else(|| PatientError::new(AppError::Unauthenticated, lang))?;
        let client = parts
            .extensions
            .get::<sealroom_app::Client>()
            .cloned()
            .unwrap_or_default();
        let session = state
            .app
            .check_patient_session_in_background(token, &client)
            .await
            .map_err(|e| PatientError::new(e, lang))?;
        if !session.is_signed_in() {
            return Err(PatientError::new(AppError::Unauthenticated, lang));
        }
        Ok(BackgroundPatient(session, lang))
    }
}

/// A signed-in patient.
pub struct SignedInPatient(pub PatientSession, pub Lang);

impl FromRequestParts<AppState> for SignedInPatient {
    type Rejection = PatientError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Patient(s, lang) = Patient::from_request_parts(parts, state).await?;
        if !s.is_signed_in() {
            return Err(PatientError::new(AppError::Unauthenticated, lang));
        }
        Ok(SignedInPatient(s, lang))
    }
}

/// A form posted in a patient session, its CSRF token checked.
pub struct PatientForm<T>(pub PatientSession, pub Lang, pub T);

impl<T: DeserializeOwned + CsrfField + Send> FromRequest<AppState> for PatientForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Patient(session, lang) = Patient::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let PageForm(form) =
            PageForm::<T>::from_request(Request::from_parts(parts, body), state).await?;
        if !sealroom_crypto::constant_time_eq(form.csrf().as_bytes(), session.csrf_token.as_bytes())
        {
            return Err(PatientError::new(
                AppError::InvalidInput("the form expired; reload the page".into()),
                lang,
            )
            .into_response());
        }
        Ok(PatientForm(session, lang, form))
    }
}

/// Redirect after a POST, setting a new patient session cookie.
fn redirect_with_session(to: &str, token: &str) -> Response {
    (
        [(SET_COOKIE, set_cookie(PATIENT_COOKIE, token, None))],
        Redirect::to(to),
    )
        .into_response()
}
