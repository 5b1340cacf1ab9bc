//! Verification of the audit chain.

use axum::extract::State;
use axum::Json;
use sealroom_app::policy::{authorize, Action};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct Verification {
    pub intact: bool,
    pub records_checked: i64,
    /// Sequence number of the first record that does not fit the chain.
    pub first_broken_record: Option<i64>,
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit/verification", tag = "audit",
    responses((status = 200, body = Verification), (status = 403, body = crate::api::ErrorBody)))]
pub async fn verify(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Verification>, ApiError> {
    authorize(&caller.actor.principal, Action::ReadAudit)?;
    let r = s.app.verify_audit_chain().await?;
    Ok(Json(Verification {
        intact: r.first_broken.is_none(),
        records_checked: r.checked,
        first_broken_record: r.first_broken.as_ref().map(|b| b.0),
        reason: r.first_broken.map(|b| b.1),
    }))
}
