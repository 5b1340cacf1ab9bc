//! Messages with the care team, inside the patient space: the conversations a care team
//! opened with the patient (or their proxy), each readable and answerable here. Decided by the
//! same policy as the rest of the space and audited on the patient.

use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::i18n::Lang;
use super::layout::{alert, csrf, notice, page, size, when};
use super::{error_message, PatientError, SignedInPatient};
use crate::AppState;

/// `GET /patient/messages/events`: the patient space's live stream (ids and counts only).
pub async fn events(
    State(s): State<AppState>,
    super::BackgroundPatient(session, lang): super::BackgroundPatient,
) -> Result<Response, PatientError> {
    let (actor, mailboxes) = s
        .app
        .patient_live(&session)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    let stream = crate::api::messages::live_stream(&s, actor, mailboxes)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok(stream.into_response())
}

pub async fn list(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
) -> Result<Response, PatientError> {
    let threads = s
        .app
        .patient_threads(&session)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    let body = html! {
        h1 { (lang.t("messages-title")) }
        p #live-status.hint role="status" aria-live="polite" data-events="/patient/messages/events" data-reload="/patient/messages" data-typing=(lang.t("message-arrived-typing")) {}
        @if threads.is_empty() {
            p #no-threads { (lang.t("messages-none")) }
        } @else {
            ul #threads.doc-list {
                @for t in &threads {
                    li data-thread=(t.id) {
                        h2 { a href={"/patient/messages/" (t.id)} { (t.subject) } }
                        p.hint {
                            (when(lang, t.last_message_at))
                            @if t.unread > 0 { " · " strong.unread { (lang.t_with("messages-unread", &[("count", t.unread.into())])) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(
        lang,
        &lang.t("messages-title"),
        Some(&session),
        "/patient/messages",
        body,
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct ThreadQuery {
    sent: Option<String>,
}

/// What the thread page shows besides the thread: a notice that a reply went, or the error of
/// a reply that did not, with its text and the files already stored for it.
#[derive(Default)]
struct Answer<'a> {
    sent: bool,
    error: Option<&'a str>,
    typed: &'a str,
    kept: &'a [String],
}

async fn thread_page(
    s: &AppState,
    session: &sealroom_app::patient_space::PatientSession,
    lang: Lang,
    id: &str,
    answer: Answer<'_>,
) -> Result<Response, PatientError> {
    let Answer {
        sent,
        error,
        typed,
        kept,
    } = answer;
    let t = s
        .app
        .patient_thread(session, id)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    let here = format!("/patient/messages/{}", t.id);
    let body = html! {
        p { a href="/patient/messages" { "← " (lang.t("back-to-messages")) } }
        h1 #thread-subject data-thread=(t.id) { (t.subject) }
        // An answer to a failed reply (a POST) is never reloaded: that would send it again.
        p #live-status.hint role="status" aria-live="polite" data-events="/patient/messages/events" data-reload=[error.is_none().then_some(&here)] data-typing=(lang.t("message-arrived-typing")) {}
        (notice(sent.then(|| lang.t("message-sent")).as_deref()))
        (alert(error))
        section #messages {
            @for m in &t.messages {
                article.message id={"m-" (m.id)} data-state=(m.state) {
                    p.hint { strong { (m.author_label) } " · " (when(lang, m.sent_at)) }
                    @if m.state == "readable" {
                        div.body { (m.body.as_deref().unwrap_or("")) }
                        @if !m.attachments.is_empty() {
                            ul.attachments {
                                @for a in &m.attachments {
                                    li { a href={"/patient/messages/attachments/" (a.id)} download { (a.filename) } " (" (size(lang, a.size as u64)) ")" }
                                }
                            }
                        }
                        @if m.signature == Some("verified") {
                            p.signature.ok { span aria-hidden="true" { "✓ " } (lang.t("message-signature-verified")) }
                        } @else {
                            p.signature.bad { span aria-hidden="true" { "⚠ " } (lang.t("signature-not-verified")) }
                        }
                    } @else {
                        p.gone { (lang.t("message-gone")) }
                    }
                }
            }
        }
        form #reply method="post" action=(here) enctype="multipart/form-data" {
            (csrf(session))
            label for="body" { (lang.t("message-reply")) }
            textarea #body name="body" rows="5" required { (typed) }
            @for a in kept {
                input type="hidden" name="attachment" value=(a);
            }
            @if !kept.is_empty() {
                p.hint { (lang.t_with("message-files-kept", &[("count", kept.len().into())])) }
            }
            label for="files" { (lang.t("message-attach")) }
            input #files type="file" name="files" multiple aria-describedby="files-hint";
            p #files-hint.hint { (lang.t("message-attach-hint")) }
            button #send type="submit" { (lang.t("message-send")) }
        }
    };
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, page(lang, &t.subject, Some(session), &here, body)).into_response())
}

pub async fn thread(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
    Path(id): Path<String>,
    Query(q): Query<ThreadQuery>,
) -> Result<Response, PatientError> {
    let answer = Answer {
        sent: q.sent.is_some(),
        ..Answer::default()
    };
    thread_page(&s, &session, lang, &id, answer).await
}

/// `POST /patient/messages/{id}`: a reply, multipart: the CSRF token, the text, then files,
/// each streamed into an encrypted attachment before the reply is sent.
pub async fn reply(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, PatientError> {
    use sealroom_app::AppError;
    let actor = session.actor().map_err(|e| PatientError::new(e, lang))?;
    let stopped = |e: &AppError| matches!(e, AppError::InvalidInput(_) | AppError::TooLarge(_));
    let mut d = crate::pages::messages::Draft::default();
    let read =
        crate::pages::messages::read_form_into(&s, &session.csrf_token, &actor, request, &mut d)
            .await;
    match read {
        Ok(()) => {}
        // A file too large, a stalled upload: the text and the files stored so far stay.
        Err(e) if stopped(&e.error) && d.checked() => {
            let message = error_message(lang, &e.error);
            let answer = Answer {
                error: Some(&message),
                typed: &d.body,
                kept: &d.attachments,
                ..Answer::default()
            };
            return thread_page(&s, &session, lang, &id, answer).await;
        }
        Err(e) => return Err(PatientError::new(e.error, lang)),
    }
    let sent = s
        .app
        .patient_reply(&session, &id, d.body.clone(), d.attachments.clone())
        .await;
    match sent {
        Ok(_) => Ok(Redirect::to(&format!("/patient/messages/{id}?sent=1")).into_response()),
        Err(e) if stopped(&e) => {
            let message = error_message(lang, &e);
            let answer = Answer {
                error: Some(&message),
                typed: &d.body,
                kept: &d.attachments,
                ..Answer::default()
            };
            thread_page(&s, &session, lang, &id, answer).await
        }
        Err(e) => Err(PatientError::new(e, lang)),
    }
}

/// `GET /patient/messages/attachments/{id}`: a file sent in one of the patient's threads,
/// decided like the thread and checked like every attachment.
pub async fn attachment(
    State(s): State<AppState>,
    SignedInPatient(session, lang): SignedInPatient,
    Path(id): Path<String>,
) -> Result<Response, PatientError> {
    let content = s
        .app
        .patient_attachment(&session, &id)
        .await
        .map_err(|e| PatientError::new(e, lang))?;
    Ok(crate::api::messages::attachment_response(content))
}
