//! The published SCIM schemas (RFC 7643) and what follows from them: which attributes a
//! client may write, how an incoming resource is checked and cleaned, and attribute-name
//! resolution (case-insensitive, with extension URNs).
//!
//! `schemas.json` is the single source: `/Schemas` serves it, and input is checked against it.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::ScimError;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

const SCHEMAS_JSON: &str = include_str!("schemas.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    #[serde(default)]
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Schema {
    pub id: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// The published schemas, parsed once.
pub fn schemas() -> &'static [Schema] {
    static PARSED: OnceLock<Vec<Schema>> = OnceLock::new();
    PARSED.get_or_init(|| {
        #[allow(clippy::expect_used)] // a compile-time file; its tests parse it
        serde_json::from_str(SCHEMAS_JSON).expect("schemas.json is valid")
    })
}

/// The published schemas as served by `/Schemas`.
pub fn schema_documents() -> Vec<Value> {
    #[allow(clippy::expect_used)]
    let docs: Vec<Value> = serde_json::from_str(SCHEMAS_JSON).expect("schemas.json is valid");
    docs
}

pub fn schema(id: &str) -> Option<&'static Schema> {
    schemas().iter().find(|s| s.id.eq_ignore_ascii_case(id))
}

/// The two kinds of resource Sealroom serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
    pub fn core(self) -> &'static Schema {
        #[allow(clippy::expect_used)]
        schema(match self {
            ResourceKind::User => USER,
            ResourceKind::Group => GROUP,
        })
        .expect("core schemas are published")
    }
    pub fn extensions(self) -> Vec<&'static Schema> {
        match self {
            ResourceKind::User => schema(ENTERPRISE_USER).into_iter().collect(),
            ResourceKind::Group => Vec::new(),
        }
    }
    pub fn parse(name: &str) -> Option<ResourceKind> {
        match name {
            "User" => Some(ResourceKind::User),
            "Group" => Some(ResourceKind::Group),
            _ => None,
        }
    }
    /// The attribute that must be present and is the resource's name.
    pub fn name_attribute(self) -> &'static str {
        match self {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        }
    }
}

/// A resolved attribute path: where it lives and its definition.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// `None` for the core schema, else the extension URN.
    pub extension: Option<&'static str>,
    pub attr: &'static Attribute,
    pub sub: Option<&'static Attribute>,
}

/// Split `urn:…:User:department` into the extension and the rest, if it names one.
fn split_extension(kind: ResourceKind, path: &str) -> (Option<&'static Schema>, String) {
    for ext in kind.extensions() {
        if path.len() > ext.id.len()
            && path[..ext.id.len()].eq_ignore_ascii_case(&ext.id)
            && path.as_bytes()[ext.id.len()] == b':'
        {
            return (Some(ext), path[ext.id.len() + 1..].to_owned());
        }
    }
    let core = kind.core();
    if path.len() > core.id.len()
        && path[..core.id.len()].eq_ignore_ascii_case(&core.id)
        && path.as_bytes()[core.id.len()] == b':'
    {
        return (None, path[core.id.len() + 1..].to_owned());
    }
    (None, path.to_owned())
}

/// The extension URN `path` names exactly, if any.
pub fn extension_named(kind: ResourceKind, path: &str) -> Option<&'static Schema> {
    kind.extensions()
        .into_iter()
        .find(|e| e.id.eq_ignore_ascii_case(path))
}

/// Resolve `attr` or `attr.sub`, with an optional schema URN prefix. Common attributes
/// (`id`, `externalId`, `meta.*`) resolve to `None` here: see [`is_common`].
pub fn resolve(kind: ResourceKind, path: &str) -> Option<Resolved> {
    let (ext, rest) = split_extension(kind, path);
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n.to_owned(), Some(s.to_owned())),
        None => (rest, None),
    };
    let schema = ext.unwrap_or_else(|| kind.core());
    let attr = schema.attr(&name)?;
    let sub = match sub {
        Some(s) => Some(attr.sub(&s)?),
        None => None,
    };
    Some(Resolved {
        extension: ext.map(|e| e.id.as_str()),
        attr,
        sub,
    })
}

/// `id`, `externalId` and `meta` belong to every resource (RFC 7643 §3.1).
pub fn is_common(name: &str) -> bool {
    ["id", "externalId", "meta", "schemas"]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
}

fn type_error(path: &str, expected: &str) -> ScimError {
    ScimError::invalid_value(format!("'{path}' must be {expected}"))
}

/// Check one value against its definition and return it cleaned: sub-attributes spelled as
/// the schema spells them, unknown and read-only sub-attributes dropped.
fn clean_value(attr: &Attribute, path: &str, value: &Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(v) = clean_single(attr, path, item)? {
                out.push(v);
            }
        }
        let primaries = out
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!(
                "at most one value of '{path}' may be primary"
            )));
        }
        return Ok(if out.is_empty() {
            None
        } else {
            Some(Value::Array(out))
        });
    }
    clean_single(attr, path, value)
}

