//! SCIM 2.0 at `/scim/v2` (RFC 7644) for the HR system or identity provider, authenticated by
//! a service token with the `scim` scope. Every answer is `application/scim+json`; every
//! error is a SCIM Error body. The rules live in `sealroom_app::scim`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use sealroom_app::accounts::Actor;
use sealroom_app::scim::{self, schema, ListQuery, Projection, Rendered, ResourceKind, ScimError};

use crate::extract::ClientInfo;
use crate::AppState;

const SCIM_JSON: &str = "application/scim+json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", any(service_provider_config))
        .route("/ResourceTypes", any(resource_types))
        .route("/ResourceTypes/{id}", any(resource_type))
        .route("/Schemas", any(schemas))
        .route("/Schemas/{id}", any(schema_by_id))
        .merge(resource_routes(ResourceKind::User))
        .merge(resource_routes(ResourceKind::Group))
        .route("/.search", post(search_all))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// `/Users` or `/Groups`: list, create, search, and one resource's read, replace, patch and
/// delete. Each call is audited with its method and route pattern.
fn resource_routes(kind: ResourceKind) -> Router<AppState> {
    let e = kind.endpoint();
    Router::new()
        .route(
            &format!("/{e}"),
            get(
                move |State(s): State<AppState>, h: HeaderMap, c: ClientInfo, Query(p): Query<ListParams>| async move {
                    list(s, h, c, Some(kind), p.query(), &format!("GET /scim/v2/{e}")).await
                },
            )
            .post(move |State(s): State<AppState>, h: HeaderMap, c: ClientInfo, body: Bytes| async move {
                create(s, h, c, kind, body, &format!("POST /scim/v2/{e}")).await
            }),
        )
        .route(
            &format!("/{e}/.search"),
            post(move |State(s): State<AppState>, h: HeaderMap, c: ClientInfo, body: Bytes| async move {
                let q = json_body(&h, &body).and_then(|b| search_query(&b));
                list(s, h, c, Some(kind), q, &format!("POST /scim/v2/{e}/.search")).await
            }),
        )
        .route(
            &format!("/{e}/{{id}}"),
            get(
                move |State(s): State<AppState>, h: HeaderMap, c: ClientInfo, Path(id): Path<String>, Query(p): Query<ListParams>| async move {
                    get_one(s, h, c, kind, id, p, &format!("GET /scim/v2/{e}/{{id}}")).await
                },
            )
            .put(
                move |State(s): State<AppState>, h: HeaderMap, c: ClientInfo, Path(id): Path<String>, body: Bytes| async move {
                    replace(s, h, c, kind, id, body, &format!("PUT /scim/v2/{e}/{{id}}")).await
                },
            )
            .patch(
                move |State(s): State<AppState>, h: HeaderMap, c: ClientInfo, Path(id): Path<String>, body: Bytes| async move {
                    patch(s, h, c, kind, id, body, &format!("PATCH /scim/v2/{e}/{{id}}")).await
                },
            )
            .delete(
                move |State(s): State<AppState>, h: HeaderMap, c: ClientInfo, Path(id): Path<String>| async move {
                    delete(s, h, c, kind, id, &format!("DELETE /scim/v2/{e}/{{id}}")).await
                },
            ),
        )
}

/// `POST /.search` at the root: every resource type.
async fn search_all(
    State(s): State<AppState>,
    h: HeaderMap,
    c: ClientInfo,
    body: Bytes,
) -> ScimResult {
    let q = json_body(&h, &body).and_then(|b| search_query(&b));
    list(s, h, c, None, q, "POST /scim/v2/.search").await
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = scim_json(status, &e.body());
    if e.status == 401 {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sealroom-scim\""),
        );
    }
    r
}

