//! Getting in: the welcome page with sign-in, activation with an access slip, setting up a
//! sign-in method, the code step, and the language switch.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use sealroom_app::patient_space::activation::PASSKEY_ONLY;
use sealroom_app::patient_space::sessions::IssuedPatientSession;
use sealroom_app::patient_space::sign_in::CodeSent;
use sealroom_app::patient_space::{PatientSession, PatientSessionState, SecondFactor};
use sealroom_app::AppError;

use super::i18n::{Lang, LANGUAGE_COOKIE};
use super::layout::{alert, csrf, notice, page};
use super::{error_message, redirect_with_session, session_of, Patient, PatientError, PatientForm};
use crate::error::classify;
use crate::extract::{csrf_forms, set_cookie, ClientInfo, PageForm};
use crate::AppState;

/// Where a session in `state` belongs.
fn place_of(state: PatientSessionState) -> &'static str {
    match state {
        PatientSessionState::SignedIn => "/patient/documents",
        PatientSessionState::SecondFactor => "/patient/code",
        PatientSessionState::Activating => "/patient/setup",
        PatientSessionState::Recovering => "/patient/recover/code",
    }
}

#[derive(Deserialize)]
pub struct HomeQuery {
    ended: Option<String>,
}

pub struct MaybePatient(Option<PatientSession>);

impl FromRequestParts<AppState> for MaybePatient {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybePatient(session_of(parts, state).await.ok().flatten()))
    }
}

fn sign_in_markup(lang: Lang, error: Option<&str>, info: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("home-title")) }
        (notice(info))
        section aria-labelledby="sign-in-heading" {
            h2 #sign-in-heading { (lang.t("sign-in-title")) }
            (alert(error))
            form #patient-sign-in method="post" action="/patient/sign-in" {
                label for="patient_number" { (lang.t("field-patient-id")) }
                input #patient_number type="text" name="patient_number" required autocomplete="username" autocapitalize="characters" spellcheck="false";
                label for="test_reference" { (lang.t("field-test-id")) }
                input #test_reference type="text" name="test_reference" required autocomplete="off" autocapitalize="characters" spellcheck="false";
                label for="password" { (lang.t("field-password")) }
                input #password type="password" name="password" required autocomplete="current-password";
                button #sign-in-submit type="submit" { (lang.t("sign-in-button")) }
            }
            p.hint { (lang.t("sign-in-forgot")) " " a #recover-link href="/patient/recover" { (lang.t("recover-link")) } }
        }
        section aria-labelledby="passkey-sign-in-heading" {
            h2 #passkey-sign-in-heading { (lang.t("sign-in-passkey-title")) }
            p { (lang.t("sign-in-passkey-text")) }
            form #patient-passkey-sign-in method="post" action="/patient/sign-in/passkey" {
                label for="passkey_patient_number" { (lang.t("field-patient-id")) }
                input #passkey_patient_number type="text" name="patient_number" required autocomplete="off" autocapitalize="characters" spellcheck="false";
                label for="passkey_test_reference" { (lang.t("field-test-id")) }
                input #passkey_test_reference type="text" name="test_reference" required autocomplete="off" autocapitalize="characters" spellcheck="false";
                button #passkey-sign-in-submit type="submit" { (lang.t("sign-in-passkey-button")) }
            }
        }
        section aria-labelledby="first-time-heading" {
            h2 #first-time-heading { (lang.t("first-time-title")) }
            p { (lang.t("first-time-text")) }
            a #activate-link.button href="/patient/activate" { (lang.t("first-time-button")) }
        }
        section aria-labelledby="proxy-heading" {
            h2 #proxy-heading { (lang.t("home-proxy-title")) }
            p { (lang.t("home-proxy-sign-in")) }
            form #proxy-sign-in method="post" action="/patient/sign-in" {
                input type="hidden" name="patient_number" value="";
                label for="proxy_reference" { (lang.t("field-invitation-reference")) }
                input #proxy_reference type="text" name="test_reference" required autocomplete="username" autocapitalize="characters" spellcheck="false";
                label for="proxy_password" { (lang.t("field-password")) }
                input #proxy_password type="password" name="password" required autocomplete="current-password";
                button #proxy-sign-in-submit type="submit" { (lang.t("sign-in-button")) }
            }
            p { (lang.t("home-proxy-text")) }
            a #proxy-link.button href="/patient/proxy" { (lang.t("home-proxy-button")) }
        }
    }
}

