//! Versions of the access policy, changed only with a second person's approval.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealroom_app::policy_versions::PolicyVersion;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalBody {
    /// The whole Cedar policy set; every policy needs an `@id("…")`.
    pub policy_text: String,
    /// What changes and why.
    pub summary: String,
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "policies",
    responses((status = 200, description = "Every version, newest first"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<PolicyVersion>>, ApiError> {
    Ok(Json(s.app.policy_versions(&caller.actor).await?))
}

#[utoipa::path(post, path = "/api/v1/policies", tag = "policies", request_body = ProposalBody,
    responses((status = 201, description = "Proposed; in force once someone else approves"),
        (status = 400, body = crate::api::ErrorBody, description = "Does not parse or fit the schema"),
        (status = 403, body = crate::api::ErrorBody)))]
pub async fn propose(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<ProposalBody>,
) -> Result<Response, ApiError> {
    let v = s
        .app
        .propose_policy(&caller.actor, &body.policy_text, &body.summary)
        .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[utoipa::path(post, path = "/api/v1/policies/{version}/approval", tag = "policies",
    params(("version" = i64, Path, description = "Policy version")),
    responses((status = 200, description = "In force now"), (status = 403, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody, description = "Not waiting for approval, or approved by its own author")))]
pub async fn approve(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(version): Path<i64>,
) -> Result<Json<PolicyVersion>, ApiError> {
    Ok(Json(s.app.approve_policy(&caller.actor, version).await?))
}

#[utoipa::path(post, path = "/api/v1/policies/{version}/rejection", tag = "policies",
    params(("version" = i64, Path, description = "Policy version")),
    responses((status = 204, description = "Rejected"), (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn reject(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(version): Path<i64>,
) -> Result<StatusCode, ApiError> {
    s.app.reject_policy(&caller.actor, version).await?;
    Ok(StatusCode::NO_CONTENT)
}
