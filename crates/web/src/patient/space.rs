//! Inside the patient space: documents, the access history, the account (sign-in method,
//! contacts, sessions), signing out.

use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use sealroom_app::patient_space::records::PatientDocument;
use sealroom_app::patient_space::SecondFactor;
use sealroom_app::AppError;

use super::entry::{code_step_page, CodeForm, EmptyForm};
use super::i18n::Lang;
use super::layout::{alert, csrf, notice, page, size, when};
use super::{
    error_message, redirect_with_session, PatientError, PatientForm, SignedInPatient,
    PATIENT_COOKIE,
};
use crate::extract::{clear_cookie, csrf_forms};
use crate::AppState;

fn signature_mark(lang: Lang, d: &PatientDocument) -> Markup {
    let verified = d.signature == "verified";
    html! {
        p.signature.ok[verified].bad[!verified] {
            @if verified {
                span aria-hidden="true" { "✓ " }
                (lang.t_with("signature-verified", &[("signer", d.signer_name.clone().into())]))
            } @else {
                span aria-hidden="true" { "⚠ " }
                (lang.t("signature-not-verified"))
            }
        }
    }
}

#[derive(Deserialize)]
pub struct WelcomeQuery {
    welcome: Option<String>,
}

pub async fn documents(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
    Query(q): Query<WelcomeQuery>,
) -> Result<Response, PatientError> {
    let docs = s
        .app
        .patient_documents(&session)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    let welcome = q.welcome.as_ref().map(|_| lang.t("welcome"));
    let body = html! {
        h1 { (lang.t("documents-title")) }
        (notice(welcome.as_deref()))
        @if docs.is_empty() {
            p #no-documents { (lang.t("documents-none")) }
        } @else {
            ul #documents.doc-list {
                @for d in &docs {
                    li {
                        h2 { a href={"/patient/documents/" (d.id)} { (d.title) } }
                        p.hint {
                            (lang.t(&format!("kind-{}", d.kind)))
                            @if let Some(at) = d.released_at { " · " (lang.t_with("released-on", &[("when", when(lang, at).into())])) }
                        }
                        (signature_mark(lang, d))
                    }
                }
            }
        }
    };
    Ok(page(
        lang,
        &lang.t("documents-title"),
        Some(&session),
        "/patient/documents",
        body,
    )
    .into_response())
}

pub async fn document(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
    Path(id): Path<String>,
) -> Result<Response, PatientError> {
    let d = s
        .app
        .patient_document(&session, &id)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    let here = format!("/patient/documents/{}", d.id);
    let body = html! {
        p { a href="/patient/documents" { "← " (lang.t("back-to-documents")) } }
        h1 #document-title { (d.title) }
        (signature_mark(lang, &d))
        dl.details {
            dt { (lang.t("doc-kind")) } dd { (lang.t(&format!("kind-{}", d.kind))) }
            dt { (lang.t("doc-category")) } dd { (lang.t(&format!("category-{}", d.category.as_str()))) }
            @if let Some(at) = d.released_at { dt { (lang.t("doc-released")) } dd { (when(lang, at)) } }
            dt { (lang.t("doc-author")) } dd { (d.author_name) }
            dt { (lang.t("doc-signed")) } dd { (d.signer_name) ", " (when(lang, d.signed_at)) }
            dt { (lang.t("doc-file")) } dd { (d.filename) " (" (size(lang, d.size)) ")" }
        }
        a #download.button href={"/patient/documents/" (d.id) "/download"} download { (lang.t("download")) }
        p.hint { (lang.t("download-hint")) }
    };
    Ok(page(lang, &d.title, Some(&session), &here, body).into_response())
}

pub async fn download(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
    Path(id): Path<String>,
) -> Result<Response, PatientError> {
    let d = s
        .app
        .patient_download(&session, &id)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok(crate::api::documents::download_response(d))
}

