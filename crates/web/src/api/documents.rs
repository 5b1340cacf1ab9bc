//! Documents: upload (multipart: a `metadata` JSON part, then the `file` part, streamed),
//! corrections, listing, and download.
//!
//! Nothing uploaded is ever rendered by the server: downloads are `attachment`, `nosniff`
//! and sandboxed. Titles and file names travel in bodies and headers, never in URLs.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealroom_app::documents::{
    Correction, DocumentKind, DocumentList, DocumentUpload, DocumentView, FileDescription,
    NewDocument, UploadTarget,
};
use sealroom_app::AppError;
use sealroom_domain::DataCategory;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::AppState;

/// The `metadata` part of a new document.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocumentBody {
    /// One of the data categories (results, imaging, clinical_notes, …).
    pub category: String,
    /// result, report, letter, image or other.
    pub kind: String,
    pub title: String,
    /// A configured retention class; the default class when absent.
    pub retention_class: Option<String>,
    pub episode_id: Option<String>,
    pub test_id: Option<String>,
    /// The staff member who wrote it, when not the uploader.
    pub author_id: Option<String>,
}

/// The `metadata` part of a correction.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    /// What was corrected, and why.
    pub note: String,
    pub author_id: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// Comma-separated categories; all but identification when absent.
    pub category: Option<String>,
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(AppError::InvalidInput(message.into()))
}

pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Read the `metadata` part, which must come first.
async fn metadata<T: serde::de::DeserializeOwned>(mp: &mut Multipart) -> Result<T, ApiError> {
    let field = mp
        .next_field()
        .await
        .map_err(|e| invalid(format!("the multipart body is not valid: {e}")))?
        .ok_or_else(|| invalid("the body has no parts; send a metadata part, then a file part"))?;
    if field.name() != Some("metadata") {
        return Err(invalid(
            "the first part must be named \"metadata\" (JSON), followed by the \"file\" part",
        ));
    }
    let bytes = field
        .bytes()
        .await
        .map_err(|e| invalid(format!("the metadata part could not be read: {e}")))?;
    if bytes.len() > crate::BODY_LIMIT {
        return Err(invalid("the metadata part is too large"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("the metadata part is not valid: {e}")))
}

/// The `file` part's description; its content is read by [`stream_into`].
pub(crate) async fn file_part<'a>(
    mp: &'a mut Multipart,
    declared: Option<u64>,
) -> Result<(axum::extract::multipart::Field<'a>, FileDescription), ApiError> {
    let field = mp
        .next_field()
        .await
        .map_err(|e| invalid(format!("the multipart body is not valid: {e}")))?
        .ok_or_else(|| invalid("the body has no \"file\" part after the metadata"))?;
    if field.name() != Some("file") {
        return Err(invalid("the second part must be named \"file\""));
    }
    let description = FileDescription {
        filename: field.file_name().unwrap_or("document").to_owned(),
        media_type: field.content_type().unwrap_or("").to_owned(),
        declared_size: declared,
    };
    Ok((field, description))
}

