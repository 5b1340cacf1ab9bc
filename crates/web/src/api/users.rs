//! Staff accounts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealroom_app::accounts::UserSummary;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// One of administrator, security_officer, clinician, nurse, laboratory, reception.
    pub role: String,
    /// enrolling, active or disabled.
    pub status: String,
    pub password_locked: bool,
    pub created_at: i64,
}

impl From<UserSummary> for User {
    fn from(u: UserSummary) -> Self {
        User {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            status: u.status,
            password_locked: u.password_locked,
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: User,
    /// Single-use link the person opens to enrol. Shown once.
    pub enrolment_link: String,
}

#[derive(Serialize, ToSchema)]
pub struct Ended {
    pub ended: usize,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [User]), (status = 401, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(
        s.app
            .list_users(&caller.actor)
            .await?
            .into_iter()
            .map(User::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody, description = "Not allowed, or creating an administrator without a recent step-up"),
        (status = 409, body = crate::api::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let created = s
        .app
        .create_user(&caller.actor, &body.email, &body.display_name, &body.role)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: created.user.into(),
            enrolment_link: created.enrolment_link,
        }),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = Ended), (status = 403, body = crate::api::ErrorBody)))]
pub async fn end_sessions(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Ended>, ApiError> {
    Ok(Json(Ended {
        ended: s.app.end_sessions_of(&caller.actor, &id).await?,
    }))
}