pub async fn history(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
) -> Result<Response, PatientError> {
    let entries = s
        .app
        .patient_access_history(&session)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    let body = html! {
        h1 { (lang.t("history-title")) }
        p { (lang.t("history-intro")) }
        @if entries.is_empty() {
            p { (lang.t("history-none")) }
        } @else {
            // Wider than a phone: a scrollable region a keyboard can reach (WCAG 2.1.1).
            div.table-scroll tabindex="0" role="region" aria-labelledby="history-caption" {
                table #history {
                    caption #history-caption.visually-hidden { (lang.t("history-title")) }
                    thead { tr {
                        th scope="col" { (lang.t("history-when")) }
                        th scope="col" { (lang.t("history-who")) }
                        th scope="col" { (lang.t("history-what")) }
                        th scope="col" { (lang.t("history-why")) }
                    } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td { (when(lang, e.at)) }
                                td { @match &e.who { Some(name) => (name), None => (lang.t("history-you")) } }
                                td {
                                    (lang.t(if e.is_read() { "history-looked-at" } else { "history-recorded" }))
                                    @if !e.categories.is_empty() {
                                        ": "
                                        (e.categories.iter().map(|c| lang.t(&format!("category-{c}"))).collect::<Vec<_>>().join(", "))
                                    }
                                }
                                td { (lang.t(&format!("purpose-{}", e.purpose.as_deref().unwrap_or("unknown")))) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(
        lang,
        &lang.t("history-title"),
        Some(&session),
        "/patient/history",
        body,
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct AccountQuery {
    reauthenticate: Option<String>,
    proxy_ended: Option<String>,
}

async fn account_markup(
    s: &AppState,
    session: &sealroom_app::patient_space::PatientSession,
    lang: Lang,
    error: Option<&str>,
    info: Option<&str>,
) -> Result<Markup, AppError> {
    let method = s.app.patient_code_target(session).await?;
    let choices = s.app.patient_factor_choices(session).await?;
    let sessions = s.app.patient_sessions(session).await?;
    let proxies = s.app.patient_proxies(session).await?;
    let may_revoke = s.app.patients_may_revoke_proxies();
    let identifiers = s.app.patient_sign_in_identifiers(session).await?;
    let passkey_only = session.account.password_hash.is_none();
    let method_text = match (method.factor, &method.to) {
        (SecondFactor::Passkey, _) if passkey_only => lang.t("method-now-passkey-only"),
        (SecondFactor::Passkey, _) => lang.t("method-now-passkey"),
        (SecondFactor::Totp, _) | (_, None) => lang.t("method-now-totp"),
        (SecondFactor::Sms, Some(to)) => {
            lang.t_with("method-now-sms", &[("to", to.clone().into())])
        }
        (SecondFactor::Email, Some(to)) => {
            lang.t_with("method-now-email", &[("to", to.clone().into())])
        }
    };
    Ok(html! {
        h1 { (lang.t("account-title")) }
        (notice(info))
        @if let Some((patient_id, reference)) = &identifiers {
            section aria-labelledby="identifiers-heading" {
                h2 #identifiers-heading { (lang.t("account-identifiers")) }
                p #sign-in-identifiers {
                    (lang.t("field-patient-id")) ": " strong #my-patient-id { (patient_id) }
                    " · " (lang.t("field-test-id")) ": " strong #my-reference { (reference) }
                }
                p.hint { (lang.t("account-identifiers-hint")) }
            }
        }
        section aria-labelledby="method-heading" {
            h2 #method-heading { (lang.t("account-method")) }
            p #current-method { (method_text) }
            (alert(error))
            @if passkey_only {
                p { (lang.t("account-change-intro-passkey")) }
                form #reauthenticate method="post" action="/patient/account/reauthenticate" {
                    (csrf(session))
                    button #reauthenticate-submit type="submit" { (lang.t("account-change-button")) }
                }
            } @else {
                p { (lang.t("account-change-intro")) }
                form #reauthenticate method="post" action="/patient/account/reauthenticate" {
                    (csrf(session))
                    label for="password" { (lang.t("field-password")) }
                    input #password type="password" name="password" required autocomplete="current-password";
                    button #reauthenticate-submit type="submit" { (lang.t("account-change-button")) }
                }
            }
        }
        section aria-labelledby="contacts-heading" {
            h2 #contacts-heading { (lang.t("account-contacts")) }
            @let contacts: Vec<&(String, String)> = choices.iter().flat_map(|c| c.contacts.iter()).collect();
            @if contacts.is_empty() {
                p { (lang.t("account-no-contacts")) }
            } @else {
                ul #contacts { @for (_, to) in contacts { li { (to) } } }
            }
            p.hint { (lang.t("account-contacts-desk")) }
        }
        @if session.account.model != "proxy" {
            section aria-labelledby="proxies-heading" {
                h2 #proxies-heading { (lang.t("account-proxies")) }
                @if proxies.is_empty() {
                    p #no-proxies { (lang.t("account-no-proxies")) }
                } @else {
                    ul #proxies {
                        @for p in &proxies {
                            li {
                                strong { (p.name) }
                                " (" (lang.t(&format!("relationship-{}", p.relationship))) ")"
                                p.hint {
                                    (lang.t_with("proxy-scope", &[
                                        ("categories", p.categories.iter().map(|c| lang.t(&format!("category-{c}"))).collect::<Vec<_>>().join(", ").into()),
                                        ("until", sealroom_domain::Timestamp(p.valid_until - 1).date().into()),
                                    ]))
                                }
                                @if may_revoke {
                                    form.inline method="post" action={"/patient/proxies/" (p.id) "/revoke"} {
                                        (csrf(session))
                                        button.danger type="submit" aria-label=(lang.t_with("proxy-revoke-named", &[("name", p.name.clone().into())])) { (lang.t("proxy-revoke")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="sessions-heading" {
            h2 #sessions-heading { (lang.t("account-sessions")) }
            ul #sessions {
                @for x in &sessions {
                    li {
                        (lang.t_with("session-since", &[("when", when(lang, x.created_at).into())]))
                        @if x.current { " — " strong { (lang.t("session-this")) } }
                    }
                }
            }
            form method="post" action="/patient/sign-out-everywhere" {
                (csrf(session))
                button #sign-out-everywhere.danger type="submit" { (lang.t("sign-out-everywhere")) }
            }
        }
    })
}

pub async fn account(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
    Query(q): Query<AccountQuery>,
) -> Result<Response, PatientError> {
    let info = match (&q.reauthenticate, &q.proxy_ended) {
        (Some(_), _) => Some(lang.t("account-reauth-first")),
        (_, Some(_)) => Some(lang.t("proxy-ended")),
        _ => None,
    };
    let body = account_markup(&s, &session, lang, None, info.as_deref())
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok(page(
        lang,
        &lang.t("account-title"),
        Some(&session),
        "/patient/account",
        body,
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// Absent for a passkey alone (re-authenticated by the passkey).
    #[serde(default)]
    password: String,
}

csrf_forms!(PasswordForm);

pub async fn reauthenticate(
    State(s): State<AppState>,
    PatientForm(session, lang, f): PatientForm<PasswordForm>,
) -> Result<Response, PatientError> {
    if !session.is_signed_in() {
        return Err(PatientError::new(AppError::Unauthenticated, lang));
    }
    match s.app.patient_reauthenticate(&session, &f.password).await {
        Ok(_) => Ok(Redirect::to("/patient/account/confirm").into_response()),
        // A wrong password ends the session: back to the start, told why.
        Err(AppError::SignInFailed) => Ok((
            [(SET_COOKIE, clear_cookie(PATIENT_COOKIE))],
            Redirect::to("/patient?ended=1"),
        )
            .into_response()),
        Err(e @ AppError::PatientSpace(_)) => {
            let message = error_message(lang, &e);
            let body = account_markup(&s, &session, lang, Some(&message), None)
                .await
                .map_err(|e| PatientError::new(e, lang))?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(
                    lang,
                    &lang.t("account-title"),
                    Some(&session),
                    "/patient/account",
                    body,
                ),
            )
                .into_response())
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}

pub async fn reauthenticate_code_form(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
) -> Result<Response, PatientError> {
    Ok(code_step_page(
        &s,
        &session,
        lang,
        "reauth-title",
        "/patient/account/confirm",
        None,
    )
    .await?
    .into_response())
}

pub async fn reauthenticate_code(
    State(s): State<AppState>,
    PatientForm(session, lang, f): PatientForm<CodeForm>,
) -> Result<Response, PatientError> {
    match s
        .app
        .patient_confirm_reauthentication(&session, &f.code)
        .await
    {
        Ok(token) => Ok(redirect_with_session("/patient/setup", &token)),
        Err(e @ AppError::PatientSpace(_)) => {
            let message = error_message(lang, &e);
            let page = code_step_page(
                &s,
                &session,
                lang,
                "reauth-title",
                "/patient/account/confirm",
                Some(&message),
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}

pub async fn revoke_proxy(
    State(s): State<AppState>,
    Path(id): Path<String>,
    PatientForm(session, lang, _): PatientForm<EmptyForm>,
) -> Result<Response, PatientError> {
    s.app
        .patient_revoke_proxy(&session, &id)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok(Redirect::to("/patient/account?proxy_ended=1").into_response())
}

pub async fn sign_out(
    State(s): State<AppState>,
    PatientForm(session, lang, _): PatientForm<EmptyForm>,
) -> Result<Response, PatientError> {
    s.app
        .patient_sign_out(&session)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok((
        [(SET_COOKIE, clear_cookie(PATIENT_COOKIE))],
        Redirect::to("/patient"),
    )
        .into_response())
}

pub async fn sign_out_everywhere(
    State(s): State<AppState>,
    PatientForm(session, lang, _): PatientForm<EmptyForm>,
) -> Result<Response, PatientError> {
    s.app
        .patient_sign_out_everywhere(&session)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok((
        [(SET_COOKIE, clear_cookie(PATIENT_COOKIE))],
        Redirect::to("/patient?ended=1"),
    )
        .into_response())
}
