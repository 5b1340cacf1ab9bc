//! Resumable uploads over the tus 1.0 protocol (core, creation, termination and expiration):
//! any tus client (tus-js-client, Uppy, tusd's clients) can send a multi-gigabyte file that
//! survives dropped connections.
//!
//! An upload becomes a document version or a message attachment. `Upload-Metadata` says which
//! and describes it:
//! - a document, like the `metadata` part of a one-request upload: `patient_id`, `category`,
//!   `kind`, `title`, `filename`, `filetype`, and optionally `retention_class`, `episode_id`,
//!   `test_id`, `author_id`; or, for a correction, `document_id` and `note`. Responses name the
//!   document in `X-Sealroom-Document`.
//! - an attachment: `for` = `attachment`, `filename` and `filetype`. Responses name the
//!   attachment in `X-Sealroom-Attachment`; once complete, its id goes in a message's
//!   `attachments` like one uploaded in one request to `/api/v1/attachments`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use futures_util::StreamExt;
use sealroom_app::documents::{
    Correction, DocumentKind, FileDescription, NewDocument, UploadTarget,
};
use sealroom_app::uploads::{NewUpload, Purpose, UploadProgress, UploadStatus};
use sealroom_app::AppError;
use sealroom_domain::DataCategory;

use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::AppState;

const TUS_VERSION: &str = "1.0.0";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(AppError::InvalidInput(message.into()))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every tus request but OPTIONS must name the protocol version; the refusal otherwise.
fn version_refused(headers: &HeaderMap) -> Option<Response> {
    if header(headers, "tus-resumable") == Some(TUS_VERSION) {
        return None;
    }
    let mut r = crate::error::message_response(
        StatusCode::PRECONDITION_FAILED,
        true,
        "tus_version",
        "send Tus-Resumable: 1.0.0 (the only tus version this server speaks)",
    );
    r.headers_mut()
        .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    Some(r)
}

fn with_tus(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

fn number(headers: &HeaderMap, name: &str) -> Result<u64, ApiError> {
    header(headers, name)
        .ok_or_else(|| invalid(format!("the {name} header is required")))?
        .trim()
        .parse()
        .map_err(|_| invalid(format!("{name} must be a whole number of bytes")))
}

/// `key base64,key base64,…`; a key alone means an empty value.
fn metadata(headers: &HeaderMap) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    let Some(raw) = header(headers, "upload-metadata") else {
        return Ok(out);
    };
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let bytes = BASE64
            .decode(value.trim().as_bytes())
            .map_err(|_| invalid(format!("Upload-Metadata: the value of {key} is not base64")))?;
        let value = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("Upload-Metadata: the value of {key} is not UTF-8")))?;
        if out.insert(key.to_owned(), value).is_some() {
            return Err(invalid(format!("Upload-Metadata: {key} is given twice")));
        }
    }
    Ok(out)
}

fn target(mut m: HashMap<String, String>) -> Result<NewUpload, ApiError> {
    let mut take = |k: &str| m.remove(k).filter(|v| !v.is_empty());
    let purpose = take("for");
    let file = FileDescription {
        filename: take("filename").unwrap_or_else(|| "document".into()),
        media_type: take("filetype").unwrap_or_default(),
        declared_size: None,
    };
    match purpose.as_deref() {
        None | Some("document") => {}
        Some("attachment") => {
            if let Some(k) = m.keys().next() {
                return Err(invalid(format!(
                    "Upload-Metadata: {k} is not a key of an attachment (filename, filetype)"
                )));
            }
            return Ok(NewUpload::Attachment(file));
        }
        Some(other) => {
            return Err(invalid(format!(
                "Upload-Metadata: for is {other}; an upload is for a document or an attachment"
            )))
        }
    }
    if let Some(document_id) = take("document_id") {
        let note =
            take("note").ok_or_else(|| invalid("Upload-Metadata: a correction needs a note"))?;
        let author_id = take("author_id");
        return Ok(NewUpload::Document(UploadTarget::Correction(Correction {
            document_id,
            file,
            note,
            author_id,
        })));
    }
    let need = |v: Option<String>, k: &str| {
        v.ok_or_else(|| invalid(format!("Upload-Metadata: {k} is required")))
    };
    let patient_id = need(take("patient_id"), "patient_id")?;
    let category = DataCategory::parse(&need(take("category"), "category")?)
        .map_err(|e| invalid(e.to_string()))?;
    let kind = DocumentKind::parse(&need(take("kind"), "kind")?)?;
    let title = need(take("title"), "title")?;
    let new = NewDocument {
        patient_id,
        category,
        kind,
        title,
        file,
        retention_class: take("retention_class"),
        episode_id: take("episode_id"),
        test_id: take("test_id"),
        author_id: take("author_id"),
    };
    if let Some(k) = m.keys().next() {
        return Err(invalid(format!("Upload-Metadata: {k} is not a known key")));
    }
    Ok(NewUpload::Document(UploadTarget::New(new)))
}

