//! Secure messaging over the API: threads, messages, participants, attachments, recall,
//! unread counts and the live event stream. Every handler goes through the use cases in
//! `sealroom_app::messaging`, which decide (participation, then the Cedar policy on patient
//! threads) and audit.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Multipart;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::Stream;
use sealroom_app::messaging::{
    FileInto, NewMessageBody, NewThread, OutsideAddressee, ThreadFilter, UploadedAttachment,
};
use sealroom_app::AppError;
use sealroom_domain::leak_rules::LeakRule;
use sealroom_domain::DataCategory;
use serde::Deserialize;
use utoipa::ToSchema;

use super::documents::{content_disposition, declared_length, drain, file_part, invalid};
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, BackgroundCaller};
use crate::AppState;

/// What a message says and carries.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// The text (plain text, at most messaging.max_body_kib).
    pub body: String,
    /// Ids of attachments uploaded beforehand through POST /api/v1/attachments.
    #[serde(default)]
    pub attachments: Vec<String>,
    /// The consent or legal basis recorded for what goes outside.
    pub legal_basis: Option<String>,
    /// Expire after this many days (1 to 3650); the organization's default otherwise.
    pub expires_in_days: Option<i64>,
    /// Leak-prevention warnings the sender has read and confirms, by rule name.
    #[serde(default)]
    pub confirm: Vec<String>,
}

/// A new thread with its first message.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThreadBody {
    pub subject: String,
    /// The patient the conversation is about, if any.
    pub patient_id: Option<String>,
    /// The data category of a patient thread (clinical_notes by default).
    pub category: Option<String>,
    /// Participants besides you: "user:<id>", "department:<id>", "patient:<id>".
    #[serde(default)]
    pub participants: Vec<String>,
    /// People outside the organization, by e-mail address, with how each verifies.
    #[serde(default)]
    pub outside: Vec<OutsideBody>,
    #[serde(flatten)]
    #[schema(inline)]
    pub message: MessageBody,
}

/// Someone outside the organization. They are sent a link by e-mail and open it with the
/// method named here (the one remembered for the address when absent).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutsideBody {
    pub email: String,
    /// "sms" (give `phone`), "access_code" (the answer carries the code to give them another
    /// way) or "email" (where the organization allows it).
    pub verify: Option<String>,
    /// A mobile number in international form, for "sms".
    pub phone: Option<String>,
}

impl From<OutsideBody> for OutsideAddressee {
    fn from(b: OutsideBody) -> OutsideAddressee {
        OutsideAddressee {
            email: b.email,
            verify: b.verify,
            phone: b.phone,
        }
    }
}

/// Someone to add: an address of the organization, or someone outside.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantBody {
    pub participant: Option<String>,
    pub outside: Option<OutsideBody>,
    #[serde(default)]
    pub confirm: Vec<String>,
}

fn confirmations(names: &[String]) -> Result<Vec<LeakRule>, ApiError> {
    names
        .iter()
        .map(|n| {
            LeakRule::parse(n)
                .ok_or_else(|| invalid(format!("confirm: \"{n}\" is not a leak-prevention rule")))
        })
        .collect()
}

fn message_of(m: MessageBody) -> Result<NewMessageBody, ApiError> {
    Ok(NewMessageBody {
        confirmed: confirmations(&m.confirm)?,
        body: m.body,
        attachments: m.attachments,
        legal_basis: m.legal_basis.filter(|b| !b.trim().is_empty()),
        expires_in_days: m.expires_in_days,
    })
}

#[utoipa::path(post, path = "/api/v1/threads", tag = "messages", request_body = NewThreadBody,
    responses((status = 201, description = "The thread and its first message, with any suggestions"),
        (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 422, description = "Stopped by leak prevention: the findings say why; confirm warnings to send")))]
