//! FHIR R4 at `/fhir/R4`, JSON only (`application/fhir+json`). Errors are OperationOutcomes;
//! a validation failure names the element in `issue.expression`. Authentication is the API's
//! (bearer tokens of staff members); `metadata` is public.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use data_encoding::BASE64;
use futures_util::StreamExt;
use sealroom_app::fhir::{dates, ResourceQuery, FHIR_VERSION, STORED_TYPES};
use sealroom_app::AppError;
use serde_json::{json, Value};

use crate::error::{classify, with_cause, ApiError};
use crate::extract::ApiCaller;
use crate::AppState;

const FHIR_JSON: &str = "application/fhir+json";
/// The largest file returned inline (base64) in a Binary resource; larger ones are fetched
/// as raw content.
const INLINE_BINARY: u64 = 8 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/metadata", get(metadata))
        .route("/Patient", get(search_patients))
        .route("/Patient/{id}", get(read_patient))
        .route("/DocumentReference", get(search_documents))
        .route("/DocumentReference/{id}", get(read_document))
        .route("/Binary/{id}", get(read_binary))
        .route("/{resource_type}", get(search).post(create))
        .route("/{resource_type}/{id}", get(read))
        .fallback(unknown)
}

/// An error as an OperationOutcome.
pub struct FhirError(AppError);

impl From<AppError> for FhirError {
    fn from(e: AppError) -> Self {
        FhirError(e)
    }
}

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> Self {
        FhirError(e.0)
    }
}

fn outcome(
    status: StatusCode,
    code: &str,
    diagnostics: &str,
    expression: Option<&str>,
) -> Response {
    let mut issue = json!({"severity": "error", "code": code, "diagnostics": diagnostics});
    if let Some(e) = expression {
        issue["expression"] = json!([e]);
    }
    fhir_json(
        status,
        &json!({"resourceType": "OperationOutcome", "issue": [issue]}),
    )
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let (status, _) = classify(&self.0);
        let code = match status {
            StatusCode::BAD_REQUEST => "invalid",
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::GONE => "deleted",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "too-costly",
            _ => "exception",
        };
        let (text, expression) = match &self.0 {
            AppError::InvalidResource {
                expression,
                message,
            } => (
                format!("{expression}: {message}"),
                Some(expression.as_str()),
            ),
            // A 5xx says only what is safe to say (the cause is logged, never sent).
            AppError::Integrity(_) | AppError::Unavailable(_) => (self.0.to_string(), None),
            e if status.is_server_error() => {
                let _ = e;
                ("the server could not complete the request".to_owned(), None)
            }
            e => (e.to_string(), None),
        };
        let r = outcome(status, code, &text, expression);
        with_cause(r, &self.0)
    }
}

fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

fn base(s: &AppState) -> String {
    let mut url = s.app.settings().public_url.clone();
    url.set_path("/fhir/R4");
    url.to_string()
}

fn bundle(s: &AppState, resources: Vec<Value>, self_url: &str) -> Value {
    let base = base(s);
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let full = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            );
            json!({"fullUrl": full, "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    let mut b = json!({
        "resourceType": "Bundle",
        "id": sealroom_crypto::token::new_id(),
        "meta": {"lastUpdated": dates::instant(s.app.now().as_seconds())},
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base}/{self_url}")}],
    });
    // FHIR forbids empty arrays: no matches, no `entry`.
    if !entries.is_empty() {
        b["entry"] = Value::Array(entries);
    }
    b
}

fn invalid(expression: &str, message: impl Into<String>) -> FhirError {
    FhirError(AppError::InvalidResource {
        expression: expression.into(),
        message: message.into(),
    })
}