fn clean_single(attr: &Attribute, path: &str, value: &Value) -> Result<Option<Value>, ScimError> {
    Ok(Some(match attr.kind {
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => {
            match value {
                Value::String(s) => {
                    if s.chars().count() > 2048 {
                        return Err(ScimError::invalid_value(format!(
                            "'{path}' is longer than 2048 characters"
                        )));
                    }
                    Value::String(s.clone())
                }
                Value::Null => return Ok(None),
                _ => return Err(type_error(path, "a string")),
            }
        }
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            // Some identity providers send "True"/"False" (Microsoft Entra ID does).
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(type_error(path, "true or false")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() => value.clone(),
            _ => return Err(type_error(path, "an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            _ => return Err(type_error(path, "a number")),
        },
        AttrType::Complex => {
            let Value::Object(fields) = value else {
                return Err(type_error(path, "an object"));
            };
            let mut out = Map::new();
            for (k, v) in fields {
                let Some(sub) = attr.sub(k) else { continue };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = clean_value(sub, &format!("{path}.{}", sub.name), v)? {
                    out.insert(sub.name.clone(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
    }))
}

/// Clean the attributes of one schema from `fields` into `out`.
fn clean_schema_fields(
    schema: &Schema,
    fields: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    for (key, value) in fields {
        if key.eq_ignore_ascii_case("password") {
            return Err(ScimError::invalid_value(
                "Sealroom does not take passwords from provisioning: staff choose their own when they enrol"
                    .into(),
            ));
        }
        let Some(attr) = schema.attr(key) else {
            continue; // unknown attributes are ignored (RFC 7644 §3.3), never stored
        };
        if attr.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = clean_value(attr, &attr.name, value)? {
            out.insert(attr.name.clone(), v);
        }
    }
    Ok(())
}

/// Check and clean a whole incoming resource (POST, PUT, or the result of a PATCH): the
/// returned document holds only published, writable attributes, spelled as published, with
/// extensions as objects under their URN; `id`, `meta` and `schemas` are not kept.
pub fn clean_resource(kind: ResourceKind, input: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(fields) = input else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object".into(),
        ));
    };
    let mut out = Map::new();
    if let Some(ext_id) = fields.get("externalId") {
        match ext_id {
            Value::String(s) if s.chars().count() <= 512 => {
                out.insert("externalId".into(), Value::String(s.clone()));
            }
            Value::Null => {}
            _ => {
                return Err(ScimError::invalid_value(
                    "'externalId' must be a string of at most 512 characters".into(),
                ))
            }
        }
    }
    clean_schema_fields(kind.core(), fields, &mut out)?;
    for ext in kind.extensions() {
        let Some((_, value)) = fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(&ext.id)) else {
            continue;
        };
        let Value::Object(ext_fields) = value else {
            return Err(ScimError::invalid_value(format!(
                "'{}' must be an object",
                ext.id
            )));
        };
        let mut ext_out = Map::new();
        clean_schema_fields(ext, ext_fields, &mut ext_out)?;
        if !ext_out.is_empty() {
            out.insert(ext.id.clone(), Value::Object(ext_out));
        }
    }
    let name = kind.name_attribute();
    match out.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::invalid_value(format!(
                "'{name}' is required and must not be empty"
            )))
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_published_schemas_parse_and_cover_every_resource() {
        assert_eq!(schemas().len(), 3);
        assert!(ResourceKind::User.core().attr("USERNAME").is_some());
        assert_eq!(ResourceKind::User.extensions().len(), 1);
        let r = resolve(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        assert_eq!(r.extension, Some(ENTERPRISE_USER));
        assert_eq!(r.attr.name, "department");
        assert_eq!(
            resolve(ResourceKind::User, "name.givenname")
                .unwrap()
                .sub
                .unwrap()
                .name,
            "givenName"
        );
        assert!(resolve(ResourceKind::User, "nosuch").is_none());
    }

    #[test]
    fn cleaning_keeps_published_attributes_and_refuses_bad_types() {
        let doc = clean_resource(
            ResourceKind::User,
            &json!({
                "schemas": [USER], "UserName": "ana", "id": "x", "nickName": "dropped",
                "emails": [{"value": "a@b.example", "primary": true, "bogus": 1}],
                "active": "False",
                ENTERPRISE_USER: {"department": "Cardiology", "schemas": [ENTERPRISE_USER]}
            }),
        )
        .unwrap();
        assert_eq!(
            Value::Object(doc),
            json!({"userName": "ana", "emails": [{"value": "a@b.example", "primary": true}], "active": false,
                   ENTERPRISE_USER: {"department": "Cardiology"}})
        );
        assert!(clean_resource(ResourceKind::User, &json!({"userName": 3})).is_err());
        assert!(
            clean_resource(ResourceKind::User, &json!({"displayName": "no user name"})).is_err()
        );
        assert!(clean_resource(
            ResourceKind::User,
            &json!({"userName": "a", "password": "x"})
        )
        .is_err());
        assert!(clean_resource(
            ResourceKind::User,
            &json!({"userName": "a", "emails": [{"value": "x", "primary": true}, {"value": "y", "primary": true}]})
        )
        .is_err());
    }
}
