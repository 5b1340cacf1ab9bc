//! Staff messaging pages: the inbox with search and a compose form, a thread with its
//! messages, signatures, attachments and receipts, a reply form and recall. Forms work without
//! script; `app.js` adds live updates (Server-Sent Events from `/api/v1/messages/events`).
//!
//! Compose and reply forms are multipart: their files stream into encrypted attachments before
//! the message is sent. When leak prevention stops a message, the form comes back with the
//! findings, the text as typed, the files already stored (as hidden attachment ids) and a box
//! to tick for each warning.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use sealroom_app::accounts::Actor;
use sealroom_app::documents::FileDescription;
use sealroom_app::messaging::{
    FileInto, MessageView, NewMessageBody, NewThread, OutsideAddressee, ThreadFilter,
};
use sealroom_app::sessions::CurrentSession;
use sealroom_app::AppError;
use sealroom_domain::leak_rules::{Finding, LeakLevel, LeakRule};
use sealroom_domain::DataCategory;
use serde::Deserialize;

use super::actor;
use super::layout::{alert, csrf, notice, page, when};
use crate::error::PageError;
use crate::extract::{ClientInfo, SignedIn, SignedInForm};
use crate::AppState;

/// At most this many files on one form (the message's attachment limit).
const MAX_FILES: usize = 20;

/// What a compose or reply form held.
#[derive(Default)]
pub(crate) struct Draft {
    csrf: String,
    subject: String,
    patient_id: String,
    category: String,
    participants: Vec<String>,
    pub(crate) body: String,
    confirm: Vec<LeakRule>,
    pub(crate) attachments: Vec<String>,
    expires_in_days: String,
    include_patient: bool,
    outside_email: String,
    outside_verify: String,
    outside_phone: String,
    legal_basis: String,
}

impl Draft {
    /// Whether the form's security token was read and matched: only then is what was read of
    /// it shown again.
    pub(crate) fn checked(&self) -> bool {
        !self.csrf.is_empty()
    }

    fn new_thread(&self) -> Result<NewThread, AppError> {
        let category = match self.category.as_str() {
            "" => None,
            c => Some(DataCategory::parse(c).map_err(|e| AppError::InvalidInput(e.to_string()))?),
        };
        let mut participants = self.participants.clone();
        if self.include_patient && !self.patient_id.is_empty() {
            participants.push(format!("patient:{}", self.patient_id));
        }
        Ok(NewThread {
            subject: self.subject.clone(),
            patient_id: Some(self.patient_id.clone()).filter(|p| !p.is_empty()),
            category,
            participants,
            outside: self.outside()?.into_iter().collect(),
            message: self.message()?,
        })
    }

    /// Someone outside, when the form names one.
    fn outside(&self) -> Result<Option<OutsideAddressee>, AppError> {
        if self.outside_email.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(OutsideAddressee {
            email: self.outside_email.clone(),
            verify: Some(self.outside_verify.clone()).filter(|v| !v.is_empty()),
            phone: Some(self.outside_phone.clone()).filter(|p| !p.trim().is_empty()),
        }))
    }

    pub(crate) fn message(&self) -> Result<NewMessageBody, AppError> {
        Ok(NewMessageBody {
            body: self.body.clone(),
            attachments: self.attachments.clone(),
            legal_basis: Some(self.legal_basis.clone()).filter(|b| !b.is_empty()),
            expires_in_days: match self.expires_in_days.trim() {
                "" => None,
                d => {
                    Some(d.parse().map_err(|_| {
                        AppError::InvalidInput("expiry: give a number of days".into())
                    })?)
                }
            },
            confirmed: self.confirm.clone(),
        })
    }
}

/// Read a multipart form: the CSRF token first (nothing is stored before it is checked), then
/// the fields, then files, each streamed into an encrypted attachment.
pub(crate) async fn read_form(
    s: &AppState,
    csrf_token: &str,
    who: &Actor,
    request: Request,
) -> Result<Draft, PageError> {
    let mut d = Draft::default();
    read_form_into(s, csrf_token, who, request, &mut d).await?;
    Ok(d)
}

