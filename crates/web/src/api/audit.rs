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

#[derive(serde::Deserialize)]
pub struct ExportQuery {
    /// Records after this sequence number (0 for the start).
    #[serde(default)]
    pub after: i64,
    /// At most this many records (1 to 10 000; default 1000).
    pub limit: Option<i64>,
    /// `jsonl` (default) or `fhir`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit",
    params(("after" = Option<i64>, Query, description = "Records after this sequence number"),
           ("limit" = Option<i64>, Query, description = "1 to 10000, default 1000"),
           ("format" = Option<String>, Query, description = "jsonl (application/x-ndjson, for a SIEM) or fhir (a Bundle of FHIR R4 AuditEvent)")),
    responses((status = 200, description = "The records, in order"), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn export(
    State(s): State<AppState>,
    caller: ApiCaller,
    axum::extract::Query(q): axum::extract::Query<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let format = match q.format.as_deref() {
        None | Some("jsonl") => sealroom_app::audit_export::ExportFormat::JsonLines,
        Some("fhir") => sealroom_app::audit_export::ExportFormat::FhirBundle,
        Some(_) => {
            return Err(ApiError(sealroom_app::AppError::InvalidInput(
                "format must be jsonl or fhir".into(),
            )))
        }
    };
    let rows = s
        .app
        .export_audit(&caller.actor, q.after, q.limit.unwrap_or(1000))
        .await?;
    Ok(match format {
        sealroom_app::audit_export::ExportFormat::JsonLines => {
            let mut body = String::new();
            for r in &rows {
                body.push_str(&sealroom_app::audit_export::to_json_line(r).to_string());
                body.push('\n');
            }
            (
                [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
                body,
            )
                .into_response()
        }
        sealroom_app::audit_export::ExportFormat::FhirBundle => (
            [(axum::http::header::CONTENT_TYPE, "application/fhir+json")],
            Json(sealroom_app::audit_export::to_fhir_bundle(&rows)),
        )
            .into_response(),
    })
}