fn proxy_markup(lang: Lang, error: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("proxy-title")) }
        p { (lang.t("proxy-intro")) }
        (alert(error))
        form #proxy-activate method="post" action="/patient/proxy" {
            label for="invitation_reference" { (lang.t("field-invitation-reference")) }
            input #invitation_reference type="text" name="invitation_reference" required autocomplete="off" autocapitalize="characters" spellcheck="false";
            label for="invitation_code" { (lang.t("field-invitation-code")) }
            input #invitation_code type="text" name="invitation_code" required autocomplete="off" autocapitalize="characters" spellcheck="false";
            button #proxy-submit type="submit" { (lang.t("activate-button")) }
        }
    }
}

pub async fn proxy_form(lang: Lang) -> Response {
    page(
        lang,
        &lang.t("proxy-title"),
        None,
        "/patient/proxy",
        proxy_markup(lang, None),
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct ProxyForm {
    invitation_reference: String,
    invitation_code: String,
}

pub async fn proxy(
    State(s): State<AppState>,
    lang: Lang,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<ProxyForm>,
) -> Response {
    match s
        .app
        .activate_proxy_invitation(&f.invitation_reference, &f.invitation_code, &client)
        .await
    {
        Ok(issued) => redirect_with_session("/patient/setup", &issued.token),
        Err(e) => {
            let message = error_message(lang, &e);
            refused(
                lang,
                &e,
                &lang.t("proxy-title"),
                "/patient/proxy",
                proxy_markup(lang, Some(&message)),
            )
        }
    }
}

pub async fn home(
    lang: Lang,
    MaybePatient(session): MaybePatient,
    Query(q): Query<HomeQuery>,
) -> Response {
    if let Some(s) = session {
        return Redirect::to(place_of(s.state)).into_response();
    }
    let ended = q.ended.as_ref().map(|_| lang.t("session-ended"));
    page(
        lang,
        &lang.t("home-title"),
        None,
        "/patient",
        sign_in_markup(lang, None, ended.as_deref()),
    )
    .into_response()
}

/// A form page again, with what went wrong, and the status the error deserves.
fn refused(lang: Lang, e: &AppError, title: &str, here: &str, body: Markup) -> Response {
    let (status, _) = classify(e);
    (status, page(lang, title, None, here, body)).into_response()
}

#[derive(Deserialize)]
pub struct PasskeySignInForm {
    patient_number: String,
    test_reference: String,
}

/// `POST /patient/sign-in/passkey`: an account whose only method is a passkey; the passkey is
/// asked for on the code page.
pub async fn passkey_sign_in(
    State(s): State<AppState>,
    lang: Lang,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<PasskeySignInForm>,
) -> Response {
    let started = s
        .app
        .patient_passkey_sign_in(&f.patient_number, &f.test_reference, &client)
        .await;
    sign_in_answer(lang, started)
}

/// The answer to a sign-in's first step: on to the code (or passkey) page, or the welcome page
/// again with the reason.
fn sign_in_answer(
    lang: Lang,
    started: Result<(IssuedPatientSession, CodeSent), AppError>,
) -> Response {
    match started {
        Ok((issued, _)) => redirect_with_session("/patient/code", &issued.token),
        Err(e) => {
            let message = error_message(lang, &e);
            refused(
                lang,
                &e,
                &lang.t("home-title"),
                "/patient",
                sign_in_markup(lang, Some(&message), None),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct SignInForm {
    patient_number: String,
    test_reference: String,
    password: String,
}

pub async fn sign_in(
    State(s): State<AppState>,
    lang: Lang,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<SignInForm>,
) -> Response {
    let started = s
        .app
        .patient_sign_in(&f.patient_number, &f.test_reference, &f.password, &client)
        .await;
    sign_in_answer(lang, started)
}

fn activate_markup(lang: Lang, error: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("activate-title")) }
        p { (lang.t("activate-intro")) }
        (alert(error))
        form #activate method="post" action="/patient/activate" {
            label for="patient_number" { (lang.t("field-patient-id")) }
            p #patient-number-hint.hint { (lang.t("activate-patient-id-hint")) }
            input #patient_number type="text" name="patient_number" autocomplete="off" autocapitalize="characters" spellcheck="false" aria-describedby="patient-number-hint";
            label for="test_reference" { (lang.t("field-test-id")) }
            input #test_reference type="text" name="test_reference" required autocomplete="off" autocapitalize="characters" spellcheck="false";
            label for="activation_code" { (lang.t("field-activation-code")) }
            p #activation-code-hint.hint { (lang.t("activation-code-hint")) }
            input #activation_code type="text" name="activation_code" required autocomplete="off" autocapitalize="characters" spellcheck="false" aria-describedby="activation-code-hint";
            button #activate-submit type="submit" { (lang.t("activate-button")) }
        }
        p.hint { (lang.t("activate-lost-slip")) }
    }
}

pub async fn activate_form(lang: Lang) -> Response {
    page(
        lang,
        &lang.t("activate-title"),
        None,
        "/patient/activate",
        activate_markup(lang, None),
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct ActivateForm {
    patient_number: String,
    test_reference: String,
    activation_code: String,
}

pub async fn activate(
    State(s): State<AppState>,
    lang: Lang,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<ActivateForm>,
) -> Response {
    match s
        .app
        .activate_patient_space(
            &f.patient_number,
            &f.test_reference,
            &f.activation_code,
            &client,
        )
        .await
    {
        Ok(issued) => redirect_with_session("/patient/setup", &issued.token),
        Err(e) => {
            let message = error_message(lang, &e);
            refused(
                lang,
                &e,
                &lang.t("activate-title"),
                "/patient/activate",
                activate_markup(lang, Some(&message)),
            )
        }
    }
}

/// The label of a method choice: how codes will come.
fn method_label(lang: Lang, factor: SecondFactor, to: Option<&str>) -> String {
    match (factor, to) {
        (SecondFactor::Totp, _) => lang.t("method-totp"),
        (SecondFactor::Passkey, _) => lang.t("method-passkey"),
        (SecondFactor::Sms, Some(to)) => {
            lang.t_with("method-sms-to", &[("to", to.to_owned().into())])
        }
        (SecondFactor::Email, Some(to)) => {
            lang.t_with("method-email-to", &[("to", to.to_owned().into())])
        }
        (SecondFactor::Sms, None) => lang.t("method-sms"),
        (SecondFactor::Email, None) => lang.t("method-email"),
    }
}

async fn setup_markup(
    s: &AppState,
    session: &PatientSession,
    lang: Lang,
    error: Option<&str>,
) -> Result<Markup, AppError> {
    let choices = s.app.patient_factor_choices(session).await?;
    let offers_passkey = choices.iter().any(|c| c.factor == SecondFactor::Passkey)
        && s.app.may_choose_passkey_alone(session);
    let changing = session.state == PatientSessionState::SignedIn;
    let mut first = true;
    Ok(html! {
        h1 { (lang.t(if changing { "setup-change-title" } else { "setup-title" })) }
        p { (lang.t("setup-intro")) }
        (alert(error))
        form #setup method="post" action="/patient/setup" {
            (csrf(session))
            label for="password" { (lang.t("field-new-password")) }
            p #password-hint.hint {
                (lang.t("password-hint"))
                @if offers_passkey { " " (lang.t("password-hint-passkey-only")) }
            }
            input #password type="password" name="password" required[!offers_passkey] autocomplete="new-password" aria-describedby="password-hint";
            label for="confirmation" { (lang.t("field-password-again")) }
            input #confirmation type="password" name="confirmation" required[!offers_passkey] autocomplete="new-password";
            fieldset {
                legend { (lang.t("setup-method-legend")) }
                @for choice in &choices {
                    @if choice.contacts.is_empty() {
                        div.choice {
                            input type="radio" name="method" id={"method-" (choice.factor.as_str())} value=(choice.factor.as_str()) required checked[std::mem::take(&mut first)];
                            label for={"method-" (choice.factor.as_str())} { (method_label(lang, choice.factor, None)) }
                        }
                    }
                    @for (id, to) in &choice.contacts {
                        div.choice {
                            input type="radio" name="method" id={"method-" (choice.factor.as_str()) "-" (id)} value={(choice.factor.as_str()) ":" (id)} required checked[std::mem::take(&mut first)];
                            label for={"method-" (choice.factor.as_str()) "-" (id)} { (method_label(lang, choice.factor, Some(to))) }
                        }
                    }
                }
                @if offers_passkey {
                    div.choice {
                        input type="radio" name="method" id="method-passkey-only" value=(PASSKEY_ONLY) required;
                        label for="method-passkey-only" { (lang.t("method-passkey-only")) }
                    }
                }
            }
            button #setup-submit type="submit" { (lang.t("setup-button")) }
        }
    })
}

pub async fn setup_form(
    State(s): State<AppState>,
    Patient(session, lang): Patient,
) -> Result<Response, PatientError> {
    match session.state {
        PatientSessionState::Activating => {}
        PatientSessionState::SignedIn if session.stepped_up(s.app.now()) => {}
        PatientSessionState::SignedIn => {
            return Err(PatientError::new(AppError::StepUpRequired, lang))
        }
        other => return Ok(Redirect::to(place_of(other)).into_response()),
    }
    let body = setup_markup(&s, &session, lang, None)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok(page(
        lang,
        &lang.t("setup-title"),
        Some(&session),
        "/patient/setup",
        body,
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    password: String,
    confirmation: String,
    #[serde(default)]
    method: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    pub(super) code: String,
}

#[derive(Deserialize)]
pub struct EmptyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

csrf_forms!(SetupForm, CodeForm, EmptyForm);

pub async fn setup(
    State(s): State<AppState>,
    PatientForm(session, lang, f): PatientForm<SetupForm>,
) -> Result<Response, PatientError> {
    let (factor, contact) = match f.method.split_once(':') {
        Some((factor, contact)) => (factor, Some(contact)),
        None => (f.method.as_str(), None),
    };
    match s
        .app
        .begin_patient_setup(&session, &f.password, &f.confirmation, factor, contact)
        .await
    {
        Ok(_) => Ok(Redirect::to("/patient/setup/confirm").into_response()),
        Err(
            e @ (AppError::StepUpRequired | AppError::Unauthenticated | AppError::SessionEnded(_)),
        ) => Err(PatientError::new(e, lang)),
        Err(e) => {
            let message = error_message(lang, &e);
            let body = setup_markup(&s, &session, lang, Some(&message))
                .await
                .map_err(|e| PatientError::new(e, lang))?;
            let (status, _) = classify(&e);
            Ok((
                status,
                page(
                    lang,
                    &lang.t("setup-title"),
                    Some(&session),
                    "/patient/setup",
                    body,
                ),
            )
                .into_response())
        }
    }
}

/// Where the code went, in words.
fn code_sent_text(lang: Lang, sent: &CodeSent) -> String {
    match (&sent.factor, &sent.to) {
        (SecondFactor::Passkey, _) => lang.t("code-from-passkey"),
        (SecondFactor::Totp, _) | (_, None) => lang.t("code-from-app"),
        (SecondFactor::Sms, Some(to)) => lang.t_with("code-sent-sms", &[("to", to.clone().into())]),
        (SecondFactor::Email, Some(to)) => {
            lang.t_with("code-sent-email", &[("to", to.clone().into())])
        }
    }
}

/// A code form: where the code went, the field, and (for sent codes) "send a new code".
pub(super) fn code_markup(
    lang: Lang,
    session: &PatientSession,
    sent: &CodeSent,
    action: &str,
    error: Option<&str>,
) -> Markup {
    if sent.factor == SecondFactor::Passkey {
        // No code: the browser asks the passkey (the page's script, /assets/app.js).
        return html! {
            p #code-sent { (code_sent_text(lang, sent)) }
            (alert(error))
            button #patient-passkey type="button" { (lang.t("passkey-use")) }
        };
    }
    html! {
        p #code-sent { (code_sent_text(lang, sent)) }
        (alert(error))
        form #code-form method="post" action=(action) {
            (csrf(session))
            label for="code" { (lang.t("field-code")) }
            input #code type="text" name="code" required inputmode="numeric" pattern="[0-9 ]*" autocomplete="one-time-code" maxlength="7";
            button #code-submit type="submit" { (lang.t("code-button")) }
        }
        @if sent.factor != SecondFactor::Totp && sent.factor != SecondFactor::Passkey {
            form #resend-form method="post" action="/patient/code/resend" {
                (csrf(session))
                button #resend.secondary type="submit" { (lang.t("code-resend")) }
            }
        }
    }
}

async fn setup_confirm_markup(
    s: &AppState,
    session: &PatientSession,
    lang: Lang,
    error: Option<&str>,
) -> Result<Markup, AppError> {
    let sent = s.app.patient_code_target(session).await?;
    let totp = s.app.patient_setup_totp(session);
    if sent.factor == SecondFactor::Passkey {
        return Ok(html! {
            h1 { (lang.t("setup-confirm-title")) }
            p { (lang.t("passkey-create-instructions")) }
            (alert(error))
            button #patient-passkey-register type="button" data-patient-passkey-register { (lang.t("passkey-create")) }
        });
    }
    Ok(html! {
        h1 { (lang.t("setup-confirm-title")) }
        @if let Some(t) = &totp {
            p { (lang.t("totp-instructions")) }
            img #totp-qr src=(t.qr_data_uri) alt=(lang.t("totp-qr-alt")) width="200" height="200";
            p { (lang.t("totp-key")) " " code #totp-secret { (t.secret_base32) } }
        }
        (code_markup(lang, session, &sent, "/patient/setup/confirm", error))
    })
}

pub async fn setup_confirm_form(
    State(s): State<AppState>,
    Patient(session, lang): Patient,
) -> Result<Response, PatientError> {
    let body = setup_confirm_markup(&s, &session, lang, None)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok(page(
        lang,
        &lang.t("setup-confirm-title"),
        Some(&session),
        "/patient/setup/confirm",
        body,
    )
    .into_response())
}

pub async fn setup_confirm(
    State(s): State<AppState>,
    PatientForm(session, lang, f): PatientForm<CodeForm>,
) -> Result<Response, PatientError> {
    match s.app.confirm_patient_setup(&session, &f.code).await {
        Ok(token) => Ok(redirect_with_session(
            "/patient/documents?welcome=1",
            &token,
        )),
        Err(e @ (AppError::PatientSpace(_) | AppError::InvalidInput(_))) => {
            let message = error_message(lang, &e);
            let body = setup_confirm_markup(&s, &session, lang, Some(&message))
                .await
                .map_err(|e| PatientError::new(e, lang))?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(
                    lang,
                    &lang.t("setup-confirm-title"),
                    Some(&session),
                    "/patient/setup/confirm",
                    body,
                ),
            )
                .into_response())
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}

/// A page asking for the code of the current step (sign-in, recovery, re-authentication):
/// where it went, the field, and "send a new code" when it is sent.
pub(super) async fn code_step_page(
    s: &AppState,
    session: &PatientSession,
    lang: Lang,
    title_key: &str,
    action: &str,
    error: Option<&str>,
) -> Result<Markup, PatientError> {
    let sent = s
        .app
        .patient_code_target(session)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    let title = lang.t(title_key);
    Ok(page(
        lang,
        &title,
        Some(session),
        action,
        html! {
            h1 { (title) }
            (code_markup(lang, session, &sent, action, error))
        },
    ))
}

pub async fn code_form(
    State(s): State<AppState>,
    Patient(session, lang): Patient,
) -> Result<Response, PatientError> {
    if session.state != PatientSessionState::SecondFactor {
        return Ok(Redirect::to(place_of(session.state)).into_response());
    }
    Ok(
        code_step_page(&s, &session, lang, "code-title", "/patient/code", None)
            .await?
            .into_response(),
    )
}

pub async fn code(
    State(s): State<AppState>,
    PatientForm(session, lang, f): PatientForm<CodeForm>,
) -> Result<Response, PatientError> {
    match s.app.patient_second_factor(&session, &f.code).await {
        Ok(token) => Ok(redirect_with_session("/patient/documents", &token)),
        Err(e @ (AppError::PatientSpace(_) | AppError::InvalidInput(_))) => {
            let message = error_message(lang, &e);
            let page = code_step_page(
                &s,
                &session,
                lang,
                "code-title",
                "/patient/code",
                Some(&message),
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}

/// Send a new code, then back to the page that asks for it.
pub async fn resend(
    State(s): State<AppState>,
    PatientForm(session, lang, _): PatientForm<EmptyForm>,
) -> Result<Response, PatientError> {
    let (back, title) = match session.state {
        PatientSessionState::SecondFactor => ("/patient/code", "code-title"),
        PatientSessionState::Activating => ("/patient/setup/confirm", "setup-confirm-title"),
        PatientSessionState::Recovering => ("/patient/recover/code", "recover-title"),
        PatientSessionState::SignedIn => ("/patient/account/confirm", "reauth-title"),
    };
    match s.app.resend_patient_code(&session).await {
        Ok(_) => Ok(Redirect::to(back).into_response()),
        Err(e @ AppError::PatientSpace(_)) => {
            let message = error_message(lang, &e);
            let page = code_step_page(&s, &session, lang, title, back, Some(&message)).await?;
            Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response())
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}

#[derive(Deserialize)]
pub struct LanguageQuery {
    back: Option<String>,
}

/// Remember the chosen language (a year) and go back to the page it was chosen on.
pub async fn language(Path(code): Path<String>, Query(q): Query<LanguageQuery>) -> Response {
    let back = q
        .back
        .filter(|b| b.starts_with("/patient") && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/patient".into());
    match Lang::parse(&code) {
        Some(lang) => (
            [(
                SET_COOKIE,
                set_cookie(LANGUAGE_COOKIE, lang.code(), Some(365 * 24 * 3600)),
            )],
            Redirect::to(&back),
        )
            .into_response(),
        None => Redirect::to(&back).into_response(),
    }
}

fn recover_markup(lang: Lang, error: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("recover-title")) }
        p { (lang.t("recover-intro")) }
        (alert(error))
        form #recover method="post" action="/patient/recover" {
            label for="patient_number" { (lang.t("field-patient-id")) }
            input #patient_number type="text" name="patient_number" required autocomplete="username" autocapitalize="characters" spellcheck="false";
            label for="account_reference" { (lang.t("field-account-id")) }
            input #account_reference type="text" name="account_reference" required autocomplete="off" autocapitalize="characters" spellcheck="false";
            button #recover-submit type="submit" { (lang.t("sign-in-button")) }
        }
    }
}

pub async fn recover_form(lang: Lang) -> Response {
    page(
        lang,
        &lang.t("recover-title"),
        None,
        "/patient/recover",
        recover_markup(lang, None),
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct RecoverForm {
    patient_number: String,
    account_reference: String,
}

pub async fn recover(
    State(s): State<AppState>,
    lang: Lang,
    ClientInfo(client): ClientInfo,
    PageForm(f): PageForm<RecoverForm>,
) -> Response {
    match s
        .app
        .start_patient_recovery(&f.patient_number, &f.account_reference, &client)
        .await
    {
        Ok((issued, _)) => redirect_with_session("/patient/recover/code", &issued.token),
        Err(e) => {
            let message = error_message(lang, &e);
            refused(
                lang,
                &e,
                &lang.t("recover-title"),
                "/patient/recover",
                recover_markup(lang, Some(&message)),
            )
        }
    }
}

pub async fn recover_code_form(
    State(s): State<AppState>,
    Patient(session, lang): Patient,
) -> Result<Response, PatientError> {
    use sealroom_app::patient_space::recovery::RecoveryStage;
    match s.app.patient_recovery_stage(&session) {
        None => return Ok(Redirect::to(place_of(session.state)).into_response()),
        Some(RecoveryStage::Password) => {
            return Ok(Redirect::to("/patient/recover/password").into_response())
        }
        Some(_) => {}
    }
    Ok(code_step_page(
        &s,
        &session,
        lang,
        "recover-title",
        "/patient/recover/code",
        None,
    )
    .await?
    .into_response())
}

pub async fn recover_code(
    State(s): State<AppState>,
    PatientForm(session, lang, f): PatientForm<CodeForm>,
) -> Result<Response, PatientError> {
    use sealroom_app::patient_space::recovery::RecoveryStage;
    match s.app.patient_recovery_code(&session, &f.code).await {
        Ok(RecoveryStage::Password) => {
            Ok(Redirect::to("/patient/recover/password").into_response())
        }
        Ok(_) => Ok(Redirect::to("/patient/recover/code").into_response()),
        Err(e @ AppError::PatientSpace(_)) => {
            let message = error_message(lang, &e);
            let page = code_step_page(
                &s,
                &session,
                lang,
                "recover-title",
                "/patient/recover/code",
                Some(&message),
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}

fn recover_password_markup(lang: Lang, session: &PatientSession, error: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("recover-password-title")) }
        (alert(error))
        form #recover-password method="post" action="/patient/recover/password" {
            (csrf(session))
            label for="password" { (lang.t("field-new-password")) }
            p #password-hint.hint { (lang.t("password-hint")) }
            input #password type="password" name="password" required autocomplete="new-password" aria-describedby="password-hint";
            label for="confirmation" { (lang.t("field-password-again")) }
            input #confirmation type="password" name="confirmation" required autocomplete="new-password";
            button #recover-password-submit type="submit" { (lang.t("recover-password-button")) }
        }
    }
}

pub async fn recover_password_form(
    State(s): State<AppState>,
    Patient(session, lang): Patient,
) -> Result<Response, PatientError> {
    if s.app.patient_recovery_stage(&session)
        != Some(sealroom_app::patient_space::recovery::RecoveryStage::Password)
    {
        return Ok(Redirect::to(place_of(session.state)).into_response());
    }
    Ok(page(
        lang,
        &lang.t("recover-password-title"),
        Some(&session),
        "/patient/recover/password",
        recover_password_markup(lang, &session, None),
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    password: String,
    confirmation: String,
}

csrf_forms!(NewPasswordForm);

pub async fn recover_password(
    State(s): State<AppState>,
    PatientForm(session, lang, f): PatientForm<NewPasswordForm>,
) -> Result<Response, PatientError> {
    match s
        .app
        .finish_patient_recovery(&session, &f.password, &f.confirmation)
        .await
    {
        Ok(token) => Ok(redirect_with_session("/patient/documents", &token)),
        Err(e @ AppError::Password(_)) => {
            let message = error_message(lang, &e);
            Ok((
                StatusCode::BAD_REQUEST,
                page(
                    lang,
                    &lang.t("recover-password-title"),
                    Some(&session),
                    "/patient/recover/password",
                    recover_password_markup(lang, &session, Some(&message)),
                ),
            )
                .into_response())
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}