/// [`read_form`] into `d`, which keeps what was read (the text, the files stored) when the
/// form stops part-way, so the page can show it again.
pub(crate) async fn read_form_into(
    s: &AppState,
    csrf_token: &str,
    who: &Actor,
    request: Request,
    d: &mut Draft,
) -> Result<(), PageError> {
    let mut mp = Multipart::from_request(request, s)
        .await
        .map_err(|e| AppError::InvalidInput(format!("the form could not be read: {e}")))?;
    let bad = |e: axum::extract::multipart::MultipartError| {
        PageError::from(AppError::InvalidInput(format!(
            "the form could not be read: {e}"
        )))
    };
    let idle = s.app.settings().documents.upload_idle;
    let stalled = || {
        PageError::from(AppError::InvalidInput(
            "the upload stalled; try again".into(),
        ))
    };
    // Text fields are read with a cap: the message limit and room for the other fields.
    let text_cap = s.app.settings().messaging.max_body_bytes + 64 * 1024;
    let mut text_read = 0usize;
    // Every wait for the browser is bounded: a client that stops sending is cut off.
    while let Some(mut field) = tokio::time::timeout(idle, mp.next_field())
        .await
        .map_err(|_| stalled())?
        .map_err(bad)?
    {
        let name = field.name().unwrap_or("").to_owned();
        if name == "files" {
            if !d.checked() {
                return Err(AppError::InvalidInput("the form has no security token".into()).into());
            }
            let filename = field.file_name().unwrap_or("").to_owned();
            if filename.is_empty() {
                // The file box was left empty: the part is empty too, and anything else in it
                // is refused rather than read.
                let next = tokio::time::timeout(idle, field.chunk())
                    .await
                    .map_err(|_| stalled())?;
                if next.map_err(bad)?.is_some_and(|c| !c.is_empty()) {
                    return Err(AppError::InvalidInput(
                        "a file was sent without a name; choose it again".into(),
                    )
                    .into());
                }
                continue;
            }
            if d.attachments.len() >= MAX_FILES {
                return Err(AppError::InvalidInput(format!(
                    "a message carries at most {MAX_FILES} files"
                ))
                .into());
            }
            let file = FileDescription {
                filename,
                media_type: field.content_type().unwrap_or("").to_owned(),
                declared_size: None,
            };
            let mut upload = s.app.start_attachment(who, file).await?;
            loop {
                let next = tokio::time::timeout(idle, field.chunk())
                    .await
                    .map_err(|_| stalled())?;
                match next.map_err(bad)? {
                    Some(chunk) => upload.write(&chunk).await?,
                    None => break,
                }
            }
            d.attachments.push(upload.finish().await?.id);
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = tokio::time::timeout(idle, field.chunk())
            .await
            .map_err(|_| stalled())?
            .map_err(bad)?
        {
            text_read += chunk.len();
            if text_read > text_cap {
                return Err(AppError::TooLarge(
                    "the form is too long; send long text as an attachment".into(),
                )
                .into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(bytes)
            .map_err(|_| AppError::InvalidInput("the form is not valid UTF-8".into()))?;
        match name.as_str() {
            "_csrf" => {
                crate::extract::csrf_matches(csrf_token, &value)?;
                d.csrf = value;
            }
            "subject" => d.subject = value,
            "patient_id" => d.patient_id = value.trim().to_owned(),
            "category" => d.category = value,
            "participants" => d.participants.push(value),
            "body" => d.body = value,
            "expires_in_days" => d.expires_in_days = value,
            "include_patient" => d.include_patient = true,
            "outside_email" => d.outside_email = value,
            "outside_verify" => d.outside_verify = value,
            "outside_phone" => d.outside_phone = value,
            "legal_basis" => d.legal_basis = value,
            "attachment" => d.attachments.push(value),
            "confirm" => {
                if let Some(r) = LeakRule::parse(&value) {
                    d.confirm.push(r);
                }
            }
            _ => {}
        }
    }
    if !d.checked() {
        return Err(AppError::InvalidInput("the form has no security token".into()).into());
    }
    Ok(())
}

fn findings_block(findings: &[Finding]) -> Markup {
    html! {
        @if !findings.is_empty() {
            section #leak-findings aria-labelledby="leak-title" {
                h2 #leak-title { "Check before sending" }
                ul {
                    @for f in findings {
                        li.finding.(f.level.as_str()) data-rule=(f.rule.as_str()) {
                            strong { (match f.level { LeakLevel::Error => "Blocked: ", LeakLevel::Warning => "Warning: ", _ => "Suggestion: " }) }
                            (f.message)
                            @if let Some(r) = &f.recipient { " (" (r) ")" }
                            @if let Some(m) = &f.did_you_mean { ". Did you mean " strong { (m) } "?" }
                            @if f.level == LeakLevel::Warning {
                                br;
                                label {
                                    input type="checkbox" name="confirm" value=(f.rule.as_str());
                                    " I have checked this; send anyway"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The file box of the compose and reply forms. Without script the files go with the form;
/// with it, `app.js` first sends each one to the resumable upload endpoint (tus), which
/// continues where it stopped if the connection drops, and the form carries their ids.
fn file_box() -> Markup {
    html! {
        label for="files" { "Attach files" }
        input #files type="file" name="files" multiple data-uploads="/api/v1/uploads" aria-describedby="files-status";
        p #files-status.hint role="status" aria-live="polite" {}
    }
}

fn kept_attachments(d: &Draft) -> Markup {
    html! {
        @for a in &d.attachments {
            input type="hidden" name="attachment" value=(a);
        }
        @if !d.attachments.is_empty() {
            p.hint { (d.attachments.len()) " file(s) already attached." }
        }
    }
}

/// The compose form (with the findings and values of a stopped attempt).
fn compose_form(
    me: &CurrentSession,
    directory: &[(String, String)],
    d: &Draft,
    findings: &[Finding],
) -> Markup {
    html! {
        form #compose method="post" action="/messages" enctype="multipart/form-data" {
            h2 { "New message" }
            (csrf(me))
            (findings_block(findings))
            label for="subject" { "Subject" }
            input #subject name="subject" required maxlength="200" value=(d.subject) aria-describedby="subject-hint";
            p.hint #subject-hint { "Subjects are never e-mailed, but keep names and national numbers out of them." }
            label for="participants" { "To (colleagues and department inboxes)" }
            select #participants name="participants" multiple size="6" {
                @for (address, label) in directory {
                    option value=(address) selected[d.participants.contains(address)] { (label) }
                }
            }
            label for="patient_id" { "About patient (id, optional)" }
            input #patient_id name="patient_id" value=(d.patient_id);
            div.choice {
                input #include_patient type="checkbox" name="include_patient" value="1" checked[d.include_patient];
                label for="include_patient" { "Also write to the patient (their patient space)" }
            }
            fieldset #outside {
                legend { "Someone outside the organization (optional)" }
                label for="outside_email" { "Their e-mail address" }
                input #outside_email type="email" name="outside_email" value=(d.outside_email) aria-describedby="outside-hint";
                p.hint #outside-hint { "They get an e-mail with a link, never the message itself, and open it by proving who they are." }
                label for="outside_verify" { "They open it with" }
                select #outside_verify name="outside_verify" {
                    option value="" selected[d.outside_verify.is_empty()] { "the method that worked for them last time" }
                    option value="sms" selected[d.outside_verify == "sms"] { "a code by SMS" }
                    option value="access_code" selected[d.outside_verify == "access_code"] { "an access code I give them by phone or in person" }
                    option value="email" selected[d.outside_verify == "email"] { "a code by e-mail (if the organization allows it)" }
                }
                label for="outside_phone" { "Their mobile number, for a code by SMS (+32…)" }
                input #outside_phone type="tel" name="outside_phone" value=(d.outside_phone);
                label for="legal_basis" { "Ground for sending attachments outside" }
                select #legal_basis name="legal_basis" {
                    option value="" { "none recorded" }
                    @for b in sealroom_app::messaging::LEGAL_BASES {
                        option value=(b) selected[d.legal_basis == b] { (b.replace('_', " ")) }
                    }
                }
            }
            label for="category" { "Kind of information" }
            select #category name="category" {
                @for c in DataCategory::ALL {
                    option value=(c.as_str()) selected[d.category == c.as_str() || (d.category.is_empty() && c == DataCategory::ClinicalNotes)] {
                        (c.as_str().replace('_', " "))
                    }
                }
            }
            label for="body" { "Message" }
            textarea #body name="body" rows="6" { (d.body) }
            label for="expires_in_days" { "Expires after (days, optional)" }
            input #expires_in_days name="expires_in_days" inputmode="numeric" value=(d.expires_in_days);
            (kept_attachments(d))
            (file_box())
            button #send type="submit" { "Send securely" }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SearchForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    participant: String,
    #[serde(default)]
    patient: String,
}
crate::extract::csrf_forms!(SearchForm);

/// What the inbox page shows besides the inbox: a stopped draft, its findings, a notice or an
/// error.
#[derive(Default)]
struct Answer<'a> {
    draft: Option<&'a Draft>,
    findings: &'a [Finding],
    notice: Option<&'a str>,
    error: Option<&'a str>,
    /// The page answers a GET, so a live update may load it again. An answer to a POST is
    /// never reloaded: that would send the form again (and lose a code shown once).
    reloadable: bool,
}

async fn inbox_page(
    s: &AppState,
    me: &CurrentSession,
    who: &Actor,
    search: &SearchForm,
    answer: Answer<'_>,
) -> Result<Response, PageError> {
    let empty = Draft::default();
    let draft = answer.draft.unwrap_or(&empty);
    let (findings, message, error) = (answer.findings, answer.notice, answer.error);
    let filter = ThreadFilter {
        subject: Some(search.subject.clone()).filter(|x| !x.trim().is_empty()),
        participant: Some(search.participant.clone()).filter(|x| !x.is_empty()),
        patient: Some(search.patient.trim().to_owned()).filter(|x| !x.is_empty()),
        from: None,
        to: None,
    };
    let threads = s.app.threads(who, &filter).await?;
    let directory = s.app.messaging_directory(who).await?;
    let total: i64 = threads.iter().map(|t| t.unread).sum();
    let body = html! {
        h1 { "Messages " span #unread-total.badge { (total) } span.visually-hidden { " unread" } }
        (notice(message))
        (alert(error))
        p #live-status.hint role="status" aria-live="polite" data-events="/api/v1/messages/events" data-reload=[answer.reloadable.then_some("/messages")] data-typing="A new message arrived; it will show when you send or reload." {}
        form #search method="post" action="/messages/search" {
            (csrf(me))
            label for="q-subject" { "Subject" }
            input #q-subject name="subject" value=(search.subject);
            label for="q-participant" { "With" }
            select #q-participant name="participant" {
                option value="" { "anyone" }
                @for (address, label) in &directory {
                    option value=(address) selected[&search.participant == address] { (label) }
                }
            }
            label for="q-patient" { "Patient id" }
            input #q-patient name="patient" value=(search.patient);
            button type="submit" { "Search" }
        }
        @if threads.is_empty() {
            p #no-threads { "No conversation." }
        } @else {
            table #threads {
                thead { tr { th { "Subject" } th { "With" } th { "Last message" } th { "Unread" } } }
                tbody {
                    @for t in &threads {
                        tr.unread[t.unread > 0] data-thread=(t.id) {
                            td { a href={ "/messages/" (t.id) } { (t.subject) } @if t.patient_id.is_some() { " " span.tag { "patient" } } }
                            td { @for (i, p) in t.participants.iter().enumerate() { @if i > 0 { ", " } (p.label) } }
                            td { (when(t.last_message_at)) }
                            td.count { (t.unread) }
                        }
                    }
                }
            }
        }
        (compose_form(me, &directory, draft, findings))
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page("Messages", Some(me), body)).into_response())
}

#[derive(Deserialize)]
pub struct InboxQuery {
    sent: Option<String>,
}

/// `GET /messages`: the inbox and the compose form.
pub async fn inbox(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
    axum::extract::Query(q): axum::extract::Query<InboxQuery>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let sent = q.sent.as_ref().map(|_| "Sent.");
    let answer = Answer {
        notice: sent,
        reloadable: true,
        ..Answer::default()
    };
    inbox_page(&s, &me, &who, &SearchForm::default(), answer).await
}

/// `POST /messages/search`: the inbox filtered (a POST, so search words stay out of URLs).
pub async fn search(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, form): SignedInForm<SearchForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    inbox_page(&s, &me, &who, &form, Answer::default()).await
}

/// `POST /messages`: start a thread.
pub async fn compose(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
    request: Request,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let d = read_form(&s, &me.csrf_token, &who, request).await?;
    let e = match d.new_thread() {
        Ok(new) => s.app.start_thread(&who, new).await,
        Err(e) => Err(e),
    };
    let e = match e {
        Ok(sent) if sent.outside.iter().any(|o| o.access_code.is_some()) => {
            // The access codes are shown once, here, and never stored.
            let codes: Vec<String> = sent
                .outside
                .iter()
                .filter_map(|o| o.access_code.as_ref().map(|c| format!("{}: {c}", o.email)))
                .collect();
            let notice = format!(
                "Sent. Give this access code to them another way (by phone or in person, never by \
                 e-mail); it is shown only now: {}",
                codes.join("; ")
            );
            let answer = Answer {
                notice: Some(&notice),
                ..Answer::default()
            };
            return thread_page(&s, &me, &who, &sent.thread_id, answer).await;
        }
        Ok(sent) => {
            return Ok(
                Redirect::to(&format!("/messages/{}?sent=1", sent.thread_id)).into_response(),
            )
        }
        Err(AppError::NotFound) => {
            AppError::InvalidInput("no such patient, or you may not write about them".to_owned())
        }
        Err(e) => e,
    };
    let (findings, message) = stopped(e)?;
    let answer = Answer {
        draft: Some(&d),
        findings: &findings,
        error: Some(&message),
        ..Answer::default()
    };
    inbox_page(&s, &me, &who, &SearchForm::default(), answer).await
}

/// A message the sender can correct comes back with the form as it was (the text, the files
/// already stored, the findings to confirm); anything else is an error page.
fn stopped(e: AppError) -> Result<(Vec<Finding>, String), PageError> {
    match e {
        AppError::LeakCheck(findings) => Ok((
            findings,
            "Not sent yet: see the checks in the form below.".to_owned(),
        )),
        e @ (AppError::InvalidInput(_) | AppError::TooLarge(_) | AppError::Conflict(_)) => {
            Ok((Vec::new(), format!("Not sent: {e}.")))
        }
        e => Err(e.into()),
    }
}

/// What a reader may do with a message besides reading it: where its files download from,
/// and what is offered beside each file and below the message. Staff and outside recipients
/// see the same message with different actions.
pub(crate) struct MessageActions<'a> {
    pub(crate) attachment_href: &'a dyn Fn(&str) -> String,
    pub(crate) beside_attachment: &'a dyn Fn(&str) -> Markup,
    pub(crate) below: &'a dyn Fn(&MessageView) -> Markup,
}

/// A message: author, time, whether its signature verified, its text and files (or that it
/// was recalled or expired), then the reader's actions.
pub(crate) fn message_article(m: &MessageView, actions: &MessageActions<'_>) -> Markup {
    html! {
        article.message id={ "m-" (m.id) } data-state=(m.state) {
            header {
                strong.author { (m.author_label) }
                " · " time { (when(m.sent_at)) }
                @match m.signature {
                    Some("verified") => { " · " span.verified { "✓ Signature verified" } }
                    Some(_) => { " · " strong.alert { "✗ Signature does not verify — do not rely on this message" } }
                    None => {}
                }
            }
            @match m.state {
                "recalled" => { p.gone { "This message was recalled by its sender." } }
                "expired" => { p.gone { "This message has expired." } }
                _ => {
                    div.body { (m.body.as_deref().unwrap_or("")) }
                    @if !m.attachments.is_empty() {
                        ul.attachments {
                            @for a in &m.attachments {
                                li {
                                    a href=((actions.attachment_href)(&a.id)) download { (a.filename) } " (" (a.size) " bytes)"
                                    ((actions.beside_attachment)(&a.id))
                                }
                            }
                        }
                    }
                    @if let Some(e) = m.expires_at { p.hint { "Expires " (when(e)) } }
                }
            }
            ((actions.below)(m))
        }
    }
}

/// A message as staff see it: files filed into the patient's record from a patient thread,
/// receipts and recall on their own messages.
fn message_block(
    m: &MessageView,
    me_csrf: &CurrentSession,
    thread_id: &str,
    about_patient: bool,
) -> Markup {
    let file_into = |attachment: &str| {
        html! {
            @if about_patient {
                form.file-into method="post" action={ "/messages/" (thread_id) "/attachments/" (attachment) "/file" } {
                    (csrf(me_csrf))
                    button type="submit" { "File into the patient's record" }
                }
            }
        }
    };
    let receipts_and_recall = |m: &MessageView| {
        html! {
            @if let Some(receipts) = &m.receipts {
                details.receipts open {
                    summary { "Receipts" }
                    ul {
                        @for r in receipts {
                            li data-recipient=(r.recipient) {
                                (r.label) ": "
                                @if let Some(at) = r.read_at { span.read { "read " (when(at)) } }
                                @else if let Some(at) = r.delivered_at { span.delivered { "delivered " (when(at)) } }
                                @else { span.waiting { "not delivered yet" } }
                            }
                        }
                    }
                }
                @if m.state == "readable" {
                    form.recall method="post" action={ "/messages/" (thread_id) "/recall/" (m.id) } {
                        (csrf(me_csrf))
                        button type="submit" { "Recall" }
                    }
                }
            }
        }
    };
    message_article(
        m,
        &MessageActions {
            attachment_href: &|id| format!("/api/v1/attachments/{id}/content"),
            beside_attachment: &file_into,
            below: &receipts_and_recall,
        },
    )
}

async fn thread_page(
    s: &AppState,
    me: &CurrentSession,
    who: &Actor,
    thread_id: &str,
    answer: Answer<'_>,
) -> Result<Response, PageError> {
    let empty = Draft::default();
    let draft = answer.draft.unwrap_or(&empty);
    let findings = answer.findings;
    let t = s.app.thread(who, thread_id).await?;
    let body = html! {
        p { a href="/messages" { "← All messages" } }
        h1 #thread-subject data-thread=(t.id) { (t.subject) }
        (notice(answer.notice))
        (alert(answer.error))
        p #live-status.hint role="status" aria-live="polite" data-events="/api/v1/messages/events" data-reload=[answer.reloadable.then(|| format!("/messages/{}", t.id))] data-typing="A new message arrived; it will show when you send or reload." {}
        p.participants { "With: " @for (i, p) in t.participants.iter().enumerate() { @if i > 0 { ", " } (p.label) } }
        @if let Some(p) = &t.patient_id { p.hint { "About patient " code { (p) } } }
        section #messages { @for m in &t.messages { (message_block(m, me, &t.id, t.patient_id.is_some())) } }
        form #reply method="post" action={ "/messages/" (t.id) "/messages" } enctype="multipart/form-data" {
            (csrf(me))
            (findings_block(findings))
            label for="body" { "Reply" }
            textarea #body name="body" rows="4" { (draft.body) }
            (kept_attachments(draft))
            (file_box())
            button #send type="submit" { "Send securely" }
        }
    };
    let status = if answer.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page(&t.subject, Some(me), body)).into_response())
}

