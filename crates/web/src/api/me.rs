//! The caller's own account and sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use sealroom_app::policy::{authorize, Action, Principal};
use sealroom_app::AppError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct Me {
    /// `user:<id>` or `service:<name>`.
    pub principal: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<String>,
    /// Scopes of the API token, absent for browser sessions.
    pub scopes: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client_address: String,
    pub user_agent: String,
    pub current: bool,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = crate::api::ErrorBody)))]
pub async fn me(State(s): State<AppState>, caller: ApiCaller) -> Result<Json<Me>, ApiError> {
    let principal = caller.actor.principal.clone();
    match &principal {
        Principal::Staff {
            user_id,
            role,
            scopes,
        } => {
            authorize(&principal, Action::ReadOwnAccount)?;
            // A browser session already carries the person's details, checked this request.
            if let Some(session) = &caller.session {
                let u = &session.user;
                return Ok(Json(Me {
                    principal: caller.actor.name(),
                    email: Some(u.email.clone()),
                    display_name: Some(u.display_name.clone()),
                    role: Some(role.as_str().into()),
                    scopes: None,
                }));
            }
            let u = s
                .app
                .store()
                .user_by_id(user_id)
                .await
                .map_err(AppError::from)?
                .ok_or(AppError::Unauthenticated)?;
            Ok(Json(Me {
                principal: caller.actor.name(),
                email: Some(u.email),
                display_name: Some(u.display_name),
                role: Some(role.as_str().into()),
                scopes: scopes.clone(),
            }))
        }
        Principal::Service { scopes, .. } => Ok(Json(Me {
            principal: caller.actor.name(),
            email: None,
            display_name: None,
            role: None,
            scopes: Some(scopes.clone()),
        })),
        Principal::Operator
        | Principal::PatientAccount { .. }
        | Principal::OutsideRecipient { .. } => Err(AppError::Forbidden.into()),
    }
}

fn session_of(caller: &ApiCaller) -> Result<&sealroom_app::sessions::CurrentSession, ApiError> {
    caller.session.as_ref().ok_or_else(|| {
        ApiError(AppError::InvalidInput(
            "sessions are listed for browser sessions; API tokens have none".into(),
        ))
    })
}

#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me",
    responses((status = 200, body = [SessionInfo]), (status = 401, body = crate::api::ErrorBody)))]
pub async fn sessions(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    let me = session_of(&caller)?;
    let rows = s.app.my_sessions(me).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| SessionInfo {
                current: r.id == me.id,
                id: r.id,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                client_address: r.client_address,
                user_agent: r.user_agent,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = crate::api::ErrorBody)))]
pub async fn end_session(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let me = session_of(&caller)?;
    s.app.end_my_session(me, &id, &caller.actor.client).await?;
    Ok(StatusCode::NO_CONTENT)
}
