//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) for the HR system or identity provider.
//!
//! Resources are kept as the client sent them (published attributes only, see
//! [`schema`]); Sealroom's own state follows from them in [`provisioning`]: a joiner gets an
//! account and an enrolment link by e-mail, a mover's old assignment ends and the new one
//! waits for the department's confirmation, a leaver (`active: false` or DELETE) loses
//! sessions, assignments, grants and break-glass at once.

pub mod filter;
pub mod patch;
mod provisioning;
pub mod schema;

use serde_json::{json, Map, Value};

use sealroom_crypto::token::new_id;
use sealroom_domain::{AuditAction, Timestamp};
use sealroom_store::{ScimResourceRow, StoreError};

use crate::accounts::Actor;
use crate::policy::{authorize, Action};
use crate::{App, AppError};

pub use schema::ResourceKind;

/// A SCIM error (RFC 7644 §3.12): the HTTP status, an optional `scimType` and a detail that
/// says what was wrong. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: String,
}

impl ScimError {
    fn with(status: u16, scim_type: Option<&str>, detail: String) -> ScimError {
        ScimError {
            status,
            scim_type: scim_type.map(str::to_owned),
            detail,
        }
    }
    pub fn invalid_filter(detail: String) -> ScimError {
        Self::with(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_syntax(detail: String) -> ScimError {
        Self::with(400, Some("invalidSyntax"), detail)
    }
    pub fn invalid_value(detail: String) -> ScimError {
        Self::with(400, Some("invalidValue"), detail)
    }
    pub fn invalid_path(detail: String) -> ScimError {
        Self::with(400, Some("invalidPath"), detail)
    }
    pub fn no_target(detail: String) -> ScimError {
        Self::with(400, Some("noTarget"), detail)
    }
    pub fn mutability(detail: String) -> ScimError {
        Self::with(400, Some("mutability"), detail)
    }
    pub fn uniqueness(detail: String) -> ScimError {
        Self::with(409, Some("uniqueness"), detail)
    }
    pub fn not_found() -> ScimError {
        Self::with(404, None, "there is no such resource".into())
    }
    pub fn precondition_failed() -> ScimError {
        Self::with(
            412,
            None,
            "the resource has changed since the version given in If-Match".into(),
        )
    }
    pub fn internal() -> ScimError {
        Self::with(500, None, "internal error".into())
    }

    /// The SCIM Error body.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "schemas": [schema::ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = &self.scim_type {
            v["scimType"] = Value::String(t.clone());
        }
        v
    }
}

impl From<AppError> for ScimError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Forbidden => ScimError::with(
                403,
                None,
                "this token may not provision staff (it needs the scim scope)".into(),
            ),
            AppError::Unauthenticated => {
                ScimError::with(401, None, "a bearer token is required".into())
            }
            AppError::NotFound => ScimError::not_found(),
            AppError::Conflict(m) => ScimError::uniqueness(m),
            AppError::InvalidInput(m) => ScimError::invalid_value(m),
            AppError::Email(e) => ScimError::invalid_value(e.to_string()),
            other => {
                tracing::error!(error = %other, "SCIM request failed");
                ScimError::internal()
            }
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

/// What a list or search asks for (RFC 7644 §3.4.2).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub descending: bool,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub projection: Projection,
}

/// `attributes` / `excludedAttributes`.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl Projection {
    /// From the comma-separated query parameters.
    pub fn from_query(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let split = |s: Option<&str>| -> Vec<String> {
            s.map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default()
        };
        Projection {
            attributes: split(attributes),
            excluded: split(excluded),
        }
    }
}

/// The most resources one page holds.
pub const MAX_RESULTS: i64 = 200;
/// A page's size when the client does not say.
pub const DEFAULT_PAGE_SIZE: i64 = 100;

/// `/ServiceProviderConfig`.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/sealroom/sealroom/blob/main/docs/provisioning.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A Sealroom service token with the scim scope: sealroom admin token create --service hr --scope scim",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    })
}

