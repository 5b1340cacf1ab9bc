//! Departments and staff assignments.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealroom_app::organization::{Assignment, Department, NewAssignment};
use sealroom_domain::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    pub name: String,
    /// care, laboratory or administration.
    pub kind: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssignmentBody {
    pub department_id: String,
    /// A built-in role (clinician, nurse, laboratory, reception, administrator,
    /// security_officer) or a custom role from `access.custom_roles`.
    pub role: String,
    /// Unix seconds; defaults to now.
    pub valid_from: Option<i64>,
    /// Unix seconds; required for temporary staff.
    pub valid_until: Option<i64>,
    #[serde(default)]
    pub temporary: bool,
    /// The assignment waits for the department's confirmation (a mover).
    #[serde(default)]
    pub needs_confirmation: bool,
}

#[utoipa::path(get, path = "/api/v1/departments", tag = "organization",
    responses((status = 200, description = "Departments: id, name, kind")))]
pub async fn list_departments(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<Department>>, ApiError> {
    Ok(Json(s.app.list_departments(&caller.actor).await?))
}

#[utoipa::path(post, path = "/api/v1/departments", tag = "organization", request_body = NewDepartment,
    responses((status = 201, description = "The department"), (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn create_department(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewDepartment>,
) -> Result<Response, ApiError> {
    let d = s
        .app
        .create_department(&caller.actor, &body.name, &body.kind)
        .await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[utoipa::path(get, path = "/api/v1/users/{id}/assignments", tag = "organization",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The person's assignments"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn list_assignments(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Vec<Assignment>>, ApiError> {
    Ok(Json(s.app.assignments_of(&caller.actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/assignments", tag = "organization", request_body = NewAssignmentBody,
    params(("id" = String, Path, description = "User id")),
    responses((status = 201, description = "The assignment"), (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn assign(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewAssignmentBody>,
) -> Result<Response, ApiError> {
    let a = s
        .app
        .assign_staff(
            &caller.actor,
            &id,
            NewAssignment {
                department_id: body.department_id,
                role: body.role,
                valid_from: body.valid_from.map(Timestamp),
                valid_until: body.valid_until.map(Timestamp),
                temporary: body.temporary,
                needs_confirmation: body.needs_confirmation,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

#[utoipa::path(post, path = "/api/v1/assignments/{id}/confirmation", tag = "organization",
    params(("id" = String, Path, description = "Assignment id")),
    responses((status = 200, description = "The confirmed assignment"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn confirm(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Assignment>, ApiError> {
    Ok(Json(s.app.confirm_assignment(&caller.actor, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/assignments/{id}", tag = "organization",
    params(("id" = String, Path, description = "Assignment id")),
    responses((status = 204, description = "Ended"), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn end(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.end_assignment(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/users/{id}/offboarding", tag = "organization",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Account disabled; assignments, grants, break-glass and sessions ended"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn offboard(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.offboard_staff(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationBody {
    /// true: the person keeps the assignment; false: it ends now.
    pub keep: bool,
}

#[utoipa::path(get, path = "/api/v1/departments/{id}/access-report", tag = "organization",
    params(("id" = String, Path, description = "Department id")),
    responses((status = 200, description = "Who can reach which patients of the department, and why"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn access_report(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<sealroom_app::access_reviews::AccessReport>, ApiError> {
    Ok(Json(
        s.app.department_access_report(&caller.actor, &id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/departments/{id}/access-reviews", tag = "organization",
    params(("id" = String, Path, description = "Department id")),
    responses((status = 201, description = "A review with one item per assignment in force"), (status = 403, body = crate::api::ErrorBody)))]
pub async fn start_review(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = s.app.start_access_review(&caller.actor, &id).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

#[utoipa::path(get, path = "/api/v1/access-reviews/{id}", tag = "organization",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, description = "The review and its items"), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn review(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<sealroom_app::access_reviews::AccessReview>, ApiError> {
    Ok(Json(s.app.access_review(&caller.actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/access-reviews/{id}/items/{assignment_id}", tag = "organization", request_body = AttestationBody,
    params(("id" = String, Path, description = "Review id"), ("assignment_id" = String, Path, description = "Assignment id")),
    responses((status = 200, description = "The review after the decision"), (status = 403, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody, description = "Already decided, or one's own assignment")))]
pub async fn attest(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path((id, assignment_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AttestationBody>,
) -> Result<Json<sealroom_app::access_reviews::AccessReview>, ApiError> {
    Ok(Json(
        s.app
            .attest_assignment(&caller.actor, &id, &assignment_id, body.keep)
            .await?,
    ))
}