pub async fn start(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewThreadBody>,
) -> Result<Response, ApiError> {
    let category = body
        .category
        .as_deref()
        .map(|c| DataCategory::parse(c).map_err(|e| invalid(format!("category: {e}"))))
        .transpose()?;
    let new = NewThread {
        subject: body.subject,
        patient_id: body.patient_id,
        category,
        participants: body.participants,
        outside: body.outside.into_iter().map(Into::into).collect(),
        message: message_of(body.message)?,
    };
    let sent = s.app.start_thread(&caller.actor, new).await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

/// Filters of the inbox in a URL: identifiers and dates only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    participant: Option<String>,
    patient: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/threads", tag = "messages",
    params(("participant" = Option<String>, Query, description = "A participant address"),
        ("patient" = Option<String>, Query, description = "A patient id"),
        ("from" = Option<i64>, Query, description = "Last activity from (Unix seconds)"),
        ("to" = Option<i64>, Query, description = "Last activity before (Unix seconds)")),
    responses((status = 200, description = "Threads you take part in, newest first, with unread counts. Search subjects with POST /api/v1/threads/.search (words stay out of URLs).")))]
pub async fn list(
    State(s): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = SearchBody {
        participant: q.participant,
        patient: q.patient,
        from: q.from,
        to: q.to,
        subject: None,
    };
    Ok(Json(s.app.threads(&caller.actor, &filter.into()).await?).into_response())
}

/// A search of the inbox: every field optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// A participant address.
    pub participant: Option<String>,
    pub patient: Option<String>,
    /// Last activity from (inclusive), Unix seconds.
    pub from: Option<i64>,
    /// Last activity before, Unix seconds.
    pub to: Option<i64>,
    /// Words that must all appear in the subject (case-insensitive).
    pub subject: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/threads/.search", tag = "messages", request_body = SearchBody,
    responses((status = 200, description = "Matching threads you take part in and may read now, newest first")))]
pub async fn search(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(b): ApiJson<SearchBody>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.threads(&caller.actor, &b.into()).await?).into_response())
}