/// `/ResourceTypes` entries.
pub fn resource_types(base: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": k.name(),
                "name": k.name(),
                "description": match k { ResourceKind::User => "Staff", ResourceKind::Group => "Groups of staff" },
                "endpoint": format!("/{}", k.endpoint()),
                "schema": k.core().id,
                "schemaExtensions": k.extensions().iter().map(|e| json!({"schema": e.id, "required": false})).collect::<Vec<_>>(),
                "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", k.name())}
            })
        })
        .collect()
}

/// `/Schemas` entries.
pub fn schemas(base: &str) -> Vec<Value> {
    schema::schema_documents()
        .into_iter()
        .map(|mut s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            s["meta"] =
                json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")});
            s
        })
        .collect()
}

/// A list response around `resources`.
pub fn list_response(resources: Vec<Value>, total: usize, start_index: i64) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// The weak entity tag of a stored version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A resource as returned, with its entity tag.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub resource: Value,
    pub etag: String,
}

fn parse_document(row: &ScimResourceRow) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_str(&row.document) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ScimError::internal()),
    }
}

impl App {
    fn scim_base(&self) -> String {
        self.link("/scim/v2")
    }

    /// Render a stored resource with `id`, `schemas`, `meta` and, for users, `groups`.
    fn scim_render(
        &self,
        kind: ResourceKind,
        row: &ScimResourceRow,
        groups: Option<Vec<Value>>,
    ) -> Result<Value, ScimError> {
        let doc = parse_document(row)?;
        let base = self.scim_base();
        let mut out = Map::new();
        let mut schemas = vec![Value::String(kind.core().id.clone())];
        for ext in kind.extensions() {
            if doc.contains_key(&ext.id) {
                schemas.push(Value::String(ext.id.clone()));
            }
        }
        out.insert("schemas".into(), Value::Array(schemas));
        out.insert("id".into(), Value::String(row.id.clone()));
        out.extend(doc);
        if let Some(groups) = groups.filter(|g| !g.is_empty()) {
            out.insert("groups".into(), Value::Array(groups));
        }
        out.insert(
            "meta".into(),
            json!({
                "resourceType": kind.name(),
                "created": Timestamp(row.created_at).rfc3339(),
                "lastModified": Timestamp(row.updated_at).rfc3339(),
                "location": format!("{base}/{}/{}", kind.endpoint(), row.id),
                "version": etag(row.version),
            }),
        );
        Ok(Value::Object(out))
    }

    fn group_ref(&self, group: &ScimResourceRow) -> Result<Value, ScimError> {
        let doc = parse_document(group)?;
        let mut v = json!({
            "value": group.id,
            "$ref": format!("{}/Groups/{}", self.scim_base(), group.id),
            "type": "direct",
        });
        if let Some(name) = doc.get("displayName") {
            v["display"] = name.clone();
        }
        Ok(v)
    }

    async fn scim_render_one(
        &self,
        kind: ResourceKind,
        row: &ScimResourceRow,
    ) -> Result<Value, ScimError> {
        let groups = match kind {
            ResourceKind::User => {
                let mut refs = Vec::new();
                for g in self.store().scim_groups_of(&row.id).await? {
                    refs.push(self.group_ref(&g)?);
                }
                Some(refs)
            }
            ResourceKind::Group => None,
        };
        self.scim_render(kind, row, groups)
    }

    async fn scim_row(&self, kind: ResourceKind, id: &str) -> Result<ScimResourceRow, ScimError> {
        self.store()
            .scim_resource(kind.name(), id)
            .await?
            .ok_or_else(ScimError::not_found)
    }

    /// GET one resource.
    pub async fn scim_get(
        &self,
        actor: &Actor,
        kind: ResourceKind,
        id: &str,
        projection: &Projection,
    ) -> Result<Rendered, ScimError> {
        authorize(&actor.principal, Action::Provision)?;
        let row = self.scim_row(kind, id).await?;
        let resource = self.scim_render_one(kind, &row).await?;
        Ok(Rendered {
            resource: project(kind, resource, projection),
            etag: etag(row.version),
        })
    }

