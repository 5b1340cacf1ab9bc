//! Patients: registration, search, my patients, the patient view, episodes, tests, records,
//! grants and access history. Names, birth dates and national identifiers travel in request
//! bodies, never in URLs (which end up in logs and browser history): search is a POST.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealroom_app::grants::{AccessRecord, Grant, Grantee, NewGrant};
use sealroom_app::patients::{
    Episode, MyPatient, NewPatient, PatientIdentity, PatientQuery, PatientRecord, PatientView,
    RecordsView, Registration, Test,
};
use sealroom_app::AppError;
use sealroom_domain::{AdministrativeSex, DataCategory, Timestamp};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NationalIdBody {
    /// BE, FR, RO or GB.
    pub country: String,
    pub value: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatientBody {
    pub family_name: String,
    #[serde(default)]
    pub given_names: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    /// female, male, other or unknown.
    #[schema(value_type = String)]
    pub sex: AdministrativeSex,
    pub national_id: Option<NationalIdBody>,
    /// Register although patients with the same name and birth date exist.
    #[serde(default)]
    pub register_anyway: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    pub mrn: Option<String>,
    pub national_id: Option<NationalIdBody>,
    pub family_name: Option<String>,
    pub birth_date: Option<String>,
    pub given_names: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentBody {
    pub department_id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    pub laboratory_id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// identification, administrative, results, clinical_notes, imaging, mental_health,
    /// sexual_health or genetics.
    pub category: String,
    pub text: String,
}

#[derive(Deserialize)]
pub struct RecordsQuery {
    /// Comma-separated categories; all but identification when absent.
    pub category: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    pub grantee_user_id: Option<String>,
    pub grantee_department_id: Option<String>,
    pub categories: Vec<String>,
    #[serde(default)]
    pub allow_write: bool,
    pub purpose: String,
    /// Unix seconds.
    pub valid_until: i64,
}

fn categories(list: &[String]) -> Result<Vec<DataCategory>, ApiError> {
    list.iter()
        .map(|c| {
            DataCategory::parse(c).map_err(|e| ApiError(AppError::InvalidInput(e.to_string())))
        })
        .collect()
}

#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", request_body = NewPatientBody,
    responses((status = 201, description = "Registered"), (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody),
        (status = 409, description = "Same national identifier (refused), or same name and birth date (`possible_duplicate`, with `candidates`; send again with register_anyway)")))]
pub async fn register(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewPatientBody>,
) -> Result<Response, ApiError> {
    let outcome = s
        .app
        .register_patient(
            &caller.actor,
            NewPatient {
                family_name: body.family_name,
                given_names: body.given_names,
                birth_date: body.birth_date,
                sex: body.sex,
                national_id: body.national_id.map(|n| (n.country, n.value)),
                register_anyway: body.register_anyway,
            },
        )
        .await?;
    Ok(match outcome {
        Registration::Registered(p) => (StatusCode::CREATED, Json(p)).into_response(),
        Registration::PossibleDuplicates(candidates) => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "possible_duplicate",
                "message": "patients with the same name and birth date are already registered; check them, then register anyway if this is another person",
                "candidates": candidates,
            })),
        )
            .into_response(),
    })
}

#[utoipa::path(post, path = "/api/v1/patients/.search", tag = "patients", request_body = SearchBody,
    responses((status = 200, description = "Patients the caller may identify"), (status = 400, body = crate::api::ErrorBody)))]
pub async fn search(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<Vec<PatientIdentity>>, ApiError> {
    let query = match body {
        SearchBody { mrn: Some(m), national_id: None, family_name: None, birth_date: None, given_names: None } => PatientQuery::Mrn(m),
        SearchBody { mrn: None, national_id: Some(n), family_name: None, birth_date: None, given_names: None } => {
            PatientQuery::NationalId { country: n.country, value: n.value }
        }
        SearchBody { mrn: None, national_id: None, family_name: Some(f), birth_date: Some(b), given_names } => {
            PatientQuery::NameAndBirthDate { family_name: f, birth_date: b, given_names }
        }
        _ => {
            return Err(ApiError(AppError::InvalidInput(
                "search by exactly one of: mrn; national_id; family_name with birth_date (and optionally given_names)".into(),
            )))
        }
    };
    Ok(Json(s.app.search_patients(&caller.actor, query).await?))
}

#[utoipa::path(get, path = "/api/v1/patients/mine", tag = "patients",
    responses((status = 200, description = "Patients admitted now to the caller's departments")))]
