//! Records management: legal holds and lawful erasure approved by a second person. For the
//! records manager and the data-protection officer (administrators and security officers);
//! none of it reads content.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use sealroom_app::retention::ErasureView;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldBody {
    /// Why the document must be kept (sealed; never in the audit log).
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    /// right-to-erasure, court-order or filed-in-error.
    pub legal_basis: String,
    /// The request's details (sealed; shown only to the people who decide it).
    pub reason: String,
}

#[utoipa::path(put, path = "/api/v1/documents/{id}/legal-hold", tag = "records", request_body = LegalHoldBody,
    params(("id" = String, Path, description = "Document id")),
    responses((status = 204, description = "Held: kept past its retention and out of reach of erasure"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody), (status = 410, body = crate::api::ErrorBody)))]
pub async fn hold(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LegalHoldBody>,
) -> Result<StatusCode, ApiError> {
    s.app
        .place_legal_hold(&caller.actor, &id, &body.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/documents/{id}/legal-hold", tag = "records",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 204, description = "Released"), (status = 403, body = crate::api::ErrorBody),
        (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn release(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.release_legal_hold(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/documents/{id}/erasure-requests", tag = "records", request_body = ErasureBody,
    params(("id" = String, Path, description = "Document id")),
    responses((status = 201, description = "Requested; a second person must approve"), (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody), (status = 410, body = crate::api::ErrorBody)))]
pub async fn request_erasure(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ErasureBody>,
) -> Result<(StatusCode, Json<ErasureView>), ApiError> {
    let view = s
        .app
        .request_erasure(&caller.actor, &id, &body.legal_basis, &body.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/erasure-requests", tag = "records",
    responses((status = 200, description = "Requests waiting for a second person"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn pending(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<ErasureView>>, ApiError> {
    Ok(Json(s.app.pending_erasures(&caller.actor).await?))
}

#[utoipa::path(post, path = "/api/v1/erasure-requests/{id}/approval", tag = "records",
    params(("id" = String, Path, description = "Erasure request id")),
    responses((status = 200, description = "Approved: the document's keys are destroyed and its blobs removed"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody)))]
pub async fn approve(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ErasureView>, ApiError> {
    Ok(Json(s.app.decide_erasure(&caller.actor, &id, true).await?))
}

#[utoipa::path(post, path = "/api/v1/erasure-requests/{id}/rejection", tag = "records",
    params(("id" = String, Path, description = "Erasure request id")),
    responses((status = 200, description = "Rejected; the document stays"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody)))]
pub async fn reject(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ErasureView>, ApiError> {
    Ok(Json(s.app.decide_erasure(&caller.actor, &id, false).await?))
}