    /// List or search one kind of resource, or all kinds (`/.search` at the root).
    pub async fn scim_list(
        &self,
        actor: &Actor,
        kind: Option<ResourceKind>,
        query: &ListQuery,
    ) -> Result<Value, ScimError> {
        authorize(&actor.principal, Action::Provision)?;
        let filter = query.filter.as_deref().map(filter::parse).transpose()?;
        // The lookup identity providers make before each change (`userName eq "…"`, alone or
        // in an `and`) uses the userName index instead of reading every resource.
        let rows = match (kind, filter.as_ref().and_then(user_name_equality)) {
            (Some(ResourceKind::User), Some(name)) => self
                .store()
                .scim_user_by_name_key(&name.to_lowercase())
                .await?
                .into_iter()
                .collect(),
            _ => {
                self.store()
                    .scim_resources(kind.map(ResourceKind::name))
                    .await?
            }
        };
        // Users' groups, from every group's members, in one pass.
        let mut groups_of: std::collections::HashMap<String, Vec<Value>> = Default::default();
        if kind != Some(ResourceKind::Group) {
            let group_rows = match kind {
                None => rows
                    .iter()
                    .filter(|r| r.resource_type == "Group")
                    .cloned()
                    .collect(),
                _ => self.store().scim_resources(Some("Group")).await?,
            };
            for g in &group_rows {
                let doc = parse_document(g)?;
                let group_ref = self.group_ref(g)?;
                for member in member_ids(&doc) {
                    groups_of.entry(member).or_default().push(group_ref.clone());
                }
            }
        }
        let mut matched = Vec::new();
        for row in &rows {
            let Some(k) = ResourceKind::parse(&row.resource_type) else {
                continue;
            };
            let groups = (k == ResourceKind::User)
                .then(|| groups_of.get(&row.id).cloned().unwrap_or_default());
            let resource = self.scim_render(k, row, groups)?;
            if filter
                .as_ref()
                .is_none_or(|f| filter::matches(k, &resource, f))
            {
                matched.push((k, resource));
            }
        }
        if let Some(sort_by) = &query.sort_by {
            let key = |(k, r): &(ResourceKind, Value)| -> String { sort_key(*k, r, sort_by) };
            matched.sort_by_key(key);
            if query.descending {
                matched.reverse();
            }
        }
        let total = matched.len();
        let start = query.start_index.unwrap_or(1).max(1);
        let count = query
            .count
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(0, MAX_RESULTS);
        let page: Vec<Value> = matched
            .into_iter()
            .skip(usize::try_from(start - 1).unwrap_or(usize::MAX))
            .take(usize::try_from(count).unwrap_or(0))
            .map(|(k, r)| project(k, r, &query.projection))
            .collect();
        Ok(list_response(page, total, start))
    }