fn resource_response(status: StatusCode, rendered: &Rendered) -> Response {
    let mut r = scim_json(status, &rendered.resource);
    if let Ok(v) = HeaderValue::from_str(&rendered.etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Some(loc) = rendered.resource["meta"]["location"].as_str() {
            if let Ok(v) = HeaderValue::from_str(loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
        }
    }
    r
}

type ScimResult = Result<Response, Response>;

fn fail(e: impl Into<ScimError>) -> Response {
    error_response(&e.into())
}

async fn not_found() -> Response {
    error_response(&ScimError {
        status: 404,
        scim_type: None,
        detail: "there is no SCIM endpoint at this address".into(),
    })
}

async fn method_not_allowed() -> Response {
    error_response(&ScimError {
        status: 405,
        scim_type: None,
        detail: "this method is not allowed here".into(),
    })
}

/// The service token's actor. Only a bearer token is accepted: SCIM is machine to machine.
async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientInfo,
    route: &str,
) -> Result<Actor, Response> {
    let unauthenticated = || {
        error_response(&ScimError {
            status: 401,
            scim_type: None,
            detail: "a bearer token with the scim scope is required".into(),
        })
    };
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(unauthenticated)?;
    let principal = state
        .app
        .authenticate_api_token(secret, route, &client.0)
        .await
        .map_err(|_| unauthenticated())?;
    Ok(Actor {
        principal,
        stepped_up: false,
        client: client.0,
    })
}

/// The discovery endpoints answer GET only; other methods get 405 before anything is read.
async fn discovery(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    client: ClientInfo,
    route: &str,
) -> Result<Actor, Response> {
    if method != Method::GET {
        return Err(method_not_allowed().await);
    }
    let actor = caller(state, headers, client, route).await?;
    // Discovery reveals only what Sealroom supports, but still only to provisioning tokens.
    sealroom_app::policy::authorize(&actor.principal, sealroom_app::policy::Action::Provision)
        .map_err(|e| fail(ScimError::from(e)))?;
    Ok(actor)
}

fn base(state: &AppState) -> String {
    state.app.link("/scim/v2")
}

async fn service_provider_config(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: ClientInfo,
) -> ScimResult {
    discovery(
        &state,
        &method,
        &headers,
        client,
        "GET /scim/v2/ServiceProviderConfig",
    )
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &scim::service_provider_config(&base(&state)),
    ))
}

async fn resource_types(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: ClientInfo,
) -> ScimResult {
    discovery(
        &state,
        &method,
        &headers,
        client,
        "GET /scim/v2/ResourceTypes",
    )
    .await?;
    let all = scim::resource_types(&base(&state));
    let n = all.len();
    Ok(scim_json(StatusCode::OK, &scim::list_response(all, n, 1)))
}

async fn resource_type(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ScimResult {
    discovery(
        &state,
        &method,
        &headers,
        client,
        "GET /scim/v2/ResourceTypes/{id}",
    )
    .await?;
    scim::resource_types(&base(&state))
        .into_iter()
        .find(|r| r["id"].as_str() == Some(id.as_str()))
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| fail(ScimError::not_found()))
}

async fn schemas(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: ClientInfo,
) -> ScimResult {
    discovery(&state, &method, &headers, client, "GET /scim/v2/Schemas").await?;
    let all = scim::schemas(&base(&state));
    let n = all.len();
    Ok(scim_json(StatusCode::OK, &scim::list_response(all, n, 1)))
}

async fn schema_by_id(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ScimResult {
    discovery(
        &state,
        &method,
        &headers,
        client,
        "GET /scim/v2/Schemas/{id}",
    )
    .await?;
    scim::schemas(&base(&state))
        .into_iter()
        .find(|s| s["id"].as_str() == Some(id.as_str()))
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| fail(ScimError::not_found()))
}

/// Query parameters of a list.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

fn number(name: &str, v: Option<&str>) -> Result<Option<i64>, ScimError> {
    v.map(|s| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer")))
    })
    .transpose()
}

fn descending(order: Option<&str>) -> Result<bool, ScimError> {
    match order.map(str::to_ascii_lowercase).as_deref() {
        None | Some("ascending") => Ok(false),
        Some("descending") => Ok(true),
        Some(_) => Err(ScimError::invalid_value(
            "'sortOrder' must be ascending or descending".into(),
        )),
    }
}

impl ListParams {
    fn query(&self) -> Result<ListQuery, ScimError> {
        Ok(ListQuery {
            filter: self.filter.clone(),
            sort_by: self.sort_by.clone(),
            descending: descending(self.sort_order.as_deref())?,
            start_index: number("startIndex", self.start_index.as_deref())?,
            count: number("count", self.count.as_deref())?,
            projection: Projection::from_query(
                self.attributes.as_deref(),
                self.excluded_attributes.as_deref(),
            ),
        })
    }
}

