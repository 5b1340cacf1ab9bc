//! The JSON API under `/api/v1`, and its OpenAPI document at `/api/openapi.json`, generated
//! from the handler annotations below (utoipa).
//!
//! Callers authenticate with `Authorization: Bearer <token>` (API tokens) or a signed-in
//! browser session plus `X-CSRF-Token` on state-changing requests. Every handler decides
//! through the policy decision point in `sealroom_app::policy`.

mod audit;
mod me;
mod tokens;
mod users;

use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/me", get(me::me))
        .route("/v1/me/sessions", get(me::sessions))
        .route("/v1/me/sessions/{id}", delete(me::end_session))
        .route("/v1/users", get(users::list).post(users::create))
        .route("/v1/users/{id}/sessions", delete(users::end_sessions))
        .route("/v1/tokens", get(tokens::list))
        .route("/v1/tokens/{id}", delete(tokens::revoke))
        .route("/v1/audit/verification", get(audit::verify))
}

/// An error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `invalid_json`, `forbidden`, `step_up_required`.
    pub error: String,
    /// What was wrong, for people.
    pub message: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Sealroom API", description = "Staff accounts, sessions, API tokens and audit of a Sealroom server."),
    paths(me::me, me::sessions, me::end_session, users::list, users::create, users::end_sessions, tokens::list, tokens::revoke, audit::verify),
    components(schemas(ErrorBody, me::Me, me::SessionInfo, users::User, users::NewUser, users::CreatedUser, users::Ended, tokens::Token, audit::Verification)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