/// After a refusal, read (and discard) at most this much more of the body, for this long,
/// so that the client finishes sending and sees the answer instead of a reset connection.
pub(crate) const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn drain(field: &mut axum::extract::multipart::Field<'_>) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut read = 0u64;
        while let Ok(Some(chunk)) = field.chunk().await {
            read += chunk.len() as u64;
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// Feed the file part into the upload; on any failure the upload is abandoned (nothing kept).
async fn stream_into(
    mut field: axum::extract::multipart::Field<'_>,
    mut upload: DocumentUpload,
    idle: std::time::Duration,
) -> Result<DocumentView, ApiError> {
    loop {
        // A client that vanishes without closing its connection must not hold an upload open.
        let Ok(next) = tokio::time::timeout(idle, field.chunk()).await else {
            upload.abandon("the client sent nothing for too long");
            return Err(invalid(format!(
                "the upload was abandoned: nothing arrived for {} seconds",
                idle.as_secs()
            )));
        };
        match next {
            Ok(Some(chunk)) => {
                if let Err(e) = upload.write(&chunk).await {
                    upload.abandon(&e.to_string());
                    drain(&mut field).await;
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => {
                upload.abandon("the upload was interrupted");
                return Err(invalid(format!("the upload was interrupted: {e}")));
            }
        }
    }
    Ok(upload.finish().await?)
}

fn category(s: &str) -> Result<DataCategory, ApiError> {
    DataCategory::parse(s).map_err(|e| invalid(e.to_string()))
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "Patient id")),
    request_body(content_type = "multipart/form-data", description = "A `metadata` part (JSON, NewDocumentBody), then a `file` part with its file name and content type. Streamed: any size up to documents.max_upload_mb."),
    responses((status = 201, description = "The stored, signed document"), (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 413, body = crate::api::ErrorBody)))]
pub async fn upload(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(patient_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    receive(&s, caller, request, move |meta: NewDocumentBody, file| {
        Ok(UploadTarget::New(NewDocument {
            patient_id,
            category: category(&meta.category)?,
            kind: DocumentKind::parse(&meta.kind)?,
            title: meta.title,
            file,
            retention_class: meta.retention_class,
            episode_id: meta.episode_id,
            test_id: meta.test_id,
            author_id: meta.author_id,
        }))
    })
    .await
}

/// Receive a multipart upload: the `metadata` part (`M`), then the file, streamed into the
/// upload `target` makes of them. It runs in its own task: when the client vanishes, the
/// server drops the handler, but the upload still runs to its end (reads the body's error,
/// abandons and audits) rather than stopping at whatever `.await` it had reached.
async fn receive<M: serde::de::DeserializeOwned + Send + 'static>(
    s: &AppState,
    caller: ApiCaller,
    request: Request,
    target: impl FnOnce(M, FileDescription) -> Result<UploadTarget, ApiError> + Send + 'static,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let declared = declared_length(request.headers());
    let mut mp = Multipart::from_request(request, s)
        .await
        .map_err(|e| invalid(format!("send multipart/form-data: {e}")))?;
    let app = s.app.clone();
    let view = tokio::spawn(async move {
        let meta: M = metadata(&mut mp).await?;
        let (field, file) = file_part(&mut mp, declared).await?;
        let upload = app.start_upload(&caller.actor, target(meta, file)?).await?;
        stream_into(field, upload, app.settings().documents.upload_idle).await
    })
    .await
    .map_err(|e| ApiError(AppError::internal(format!("the upload task failed: {e}"))))??;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(post, path = "/api/v1/documents/{id}/versions", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    request_body(content_type = "multipart/form-data", description = "A `metadata` part (JSON, CorrectionBody), then the corrected `file` part."),
    responses((status = 201, description = "The document with its new version"), (status = 400, body = crate::api::ErrorBody),
        (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody), (status = 410, body = crate::api::ErrorBody)))]
pub async fn correct(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(document_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    receive(&s, caller, request, move |meta: CorrectionBody, file| {
        Ok(UploadTarget::Correction(Correction {
            document_id,
            file,
            note: meta.note,
            author_id: meta.author_id,
        }))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "Patient id"), ("category" = Option<String>, Query, description = "Comma-separated categories")),
    responses((status = 200, description = "Documents the caller may see, with each version's signer and signature status"),
        (status = 404, body = crate::api::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(patient_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DocumentList>, ApiError> {
    let cats = q
        .category
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .map(|c| category(c.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(
        s.app.documents(&caller.actor, &patient_id, &cats).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "The document and all its versions"), (status = 404, body = crate::api::ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(document_id): Path<String>,
) -> Result<Json<DocumentView>, ApiError> {
    Ok(Json(s.app.document(&caller.actor, &document_id).await?))
}

#[utoipa::path(post, path = "/api/v1/documents/{id}/release", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "The document, now visible in the patient space (release.state = released)"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 410, body = crate::api::ErrorBody)))]
pub async fn release(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(document_id): Path<String>,
) -> Result<Json<DocumentView>, ApiError> {
    Ok(Json(
        s.app.release_document(&caller.actor, &document_id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "The latest version's content, as an attachment"),
        (status = 404, body = crate::api::ErrorBody), (status = 410, body = crate::api::ErrorBody),
        (status = 500, description = "integrity_check_failed: the stored copy was altered or damaged; nothing is sent")))]
pub async fn content(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(document_id): Path<String>,
) -> Result<Response, ApiError> {
    download(&s, &caller.actor, &document_id, None).await
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/versions/{version}/content", tag = "documents",
    params(("id" = String, Path, description = "Document id"), ("version" = u32, Path, description = "Version number, from 1")),
    responses((status = 200, description = "That version's content, as an attachment"), (status = 404, body = crate::api::ErrorBody)))]
pub async fn version_content(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path((document_id, version)): Path<(String, u32)>,
) -> Result<Response, ApiError> {
    download(&s, &caller.actor, &document_id, Some(version)).await
}

pub(crate) async fn download(
    s: &AppState,
    actor: &sealroom_app::accounts::Actor,
    document_id: &str,
    version: Option<u32>,
) -> Result<Response, ApiError> {
    let d = s.app.download_document(actor, document_id, version).await?;
    Ok(download_response(d))
}

/// A download's answer: the plaintext streamed as an attachment that is never rendered here,
/// with the version and its signature status in headers.
pub(crate) fn download_response(d: sealroom_app::documents::DocumentDownload) -> Response {
    let mut r = Body::from_stream(d.body).into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&d.version.media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(d.version.size));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&d.version.filename)) {
        h.insert(CONTENT_DISPOSITION, v);
    } else {
        h.insert(CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
    // Never rendered here, even if a browser is pointed at it.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert("x-sealroom-version", HeaderValue::from(d.version.version));
    h.insert(
        "x-sealroom-signature",
        HeaderValue::from_static(d.version.signature.status),
    );
    if let Ok(v) = HeaderValue::from_str(&d.version.signature.signer_id) {
        h.insert("x-sealroom-signed-by", v);
    }
    r
}

/// `attachment` with an ASCII fallback name and the exact name in RFC 8187 encoding.
pub(crate) fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_always_attachments_and_safely_quoted() {
        assert_eq!(
            content_disposition("résultat \"final\".pdf"),
            "attachment; filename=\"r_sultat _final_.pdf\"; filename*=UTF-8''r%C3%A9sultat%20%22final%22.pdf"
        );
        assert!(HeaderValue::from_str(&content_disposition("a\r\nSet-Cookie: x")).is_ok());
    }
}