/// A JSON body (`application/scim+json` or `application/json`).
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ScimError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != SCIM_JSON && media != "application/json" {
        return Err(ScimError {
            status: 415,
            scim_type: None,
            detail: "send the body as application/scim+json".into(),
        });
    }
    serde_json::from_slice(body).map_err(|e| {
        ScimError::invalid_syntax(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// A SearchRequest body (RFC 7644 §3.4.3): attributes are JSON arrays here.
fn search_query(body: &Value) -> Result<ListQuery, ScimError> {
    let schemas = body.get("schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|x| x.as_str() == Some(schema::SEARCH_REQUEST))) {
        return Err(ScimError::invalid_syntax(format!(
            "a search body must list the schema {}",
            schema::SEARCH_REQUEST
        )));
    }
    let list = |key: &str| -> Vec<String> {
        match body.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => s
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    };
    let int = |key: &str| -> Result<Option<i64>, ScimError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(_) => Err(ScimError::invalid_value(format!(
                "'{key}' must be an integer"
            ))),
        }
    };
    Ok(ListQuery {
        filter: body
            .get("filter")
            .and_then(Value::as_str)
            .map(str::to_owned),
        sort_by: body
            .get("sortBy")
            .and_then(Value::as_str)
            .map(str::to_owned),
        descending: descending(body.get("sortOrder").and_then(Value::as_str))?,
        start_index: int("startIndex")?,
        count: int("count")?,
        projection: Projection {
            attributes: list("attributes"),
            excluded: list("excludedAttributes"),
        },
    })
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn list(
    state: AppState,
    headers: HeaderMap,
    client: ClientInfo,
    kind: Option<ResourceKind>,
    query: Result<ListQuery, ScimError>,
    route: &str,
) -> ScimResult {
    let actor = caller(&state, &headers, client, route).await?;
    let query = query.map_err(fail)?;
    let body = state
        .app
        .scim_list(&actor, kind, &query)
        .await
        .map_err(fail)?;
    Ok(scim_json(StatusCode::OK, &body))
}

async fn get_one(
    state: AppState,
    headers: HeaderMap,
    client: ClientInfo,
    kind: ResourceKind,
    id: String,
    params: ListParams,
    route: &str,
) -> ScimResult {
    let actor = caller(&state, &headers, client, route).await?;
    let projection = Projection::from_query(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
    );
    let rendered = state
        .app
        .scim_get(&actor, kind, &id, &projection)
        .await
        .map_err(fail)?;
    Ok(resource_response(StatusCode::OK, &rendered))
}

async fn create(
    state: AppState,
    headers: HeaderMap,
    client: ClientInfo,
    kind: ResourceKind,
    body: Bytes,
    route: &str,
) -> ScimResult {
    let actor = caller(&state, &headers, client, route).await?;
    let body = json_body(&headers, &body).map_err(fail)?;
    let rendered = state
        .app
        .scim_create(&actor, kind, &body)
        .await
        .map_err(fail)?;
    Ok(resource_response(StatusCode::CREATED, &rendered))
}

async fn replace(
    state: AppState,
    headers: HeaderMap,
    client: ClientInfo,
    kind: ResourceKind,
    id: String,
    body: Bytes,
    route: &str,
) -> ScimResult {
    let actor = caller(&state, &headers, client, route).await?;
    let body = json_body(&headers, &body).map_err(fail)?;
    let rendered = state
        .app
        .scim_replace(&actor, kind, &id, &body, if_match(&headers).as_deref())
        .await
        .map_err(fail)?;
    Ok(resource_response(StatusCode::OK, &rendered))
}

async fn patch(
    state: AppState,
    headers: HeaderMap,
    client: ClientInfo,
    kind: ResourceKind,
    id: String,
    body: Bytes,
    route: &str,
) -> ScimResult {
    let actor = caller(&state, &headers, client, route).await?;
    let body = json_body(&headers, &body).map_err(fail)?;
    let rendered = state
        .app
        .scim_patch(&actor, kind, &id, &body, if_match(&headers).as_deref())
        .await
        .map_err(fail)?;
    Ok(resource_response(StatusCode::OK, &rendered))
}

async fn delete(
    state: AppState,
    headers: HeaderMap,
    client: ClientInfo,
    kind: ResourceKind,
    id: String,
    route: &str,
) -> ScimResult {
    let actor = caller(&state, &headers, client, route).await?;
    state
        .app
        .scim_delete(&actor, kind, &id, if_match(&headers).as_deref())
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