#[derive(Deserialize)]
pub struct ThreadQuery {
    sent: Option<String>,
    recalled: Option<String>,
    filed: Option<String>,
}

/// `GET /messages/{id}`: a thread (marked read).
pub async fn thread(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ThreadQuery>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let message = if q.sent.is_some() {
        Some("Sent.")
    } else if q.recalled.is_some() {
        Some("Recalled: its keys are destroyed; nobody can open it any more.")
    } else if q.filed.is_some() {
        Some("Filed into the patient's record: it is now one of their documents, signed by you.")
    } else {
        None
    };
    let answer = Answer {
        notice: message,
        reloadable: true,
        ..Answer::default()
    };
    thread_page(&s, &me, &who, &id, answer).await
}

/// `POST /messages/{id}/messages`: reply.
pub async fn reply(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let d = read_form(&s, &me.csrf_token, &who, request).await?;
    let sent = match d.message() {
        Ok(message) => s.app.send_message(&who, &id, message).await,
        Err(e) => Err(e),
    };
    let e = match sent {
        Ok(_) => return Ok(Redirect::to(&format!("/messages/{id}?sent=1")).into_response()),
        Err(e) => e,
    };
    let (findings, message) = stopped(e)?;
    let answer = Answer {
        draft: Some(&d),
        findings: &findings,
        error: Some(&message),
        ..Answer::default()
    };
    thread_page(&s, &me, &who, &id, answer).await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}
crate::extract::csrf_forms!(CsrfOnly);

/// `POST /messages/{thread}/recall/{message}`.
pub async fn recall(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path((thread_id, message_id)): Path<(String, String)>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    s.app.recall_message(&who, &message_id).await?;
    Ok(Redirect::to(&format!("/messages/{thread_id}?recalled=1")).into_response())
}

/// `POST /messages/{thread}/attachments/{id}/file`: file an attachment into the patient's
/// record (as a document of the thread's category, titled with the file name).
pub async fn file_attachment(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path((thread_id, attachment_id)): Path<(String, String)>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    s.app
        .file_attachment(&who, &attachment_id, FileInto::default())
        .await?;
    Ok(Redirect::to(&format!("/messages/{thread_id}?filed=1")).into_response())
}
