//! Break-glass emergency access and the security officer's review.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealroom_app::grants::{Alert, BreakGlass, BreakGlassReview};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassBody {
    /// The patient's organization identifier (from the wristband or the referral).
    pub mrn: String,
    /// Why emergency access is needed (10 to 1000 characters).
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub justified: bool,
    pub comment: String,
}

#[derive(Deserialize)]
pub struct ReviewQuery {
    #[serde(default)]
    pub pending: bool,
}

#[utoipa::path(post, path = "/api/v1/break-glass", tag = "security", request_body = BreakGlassBody,
    responses((status = 201, description = "Emergency access opened; the security officer is alerted"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn open(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<BreakGlassBody>,
) -> Result<Response, ApiError> {
    let b: BreakGlass = s
        .app
        .open_break_glass(&caller.actor, &body.mrn, &body.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(b)).into_response())
}

#[utoipa::path(get, path = "/api/v1/break-glass", tag = "security",
    params(("pending" = Option<bool>, Query, description = "Only openings not yet reviewed")),
    responses((status = 200, description = "The review list"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn reviews(
    State(s): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<ReviewQuery>,
) -> Result<Json<Vec<BreakGlassReview>>, ApiError> {
    Ok(Json(
        s.app.break_glass_reviews(&caller.actor, q.pending).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/break-glass/{id}/review", tag = "security", request_body = ReviewBody,
    params(("id" = String, Path, description = "Break-glass opening id")),
    responses((status = 204, description = "Reviewed"), (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn review(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<StatusCode, ApiError> {
    s.app
        .review_break_glass(&caller.actor, &id, body.justified, &body.comment)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "security",
    responses((status = 200, description = "Open security alerts"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn alerts(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<Alert>>, ApiError> {
    Ok(Json(s.app.open_alerts(&caller.actor).await?))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledgement", tag = "security",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 204, description = "Acknowledged"), (status = 404, body = crate::api::ErrorBody)))]
pub async fn acknowledge(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.acknowledge_alert(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