/// Search parameters, each possibly repeated; unknown ones are refused, not ignored.
fn params(
    raw: &[(String, String)],
    known: &[&str],
) -> Result<BTreeMap<String, Vec<String>>, FhirError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in raw {
        if k == "_format" {
            if !(v == "json" || v.contains("json")) {
                return Err(invalid("_format", "only JSON is served"));
            }
            continue;
        }
        if !known.contains(&k.as_str()) {
            return Err(invalid(
                k,
                format!(
                    "is not a supported search parameter here; supported: {}",
                    known.join(", ")
                ),
            ));
        }
        out.entry(k.clone()).or_default().push(v.clone());
    }
    Ok(out)
}

fn patient_param(p: &BTreeMap<String, Vec<String>>) -> Result<String, FhirError> {
    let values: Vec<&String> = ["patient", "subject"]
        .iter()
        .filter_map(|k| p.get(*k))
        .flatten()
        .collect();
    match values.as_slice() {
        [one] => {
            let id = one.strip_prefix("Patient/").unwrap_or(one);
            if sealroom_app::fhir::validate::is_id(id) {
                Ok(id.to_owned())
            } else {
                Err(invalid("patient", "must be a patient id or Patient/<id>"))
            }
        }
        [] => Err(invalid(
            "patient",
            "is required: searches are within one patient's record",
        )),
        _ => Err(invalid("patient", "give one patient")),
    }
}

fn query_string(raw: &[(String, String)]) -> String {
    raw.iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn unknown() -> Response {
    outcome(
        StatusCode::NOT_FOUND,
        "not-supported",
        "this FHIR interaction or resource type is not supported; see /fhir/R4/metadata",
        None,
    )
}

/// `GET /fhir/R4/metadata`: the CapabilityStatement.
async fn metadata(State(s): State<AppState>) -> Response {
    let stored = |t: &str| {
        json!({
            "type": t,
            "interaction": [{"code": "read"}, {"code": "create"}, {"code": "search-type"}],
            "searchParam": [
                {"name": "patient", "type": "reference"},
                {"name": "subject", "type": "reference"},
                {"name": "category", "type": "token"},
                {"name": "date", "type": "date"},
            ],
        })
    };
    let cs = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": dates::instant(s.app.now().as_seconds()),
        "publisher": s.app.settings().organization_name,
        "kind": "instance",
        "software": {"name": "Sealroom", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Sealroom FHIR R4 API", "url": base(&s)},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth"}],
                    "text": "Bearer API tokens of staff members"}],
                "description": "Every read and write is decided by the organization's access policy and recorded in its audit log.",
            },
            "resource": [
                {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{"name": "identifier", "type": "token"}]},
                stored("Observation"),
                stored("DiagnosticReport"),
                {"type": "DocumentReference", "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{"name": "patient", "type": "reference"}, {"name": "subject", "type": "reference"}]},
                {"type": "Binary", "interaction": [{"code": "read"}]},
            ],
        }],
    });
    fhir_json(StatusCode::OK, &cs)
}

async fn read_patient(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let caller = caller?;
    Ok(fhir_json(
        StatusCode::OK,
        &s.app.fhir_patient(&caller.actor, &id).await?,
    ))
}

async fn search_patients(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Query(raw): Query<Vec<(String, String)>>,
) -> Result<Response, FhirError> {
    let caller = caller?;
    let p = params(&raw, &["identifier"])?;
    let identifier = match p.get("identifier").map(Vec::as_slice) {
        Some([one]) => one.clone(),
        _ => {
            return Err(invalid(
                "identifier",
                "is required, once: the patient number as [system|]value",
            ))
        }
    };
    let found = s
        .app
        .fhir_search_patients(&caller.actor, &identifier)
        .await?;
    Ok(fhir_json(
        StatusCode::OK,
        &bundle(&s, found, &format!("Patient?{}", query_string(&raw))),
    ))
}

fn stored_type(t: &str) -> Result<&'static str, FhirError> {
    STORED_TYPES
        .into_iter()
        .find(|x| *x == t)
        .ok_or_else(|| FhirError(AppError::NotFound))
}