impl From<SearchBody> for ThreadFilter {
    fn from(b: SearchBody) -> ThreadFilter {
        ThreadFilter {
            participant: b.participant,
            patient: b.patient,
            from: b.from,
            to: b.to,
            subject: b.subject,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/threads/{id}", tag = "messages",
    params(("id" = String, Path, description = "Thread id")),
    responses((status = 200, description = "The thread, its messages (signatures checked) and receipts of yours; marked read"),
        (status = 404, body = crate::api::ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.thread(&caller.actor, &id).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/messages", tag = "messages", request_body = MessageBody,
    params(("id" = String, Path, description = "Thread id")),
    responses((status = 201, description = "Sent"), (status = 404, body = crate::api::ErrorBody),
        (status = 422, description = "Stopped by leak prevention")))]
pub async fn send(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<Response, ApiError> {
    let sent = s
        .app
        .send_message(&caller.actor, &id, message_of(body)?)
        .await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/participants", tag = "messages", request_body = ParticipantBody,
    params(("id" = String, Path, description = "Thread id")),
    responses((status = 200, description = "Added: they now hold the thread key"), (status = 404, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody), (status = 422, description = "Stopped by leak prevention")))]
pub async fn add_participant(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ParticipantBody>,
) -> Result<Response, ApiError> {
    let confirmed = confirmations(&body.confirm)?;
    match (body.participant, body.outside) {
        (Some(p), None) => Ok(Json(
            s.app
                .add_participant(&caller.actor, &id, &p, &confirmed)
                .await?,
        )
        .into_response()),
        (None, Some(o)) => {
            let (thread, invited) = s
                .app
                .add_outside_participant(&caller.actor, &id, &o.into(), &confirmed)
                .await?;
            Ok(Json(serde_json::json!({"thread": thread, "outside": invited})).into_response())
        }
        _ => Err(invalid(
            "give either \"participant\" (an address) or \"outside\" (someone by e-mail address)",
        )),
    }
}

/// How a filed attachment enters the record; every field is optional.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct FileIntoBody {
    /// The document's title (the file name when absent).
    pub title: Option<String>,
    /// result, report, letter, image or other (other when absent).
    pub kind: Option<String>,
    /// The data category (the thread's when absent).
    pub category: Option<String>,
    /// A configured retention class (the default when absent).
    pub retention_class: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/attachments/{id}/file", tag = "messages", request_body = FileIntoBody,
    params(("id" = String, Path, description = "Attachment id")),
    responses((status = 201, description = "Filed: the new document of the patient's record"),
        (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn file_attachment(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FileIntoBody>,
) -> Result<Response, ApiError> {
    let into = FileInto {
        title: body.title,
        kind: match body.kind.as_deref() {
            Some(k) => sealroom_app::documents::DocumentKind::parse(k)?,
            None => sealroom_app::documents::DocumentKind::Other,
        },
        category: body
            .category
            .as_deref()
            .map(|c| DataCategory::parse(c).map_err(|e| invalid(format!("category: {e}"))))
            .transpose()?,
        retention_class: body.retention_class,
    };
    let document = s.app.file_attachment(&caller.actor, &id, into).await?;
    Ok((StatusCode::CREATED, Json(document)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/threads/{id}/participants/{participant}", tag = "messages",
    params(("id" = String, Path, description = "Thread id"), ("participant" = String, Path, description = "Participant address")),
    responses((status = 204, description = "Removed: their copy of the thread key is destroyed"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn remove_participant(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path((id, participant)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.app
        .remove_participant(&caller.actor, &id, &participant)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/messages/{id}/recall", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses((status = 204, description = "Recalled: its keys and content are destroyed"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 410, body = crate::api::ErrorBody)))]
pub async fn recall(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.recall_message(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/messages/unread", tag = "messages",
    responses((status = 200, description = "Unread messages in total and per thread")))]
pub async fn unread(State(s): State<AppState>, caller: ApiCaller) -> Result<Response, ApiError> {
    Ok(Json(s.app.unread(&caller.actor).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/attachments", tag = "messages",
    request_body(content_type = "multipart/form-data", description = "One `file` part with its file name and content type; streamed and encrypted as it arrives."),
    responses((status = 201, description = "Stored, waiting to be sent with a message"), (status = 400, body = crate::api::ErrorBody),
        (status = 413, body = crate::api::ErrorBody)))]
pub async fn upload(
    State(s): State<AppState>,
    caller: ApiCaller,
    request: Request,
) -> Result<(StatusCode, Json<UploadedAttachment>), ApiError> {
    let declared = declared_length(request.headers());
    let mut mp = Multipart::from_request(request, &s)
        .await
        .map_err(|e| invalid(format!("send multipart/form-data: {e}")))?;
    let app = s.app.clone();
    // Its own task, so a vanished client still ends in a clean abandon.
    let stored = tokio::spawn(async move {
        let (mut field, file) = file_part(&mut mp, declared).await?;
        let mut upload = app.start_attachment(&caller.actor, file).await?;
        let idle = app.settings().documents.upload_idle;
        loop {
            let Ok(next) = tokio::time::timeout(idle, field.chunk()).await else {
                return Err(invalid(
                    "the upload was abandoned: nothing arrived for too long",
                ));
            };
            match next {
                Ok(Some(chunk)) => {
                    if let Err(e) = upload.write(&chunk).await {
                        drain(&mut field).await;
                        return Err(e.into());
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(invalid(format!("the upload was interrupted: {e}"))),
            }
        }
        Ok::<_, ApiError>(upload.finish().await?)
    })
    .await
    .map_err(|e| ApiError(AppError::internal(format!("the upload task failed: {e}"))))??;
    Ok((StatusCode::CREATED, Json(stored)))
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}/content", tag = "messages",
    params(("id" = String, Path, description = "Attachment id")),
    responses((status = 200, description = "The file, decrypted as it is sent"), (status = 404, body = crate::api::ErrorBody),
        (status = 410, body = crate::api::ErrorBody)))]
pub async fn attachment_content(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let content = s.app.attachment_content(&caller.actor, &id).await?;
    Ok(attachment_response(content))
}

/// An attachment's answer: streamed as a download that is never rendered here.
pub(crate) fn attachment_response(content: sealroom_app::messaging::AttachmentContent) -> Response {
    let mut r = Body::from_stream(content.body).into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&content.media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(content.size));
    h.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&content_disposition(&content.filename))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    r
}

#[utoipa::path(get, path = "/api/v1/messages/events", tag = "messages",
    responses((status = 200, description = "Server-Sent Events: `unread` at once and after every change, `message`, `recalled` and `expired` as they happen (ids only)")))]
pub async fn events(
    State(s): State<AppState>,
    BackgroundCaller(caller): BackgroundCaller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mailboxes = s.app.live_mailboxes(&caller.actor).await?;
    Ok(live_stream(&s, caller.actor, mailboxes).await?)
}

/// How often a stream checks that its caller may still listen, and how long it lives before
/// the browser reconnects (and so authenticates afresh: a signed-out session ends there).
const RECHECK: Duration = Duration::from_secs(30);
const LIFETIME: Duration = Duration::from_secs(300);
/// Unread counts are sent at most this often (a busy inbox gets one count per interval).
const COUNT_EVERY: Duration = Duration::from_millis(250);

type Counting = tokio::task::JoinHandle<Result<sealroom_app::messaging::Unread, AppError>>;

struct Connection {
    sub: sealroom_app::messaging::LiveSubscription,
    app: sealroom_app::App,
    actor: sealroom_app::accounts::Actor,
    pending: Option<sealroom_app::messaging::Unread>,
    recheck: tokio::time::Interval,
    ends: tokio::time::Instant,
    /// When the last count was sent, and when the next may start if a change waits for one.
    counted: tokio::time::Instant,
    count_due: Option<tokio::time::Instant>,
    /// A count running on its own task, so that events never wait for it.
    counting: Option<Counting>,
}

impl Connection {
    fn start_count(&mut self) {
        let (app, actor) = (self.app.clone(), self.actor.clone());
        self.counting = Some(tokio::spawn(async move { app.unread(&actor).await }));
        self.count_due = None;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(c) = self.counting.take() {
            c.abort();
        }
    }
}

/// The event stream of one connection: `unread` at once, then each event as it happens, with
/// fresh counts at most every 250 ms (counted on the side, so events never wait for a count).
/// Every 30 seconds the caller's right to listen is checked again (a leaver, a closed patient
/// account, a changed set of departments end the stream), and after 5 minutes the stream ends
/// so the browser reconnects with its current credentials.
pub(crate) async fn live_stream(
    s: &AppState,
    actor: sealroom_app::accounts::Actor,
    mailboxes: Vec<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let sub = s.app.live().subscribe(mailboxes);
    let app = s.app.clone();
    let first = app.unread(&actor).await?;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset();
    let connection = Connection {
        sub,
        app,
        actor,
        pending: Some(first),
        recheck,
        ends: tokio::time::Instant::now() + LIFETIME,
        counted: tokio::time::Instant::now(),
        count_due: None,
        counting: None,
    };
    let stream = futures_util::stream::unfold(connection, |mut c| async move {
        if let Some(unread) = c.pending.take() {
            let e = Event::default().event("unread").json_data(&unread).ok()?;
            return Some((Ok(e), c));
        }
        loop {
            let due = c.count_due;
            tokio::select! {
                biased;
                event = c.sub.events.recv() => {
                    let event = event?;
                    let e = Event::default().event(event.kind).json_data(&event).ok()?;
                    // A count follows the change, at most every COUNT_EVERY.
                    // (A change during a running count gets a count after it.)
                    if c.count_due.is_none() {
                        c.count_due = Some((c.counted + COUNT_EVERY).max(tokio::time::Instant::now()));
                    }
                    return Some((Ok(e), c));
                }
                counted = async {
                    match c.counting.as_mut() {
                        Some(handle) => handle.await,
                        None => std::future::pending().await,
                    }
                }, if c.counting.is_some() => {
                    c.counting = None;
                    // A failure to count ends nothing; the next change counts again.
                    if let Ok(Ok(unread)) = counted {
                        let e = Event::default().event("unread").json_data(&unread).ok()?;
                        c.counted = tokio::time::Instant::now();
                        return Some((Ok(e), c));
                    }
                }
                _ = async { tokio::time::sleep_until(due.unwrap_or(c.ends)).await }, if due.is_some() && c.counting.is_none() => {
                    c.start_count();
                }
                _ = c.recheck.tick() => {
                    match c.app.live_mailboxes(&c.actor).await {
                        Ok(m) if m == c.sub.mailboxes => {}
                        _ => return None,
                    }
                }
                _ = tokio::time::sleep_until(c.ends) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}