    /// POST: create a resource.
    pub async fn scim_create(
        &self,
        actor: &Actor,
        kind: ResourceKind,
        body: &Value,
    ) -> Result<Rendered, ScimError> {
        authorize(&actor.principal, Action::Provision)?;
        let doc = schema::clean_resource(kind, body)?;
        let now = self.now().as_seconds();
        let row = ScimResourceRow {
            id: new_id(),
            resource_type: kind.name().to_owned(),
            user_name_key: user_name_key(kind, &doc),
            document: Value::Object(doc.clone()).to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store()
            .insert_scim_resource(&row)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    ScimError::uniqueness("this userName is already taken".into())
                }
                other => other.into(),
            })?;
        let effects = match kind {
            ResourceKind::User => self.provision_new_user(actor, &row.id, &doc).await,
            ResourceKind::Group => self.provision_group(actor, &row.id, None, Some(&doc)).await,
        };
        if let Err(e) = effects {
            self.store().delete_scim_resource(&row.id).await?;
            return Err(e);
        }
        self.audit(
            &actor.name(),
            match kind {
                ResourceKind::User => AuditAction::ScimUserCreated,
                ResourceKind::Group => AuditAction::ScimGroupCreated,
            },
            &format!("scim:{}", row.id),
            "success",
            &actor.client,
            json!({"resource_type": kind.name()}),
        )
        .await?;
        Ok(Rendered {
            resource: self.scim_render_one(kind, &row).await?,
            etag: etag(row.version),
        })
    }

    /// PUT: replace a resource's attributes.
    pub async fn scim_replace(
        &self,
        actor: &Actor,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Rendered, ScimError> {
        authorize(&actor.principal, Action::Provision)?;
        let new_doc = schema::clean_resource(kind, body)?;
        self.scim_update(actor, kind, id, if_match, |_| Ok(new_doc.clone()))
            .await
    }

    /// PATCH: apply operations to a resource.
    pub async fn scim_patch(
        &self,
        actor: &Actor,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Rendered, ScimError> {
        authorize(&actor.principal, Action::Provision)?;
        self.scim_update(actor, kind, id, if_match, |old| {
            let mut doc = old.clone();
            patch::apply(kind, &mut doc, body)?;
            schema::clean_resource(kind, &Value::Object(doc))
        })
        .await
    }

    async fn scim_update(
        &self,
        actor: &Actor,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        change: impl Fn(&Map<String, Value>) -> Result<Map<String, Value>, ScimError>,
    ) -> Result<Rendered, ScimError> {
        // A concurrent change to the same resource makes the write retry on the new version.
        for _ in 0..5 {
            let row = self.scim_row(kind, id).await?;
            check_if_match(if_match, row.version)?;
            let old = parse_document(&row)?;
            let new = change(&old)?;
            if new == old {
                return Ok(Rendered {
                    resource: self.scim_render_one(kind, &row).await?,
                    etag: etag(row.version),
                });
            }
            let now = self.now().as_seconds();
            // Effects first: a refused change (an e-mail address taken by another account)
            // leaves the stored resource as it was.
            match kind {
                ResourceKind::User => self.provision_user_change(actor, id, &old, &new).await?,
                ResourceKind::Group => {
                    self.provision_group(actor, id, Some(&old), Some(&new))
                        .await?
                }
            }
            let updated = self
                .store()
                .update_scim_resource(
                    id,
                    user_name_key(kind, &new).as_deref(),
                    &Value::Object(new.clone()).to_string(),
                    row.version,
                    now,
                )
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => {
                        ScimError::uniqueness("this userName is already taken".into())
                    }
                    other => other.into(),
                });
            match updated {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    // Put Sealroom's side back as the stored resource describes it.
                    match kind {
                        ResourceKind::User => {
                            self.provision_user_change(actor, id, &new, &old).await?
                        }
                        ResourceKind::Group => {
                            self.provision_group(actor, id, Some(&new), Some(&old))
                                .await?
                        }
                    }
                    return Err(e);
                }
            }
            self.audit(
                &actor.name(),
                match kind {
                    ResourceKind::User => AuditAction::ScimUserUpdated,
                    ResourceKind::Group => AuditAction::ScimGroupUpdated,
                },
                &format!("scim:{id}"),
                "success",
                &actor.client,
                json!({"resource_type": kind.name(), "attributes": changed_attributes(&old, &new)}),
            )
            .await?;
            let row = self.scim_row(kind, id).await?;
            return Ok(Rendered {
                resource: self.scim_render_one(kind, &row).await?,
                etag: etag(row.version),
            });
        }
        Err(ScimError::with(
            409,
            None,
            "the resource kept changing while this request ran; try again".into(),
        ))
    }

    /// DELETE: a user is a leaver (everything ends now; the account stays, disabled, for the
    /// audit trail); a group's assignments end.
    pub async fn scim_delete(
        &self,
        actor: &Actor,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        authorize(&actor.principal, Action::Provision)?;
        let row = self.scim_row(kind, id).await?;
        check_if_match(if_match, row.version)?;
        let doc = parse_document(&row)?;
        match kind {
            ResourceKind::User => self.offboard(actor, id).await?,
            ResourceKind::Group => self.provision_group(actor, id, Some(&doc), None).await?,
        }
        self.store().delete_scim_resource(id).await?;
        self.audit(
            &actor.name(),
            match kind {
                ResourceKind::User => AuditAction::ScimUserDeleted,
                ResourceKind::Group => AuditAction::ScimGroupDeleted,
            },
            &format!("scim:{id}"),
            "success",
            &actor.client,
            json!({"resource_type": kind.name()}),
        )
        .await?;
        Ok(())
    }
}

/// The userName a filter requires, if it requires one by `eq` (alone or within `and`).
fn user_name_equality(f: &filter::Filter) -> Option<String> {
    match f {
        filter::Filter::Compare(path, filter::Op::Eq, Value::String(v))
            if path.eq_ignore_ascii_case("userName")
                || path.eq_ignore_ascii_case(&format!("{}:userName", schema::USER)) =>
        {
            Some(v.clone())
        }
        filter::Filter::And(a, b) => user_name_equality(a).or_else(|| user_name_equality(b)),
        _ => None,
    }
}

fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(given) => {
            let current = etag(version);
            let strong = current.trim_start_matches("W/");
            if given
                .split(',')
                .map(str::trim)
                .any(|g| g == current || g.trim_start_matches("W/") == strong)
            {
                Ok(())
            } else {
                Err(ScimError::precondition_failed())
            }
        }
    }
}

fn user_name_key(kind: ResourceKind, doc: &Map<String, Value>) -> Option<String> {
    match kind {
        ResourceKind::User => doc
            .get("userName")
            .and_then(Value::as_str)
            .map(str::to_lowercase),
        ResourceKind::Group => None,
    }
}

/// The member ids of a group document.
fn member_ids(doc: &Map<String, Value>) -> Vec<String> {
    doc.get("members")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The names of the attributes that differ (for the audit event; never their values).
fn changed_attributes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The first value at `path`, lowercased, for sorting; absent values sort last
/// (RFC 7644 §3.4.2.3).
fn sort_key(kind: ResourceKind, resource: &Value, path: &str) -> String {
    let Some((top, inner)) = locate(kind, path) else {
        return "\u{10FFFF}".into();
    };
    let mut current = filter::get_ci(resource, &top);
    for segment in &inner {
        current = current.and_then(|v| match v {
            Value::Array(items) => items.first().and_then(|i| filter::get_ci(i, segment)),
            other => filter::get_ci(other, segment),
        });
    }
    match current {
        Some(Value::String(s)) => s.to_lowercase(),
        Some(Value::Array(items)) => items.first().map_or_else(
            || "\u{10FFFF}".into(),
            |v| {
                filter::get_ci(v, "value")
                    .unwrap_or(v)
                    .to_string()
                    .to_lowercase()
            },
        ),
        Some(Value::Null) | None => "\u{10FFFF}".into(),
        Some(other) => other.to_string(),
    }
}

/// Apply `attributes` / `excludedAttributes` to a rendered resource. `id` and `schemas`
/// are always returned.
pub fn project(kind: ResourceKind, resource: Value, projection: &Projection) -> Value {
    let Value::Object(fields) = resource else {
        return resource;
    };
    if !projection.attributes.is_empty() {
        let mut out = Map::new();
        for (k, v) in &fields {
            if k == "id" || k == "schemas" {
                out.insert(k.clone(), v.clone());
            }
        }
        for path in &projection.attributes {
            copy_path(kind, &fields, &mut out, path);
        }
        return Value::Object(out);
    }
    let mut out = fields;
    for path in &projection.excluded {
        remove_path(kind, &mut out, path);
    }
    Value::Object(out)
}

/// Where `path` lives: the key of its top-level object (core attribute or extension URN),
/// and the attribute/sub-attribute names inside it.
fn locate(kind: ResourceKind, path: &str) -> Option<(String, Vec<String>)> {
    if let Some(ext) = schema::extension_named(kind, path) {
        return Some((ext.id.clone(), Vec::new()));
    }
    if schema::is_common(path.split('.').next().unwrap_or(path)) {
        let mut parts = path.split('.').map(str::to_owned);
        let first = parts.next()?;
        return Some((first, parts.collect()));
    }
    let r = schema::resolve(kind, path)?;
    let mut inner = Vec::new();
    match r.extension {
        Some(ext) => {
            inner.push(r.attr.name.clone());
            if let Some(s) = r.sub {
                inner.push(s.name.clone());
            }
            Some((ext.to_owned(), inner))
        }
        None => {
            if let Some(s) = r.sub {
                inner.push(s.name.clone());
            }
            Some((r.attr.name.clone(), inner))
        }
    }
}

fn copy_path(
    kind: ResourceKind,
    from: &Map<String, Value>,
    to: &mut Map<String, Value>,
    path: &str,
) {
    let Some((top, inner)) = locate(kind, path) else {
        return;
    };
    let Some((key, value)) = from.iter().find(|(k, _)| k.eq_ignore_ascii_case(&top)) else {
        return;
    };
    if inner.is_empty() {
        to.insert(key.clone(), value.clone());
        return;
    }
    let narrowed = narrow(value, &inner);
    if narrowed.is_null() {
        return;
    }
    match (to.get_mut(key), narrowed) {
        (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
        (_, v) => {
            to.insert(key.clone(), v);
        }
    }
}

/// Keep only `inner[0]` (then `inner[1]`) of an object or of each element of an array.
fn narrow(value: &Value, inner: &[String]) -> Value {
    let Some((first, rest)) = inner.split_first() else {
        return value.clone();
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .map(|i| narrow(i, inner))
                .filter(|v| !v.is_null())
                .collect();
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Array(kept)
            }
        }
        Value::Object(o) => match o.iter().find(|(k, _)| k.eq_ignore_ascii_case(first)) {
            Some((k, v)) => {
                let inner_v = if rest.is_empty() {
                    v.clone()
                } else {
                    narrow(v, rest)
                };
                if inner_v.is_null() {
                    Value::Null
                } else {
                    let mut m = Map::new();
                    m.insert(k.clone(), inner_v);
                    Value::Object(m)
                }
            }
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

fn remove_path(kind: ResourceKind, fields: &mut Map<String, Value>, path: &str) {
    let Some((top, inner)) = locate(kind, path) else {
        return;
    };
    if top == "id" || top == "schemas" {
        return;
    }
    let Some(key) = fields
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&top))
        .cloned()
    else {
        return;
    };
    if inner.is_empty() {
        fields.remove(&key);
        return;
    }
    if let Some(v) = fields.get_mut(&key) {
        strip(v, &inner);
    }
}

fn strip(value: &mut Value, inner: &[String]) {
    let Some((first, rest)) = inner.split_first() else {
        return;
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(|i| strip(i, inner)),
        Value::Object(o) => {
            if rest.is_empty() {
                o.retain(|k, _| !k.eq_ignore_ascii_case(first));
            } else if let Some((_, v)) = o.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(first)) {
                strip(v, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Value {
        json!({
            "schemas": [schema::USER, schema::ENTERPRISE_USER], "id": "u1", "userName": "ana",
            "name": {"givenName": "Ana", "familyName": "Pop"},
            "emails": [{"value": "a@w.example", "type": "work"}],
            schema::ENTERPRISE_USER: {"department": "Cardiology", "employeeNumber": "7"},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn attributes_and_excluded_attributes_shape_the_answer() {
        let p = Projection::from_query(Some("userName,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None);
        assert_eq!(
            project(ResourceKind::User, user(), &p),
            json!({"schemas": [schema::USER, schema::ENTERPRISE_USER], "id": "u1", "userName": "ana",
                   "name": {"givenName": "Ana"}, schema::ENTERPRISE_USER: {"department": "Cardiology"}})
        );
        let p = Projection::from_query(None, Some("emails.type,name,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"));
        let r = project(ResourceKind::User, user(), &p);
        assert_eq!(r["emails"], json!([{"value": "a@w.example"}]));
        assert!(r.get("name").is_none());
        assert_eq!(r["id"], "u1", "id is always returned");
        assert_eq!(
            r[schema::ENTERPRISE_USER],
            json!({"department": "Cardiology"})
        );
    }

    #[test]
    fn user_name_lookups_use_the_index_only_when_the_filter_requires_the_name() {
        let f = |t: &str| filter::parse(t).unwrap();
        assert_eq!(
            user_name_equality(&f(r#"userName eq "Ana" and active eq true"#)).as_deref(),
            Some("Ana")
        );
        assert_eq!(
            user_name_equality(&f(r#"userName eq "a" or active eq true"#)),
            None
        );
        assert_eq!(user_name_equality(&f(r#"userName sw "a""#)), None);
        assert_eq!(user_name_equality(&f(r#"not (userName eq "a")"#)), None);
    }

    #[test]
    fn entity_tags_are_checked() {
        assert!(check_if_match(None, 3).is_ok());
        assert!(check_if_match(Some("W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("\"3\""), 3).is_ok());
        assert!(check_if_match(Some("*"), 3).is_ok());
        assert_eq!(check_if_match(Some("W/\"2\""), 3).unwrap_err().status, 412);
    }
}