fn status_headers(r: &mut Response, s: &UploadStatus) {
    let h = r.headers_mut();
    h.insert("upload-offset", HeaderValue::from(s.offset));
    h.insert("upload-length", HeaderValue::from(s.length));
    let expires = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(s.expires_at).unwrap_or(0));
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(expires)) {
        h.insert("upload-expires", v);
    }
    if let Ok(v) = HeaderValue::from_str(&s.object_id) {
        h.insert(object_header(s.purpose), v);
    }
}

/// The header that names what the upload becomes.
fn object_header(purpose: Purpose) -> HeaderName {
    match purpose {
        Purpose::Document => HeaderName::from_static("x-sealroom-document"),
        Purpose::Attachment => HeaderName::from_static("x-sealroom-attachment"),
    }
}

/// `OPTIONS /api/v1/uploads`: what this server supports.
pub async fn options(State(s): State<AppState>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert(
        "tus-extension",
        HeaderValue::from_static("creation,termination,expiration"),
    );
    h.insert(
        "tus-max-size",
        HeaderValue::from(s.app.settings().documents.max_upload_bytes),
    );
    r
}

/// `POST /api/v1/uploads`: create an upload (checked and permitted now; a document's is
/// audited now, an attachment's when it is complete).
pub async fn create(
    State(s): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(r) = version_refused(&headers) {
        return Ok(r);
    }
    if headers.contains_key("upload-defer-length") {
        return Err(invalid(
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    if header(&headers, "content-length").is_some_and(|n| n.trim() != "0") {
        return Err(invalid(
            "create the upload with an empty body, then send the content with PATCH",
        ));
    }
    let length = number(&headers, "upload-length")?;
    let status = s
        .app
        .create_upload(&caller.actor, target(metadata(&headers)?)?, length)
        .await?;
    let mut r = StatusCode::CREATED.into_response();
    status_headers(&mut r, &status);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/uploads/{}", status.id)) {
        r.headers_mut().insert("location", v);
    }
    Ok(with_tus(r))
}

/// `HEAD /api/v1/uploads/{id}`: where the upload stands.
pub async fn head(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(r) = version_refused(&headers) {
        return Ok(r);
    }
    let status = s.app.upload_status(&caller.actor, &id).await?;
    let mut r = StatusCode::OK.into_response();
    status_headers(&mut r, &status);
    Ok(with_tus(r))
}

/// `PATCH /api/v1/uploads/{id}`: content from `Upload-Offset`. Whatever whole segments
/// arrived count even when the connection drops; the answer's `Upload-Offset` says where to
/// continue.
pub async fn patch(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    if let Some(r) = version_refused(&headers) {
        return Ok(r);
    }
    if header(&headers, "content-type") != Some(OFFSET_OCTET_STREAM) {
        return Err(ApiError(AppError::InvalidInput(format!(
            "send the content as {OFFSET_OCTET_STREAM}"
        ))));
    }
    let offset = number(&headers, "upload-offset")?;
    let app = s.app.clone();
    let idle = app.settings().documents.upload_idle;
    let actor = caller.actor;
    let body: Body = request.into_body();
    // In its own task: a client that vanishes still gets its whole segments kept.
    let progress = tokio::spawn(async move {
        let mut writer = app.continue_upload(&actor, &id, offset).await?;
        let mut stream = body.into_data_stream();
        let mut failure = None;
        loop {
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    if let Err(e) = writer.write(&chunk).await {
                        failure = Some(e);
                        break;
                    }
                }
                Ok(None) => break,
                Ok(Some(Err(_))) | Err(_) => break,
            }
        }
        match failure {
            // Too much content: nothing of this request counts beyond whole segments.
            Some(e) => {
                let _ = writer.commit().await;
                Err(e)
            }
            None => writer.commit().await,
        }
    })
    .await
    .map_err(|e| ApiError(AppError::internal(format!("the upload task failed: {e}"))))??;
    let mut r = StatusCode::NO_CONTENT.into_response();
    match progress {
        UploadProgress::Partial(status) => status_headers(&mut r, &status),
        UploadProgress::Attachment(a) => {
            let h = r.headers_mut();
            h.insert("upload-offset", HeaderValue::from(a.size));
            if let Ok(v) = HeaderValue::from_str(&a.id) {
                h.insert(object_header(Purpose::Attachment), v);
            }
        }
        UploadProgress::Document(view) => {
            let h = r.headers_mut();
            if let Some(v) = view.versions.last() {
                h.insert("upload-offset", HeaderValue::from(v.size));
                h.insert("x-sealroom-version", HeaderValue::from(v.version));
            }
            if let Ok(v) = HeaderValue::from_str(&view.id) {
                h.insert(HeaderName::from_static("x-sealroom-document"), v);
            }
        }
    }
    Ok(with_tus(r))
}

/// `DELETE /api/v1/uploads/{id}`: give up; the staged content is removed.
pub async fn delete(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(r) = version_refused(&headers) {
        return Ok(r);
    }
    s.app.cancel_upload(&caller.actor, &id).await?;
    Ok(with_tus(StatusCode::NO_CONTENT.into_response()))
}
