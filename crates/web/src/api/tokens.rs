//! API tokens (created with `sealroom admin token create`; listed and revoked here).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct Token {
    pub id: String,
    pub name: String,
    /// `user:<id>` or `service:<name>`.
    pub owner: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    pub last_used_at: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = [Token]), (status = 403, body = crate::api::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<Token>>, ApiError> {
    let tokens = s.app.list_api_tokens(&caller.actor).await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| Token {
                id: t.id,
                name: t.name,
                owner: t.owner,
                scopes: t.scopes,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked: t.revoked,
                last_used_at: t.last_used_at,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = crate::api::ErrorBody)))]
pub async fn revoke(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.revoke_api_token(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