async fn create(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Path(resource_type): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let caller = caller?;
    let t = stored_type(&resource_type)?;
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ct.starts_with(FHIR_JSON) || ct.starts_with("application/json")) {
        return Err(invalid(t, "send the resource as application/fhir+json"));
    }
    let created = s.app.fhir_create(&caller.actor, t, &body).await?;
    let mut r = fhir_json(StatusCode::CREATED, &created);
    let id = created["id"].as_str().unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/{t}/{id}/_history/1", base(&s))) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut()
        .insert("etag", HeaderValue::from_static("W/\"1\""));
    Ok(r)
}

async fn read(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Path((resource_type, id)): Path<(String, String)>,
) -> Result<Response, FhirError> {
    let caller = caller?;
    let t = stored_type(&resource_type)?;
    Ok(fhir_json(
        StatusCode::OK,
        &s.app.fhir_read(&caller.actor, t, &id).await?,
    ))
}

async fn search(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Path(resource_type): Path<String>,
    Query(raw): Query<Vec<(String, String)>>,
) -> Result<Response, FhirError> {
    let caller = caller?;
    let t = stored_type(&resource_type)?;
    let p = params(&raw, &["patient", "subject", "category", "date"])?;
    let mut query = ResourceQuery {
        patient_id: patient_param(&p)?,
        ..Default::default()
    };
    for v in p.get("category").into_iter().flatten() {
        for token in v.split(',') {
            let code = token.rsplit('|').next().unwrap_or("").trim();
            if code.is_empty() {
                return Err(invalid("category", "give a code, or system|code"));
            }
            query.category_codes.push(code.to_owned());
        }
    }
    for v in p.get("date").into_iter().flatten() {
        dates::narrow(v, &mut query.from, &mut query.until)?;
    }
    let found = s.app.fhir_search(&caller.actor, t, &query).await?;
    Ok(fhir_json(
        StatusCode::OK,
        &bundle(&s, found, &format!("{t}?{}", query_string(&raw))),
    ))
}

async fn search_documents(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Query(raw): Query<Vec<(String, String)>>,
) -> Result<Response, FhirError> {
    let caller = caller?;
    let p = params(&raw, &["patient", "subject"])?;
    let patient = patient_param(&p)?;
    let found = s
        .app
        .fhir_document_references(&caller.actor, &patient)
        .await?;
    Ok(fhir_json(
        StatusCode::OK,
        &bundle(
            &s,
            found,
            &format!("DocumentReference?{}", query_string(&raw)),
        ),
    ))
}

async fn read_document(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let caller = caller?;
    Ok(fhir_json(
        StatusCode::OK,
        &s.app.fhir_document(&caller.actor, &id).await?,
    ))
}

/// `Binary/<document id>`: the current version's content, raw (as an attachment, checked
/// like any download), or as a Binary resource when `application/fhir+json` is asked for and
/// the file is small enough to inline.
async fn read_binary(
    State(s): State<AppState>,
    caller: Result<ApiCaller, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let caller = caller?;
    let wants_resource = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(FHIR_JSON));
    if !wants_resource {
        return Ok(crate::api::documents::download(&s, &caller.actor, &id, None).await?);
    }
    let d = s.app.download_document(&caller.actor, &id, None).await?;
    if d.version.size > INLINE_BINARY {
        return Err(FhirError(AppError::TooLarge(format!(
            "the file is {} bytes, too large to inline; ask for it without Accept: {FHIR_JSON} to receive it raw",
            d.version.size
        ))));
    }
    let mut data = Vec::with_capacity(usize::try_from(d.version.size).unwrap_or(0));
    let mut body = d.body;
    while let Some(chunk) = body.next().await {
        data.extend_from_slice(
            &chunk
                .map_err(|e| AppError::Integrity(format!("the document could not be read: {e}")))?,
        );
    }
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Binary",
            "id": id,
            "contentType": d.version.media_type,
            "data": BASE64.encode(&data),
        }),
    ))
}
