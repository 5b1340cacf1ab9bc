//! Proxy access (family, legal representatives): one staff member proposes, a second, different
//! one approves or rejects; either may end it later. The proxy's invitation code goes only to
//! the proxy's own contact; staff see its reference.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealroom_app::patient_space::proxies::ProxyProposal;
use sealroom_app::AppError;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyBody {
    /// The proxy's full name, as on their identity document.
    pub name: String,
    /// parent, guardian, spouse_or_partner, child, other_family, legal_representative or carer.
    pub relationship: String,
    /// patient_consent, parental_authority, guardianship or power_of_attorney.
    pub legal_basis: String,
    /// The data categories the proxy may read.
    pub categories: Vec<String>,
    /// The last day the access holds, YYYY-MM-DD.
    pub valid_until: String,
    /// Where the proxy's invitation and sign-in codes go: an e-mail address…
    pub email: Option<String>,
    /// …or a mobile number in international form.
    pub phone: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/proxies", tag = "patient space", request_body = ProxyBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The proposal, waiting for a second person"),
        (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn propose(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(patient): Path<String>,
    ApiJson(body): ApiJson<ProxyBody>,
) -> Result<Response, ApiError> {
    // Each coded field is read on its own, so the error names the field.
    fn coded<T: serde::de::DeserializeOwned>(field: &str, value: &str) -> Result<T, AppError> {
        serde_json::from_value(serde_json::Value::String(value.to_owned()))
            .map_err(|e| AppError::InvalidInput(format!("{field}: {e}")))
    }
    let categories = body
        .categories
        .iter()
        .map(|c| {
            sealroom_domain::DataCategory::parse(c)
                .map_err(|e| AppError::InvalidInput(format!("categories: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proposal = ProxyProposal {
        name: body.name,
        relationship: coded("relationship", &body.relationship)?,
        legal_basis: coded("legal_basis", &body.legal_basis)?,
        categories,
        valid_until: body.valid_until,
        email: body.email,
        phone: body.phone,
    };
    let p = s
        .app
        .propose_proxy(&caller.actor, &patient, proposal)
        .await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/proxies", tag = "patient space",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "The patient's proxy accesses, in every state"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(patient): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.proxies_of(&caller.actor, &patient).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/proxies/{id}/approval", tag = "patient space",
    params(("id" = String, Path, description = "Proxy access id")),
    responses((status = 200, description = "Approved: the proxy's invitation code went to their contact; the patient is told"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 409, description = "Proposed by the same person, or already decided", body = crate::api::ErrorBody)))]
pub async fn approve(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.decide_proxy(&caller.actor, &id, true).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/proxies/{id}/rejection", tag = "patient space",
    params(("id" = String, Path, description = "Proxy access id")),
    responses((status = 200, description = "Rejected"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 409, description = "Proposed by the same person, or already decided", body = crate::api::ErrorBody)))]
pub async fn reject(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.decide_proxy(&caller.actor, &id, false).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/proxies/{id}/revocation", tag = "patient space",
    params(("id" = String, Path, description = "Proxy access id")),
    responses((status = 200, description = "Ended: the proxy's account is closed and signed out"),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody),
        (status = 409, description = "Already ended", body = crate::api::ErrorBody)))]
pub async fn revoke(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.revoke_proxy(&caller.actor, &id).await?).into_response())
}