pub async fn mine(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<MyPatient>>, ApiError> {
    Ok(Json(s.app.my_patients(&caller.actor).await?))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "Identity, episodes if permitted, readable categories"), (status = 404, body = crate::api::ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<PatientView>, ApiError> {
    Ok(Json(s.app.patient(&caller.actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/admission", tag = "patients", request_body = DepartmentBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The new episode"), (status = 403, body = crate::api::ErrorBody),
        (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn admit(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DepartmentBody>,
) -> Result<Response, ApiError> {
    let e: Episode = s
        .app
        .admit_patient(&caller.actor, &id, &body.department_id)
        .await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/transfer", tag = "patients", request_body = DepartmentBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The new episode"), (status = 403, body = crate::api::ErrorBody),
        (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn transfer(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DepartmentBody>,
) -> Result<Response, ApiError> {
    let e = s
        .app
        .transfer_patient(&caller.actor, &id, &body.department_id)
        .await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/discharge", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 204, description = "Discharged"), (status = 403, body = crate::api::ErrorBody),
        (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn discharge(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.discharge_patient(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/tests", tag = "patients", request_body = TestBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The test, assigned to the laboratory"), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn order_test(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TestBody>,
) -> Result<Response, ApiError> {
    let t: Test = s
        .app
        .order_test(&caller.actor, &id, &body.laboratory_id)
        .await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/test-registrations", tag = "patients", request_body = TestBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The test the patient came for, registered at the desk (an administrative write, as reception does) and assigned to the laboratory"), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn register_test(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TestBody>,
) -> Result<Response, ApiError> {
    let t: Test = s
        .app
        .register_test(&caller.actor, &id, &body.laboratory_id)
        .await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/records", tag = "patients",
    params(("id" = String, Path, description = "Patient id"), ("category" = Option<String>, Query, description = "Comma-separated categories")),
    responses((status = 200, description = "Records permitted, and the categories withheld"), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn records(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> Result<Json<RecordsView>, ApiError> {
    let list: Vec<String> = q
        .category
        .map(|c| {
            c.split(',')
                .filter(|x| !x.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let cats = categories(&list)?;
    Ok(Json(s.app.records(&caller.actor, &id, &cats).await?))
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/records", tag = "patients", request_body = RecordBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The record"), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn add_record(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecordBody>,
) -> Result<Response, ApiError> {
    let category = DataCategory::parse(&body.category)
        .map_err(|e| ApiError(AppError::InvalidInput(e.to_string())))?;
    let r: PatientRecord = s
        .app
        .add_record(&caller.actor, &id, category, &body.text)
        .await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/grants", tag = "grants",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "Grants on the patient"), (status = 404, body = crate::api::ErrorBody)))]
pub async fn grants(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Vec<Grant>>, ApiError> {
    Ok(Json(s.app.grants_on_patient(&caller.actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/grants", tag = "grants", request_body = GrantBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The grant"), (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn create_grant(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Response, ApiError> {
    let grantee = match (body.grantee_user_id, body.grantee_department_id) {
        (Some(u), None) => Grantee::Person(u),
        (None, Some(d)) => Grantee::Department(d),
        _ => {
            return Err(ApiError(AppError::InvalidInput(
                "name exactly one of grantee_user_id and grantee_department_id".into(),
            )))
        }
    };
    let g = s
        .app
        .create_grant(
            &caller.actor,
            &id,
            NewGrant {
                grantee,
                categories: categories(&body.categories)?,
                allow_write: body.allow_write,
                purpose: body.purpose,
                valid_until: Timestamp(body.valid_until),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(g)).into_response())
}

#[utoipa::path(get, path = "/api/v1/grants", tag = "grants",
    responses((status = 200, description = "Grants the caller made or received")))]
pub async fn my_grants(
    State(s): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<Grant>>, ApiError> {
    Ok(Json(s.app.my_grants(&caller.actor).await?))
}

#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "grants",
    params(("id" = String, Path, description = "Grant id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = crate::api::ErrorBody)))]
pub async fn revoke_grant(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.revoke_grant(&caller.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/access-history", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "Who accessed the patient's data, when, which categories, why"), (status = 404, body = crate::api::ErrorBody)))]
pub async fn access_history(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Vec<AccessRecord>>, ApiError> {
    Ok(Json(s.app.access_history(&caller.actor, &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    /// The patient's e-mail address; a verification code is sent to it. Give this or `phone`.
    pub email: Option<String>,
    /// The patient's mobile number in international form (`+32470123456`); a verification
    /// code is sent to it by SMS. Give this or `email`.
    pub phone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationBody {
    /// The 6-digit code the patient received and reads back.
    pub code: String,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/contacts", tag = "patient space", request_body = ContactBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "The contact (address masked), not yet verified; a code was sent to it"),
        (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn add_contact(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Response, ApiError> {
    let c = match (&body.email, &body.phone) {
        (Some(email), None) => s.app.add_patient_email(&caller.actor, &id, email).await?,
        (None, Some(phone)) => s.app.add_patient_phone(&caller.actor, &id, phone).await?,
        _ => {
            return Err(ApiError(AppError::InvalidInput(
                "give either \"email\" or \"phone\", one contact at a time".into(),
            )))
        }
    };
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/contacts/{contact}/verification", tag = "patient space", request_body = VerificationBody,
    params(("id" = String, Path, description = "Patient id"), ("contact" = String, Path, description = "Contact id")),
    responses((status = 200, description = "The contact, verified"),
        (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn verify_contact(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path((id, contact)): Path<(String, String)>,
    ApiJson(body): ApiJson<VerificationBody>,
) -> Result<Response, ApiError> {
    let c = s
        .app
        .verify_patient_contact(&caller.actor, &id, &contact, &body.code)
        .await?;
    Ok(Json(c).into_response())
}
