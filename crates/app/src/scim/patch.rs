//! SCIM PATCH (RFC 7644 §3.5.2): `add`, `remove` and `replace` on a stored document, with
//! paths `attr`, `attr.sub`, `urn:…:attr`, a bare extension URN, and value filters
//! (`emails[type eq "work"].value`). The result is checked again like a PUT body.

use serde_json::{Map, Value};

use super::filter::{self, element_matches, Filter, Op};
use super::schema::{self, Mutability, ResourceKind};
use super::ScimError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

/// Apply the `Operations` of a PatchOp request to `doc` (all or nothing: the caller keeps the
/// old document if this fails).
pub fn apply(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    body: &Value,
) -> Result<(), ScimError> {
    let schemas = body.get("schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|x| x.as_str() == Some(schema::PATCH_OP))) {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body must list the schema {}",
            schema::PATCH_OP
        )));
    }
    let Some(ops) = filter::get_ci(body, "Operations").and_then(Value::as_array) else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body must have an 'Operations' array".into(),
        ));
    };
    if ops.is_empty() || ops.len() > 1000 {
        return Err(ScimError::invalid_syntax(
            "'Operations' must hold 1 to 1000 operations".into(),
        ));
    }
    for op in ops {
        let name = filter::get_ci(op, "op")
            .and_then(Value::as_str)
            .unwrap_or("");
        let op_kind = match name.to_ascii_lowercase().as_str() {
            "add" => Kind::Add,
            "replace" => Kind::Replace,
            "remove" => Kind::Remove,
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "'{name}' is not a PATCH operation; use add, remove or replace"
                )))
            }
        };
        let value = filter::get_ci(op, "value").cloned().unwrap_or(Value::Null);
        match filter::get_ci(op, "path").and_then(Value::as_str) {
            Some(path) if !path.trim().is_empty() => {
                apply_path(kind, doc, op_kind, path.trim(), value)?
            }
            _ => {
                if op_kind == Kind::Remove {
                    return Err(ScimError::no_target(
                        "a remove operation needs a path".into(),
                    ));
                }
                let Value::Object(fields) = value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path needs an object as its value".into(),
                    ));
                };
                for (k, v) in fields {
                    if k.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    apply_path(kind, doc, op_kind, &k, v)?;
                }
            }
        }
    }
    Ok(())
}

fn read_only(path: &str) -> ScimError {
    ScimError::mutability(format!("'{path}' cannot be changed"))
}

fn apply_path(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    op: Kind,
    path: &str,
    value: Value,
) -> Result<(), ScimError> {
    if op != Kind::Remove && value.is_null() {
        return Err(ScimError::invalid_value(format!(
            "the {} of '{path}' needs a value",
            if op == Kind::Add { "add" } else { "replace" }
        )));
    }
    // The whole extension object.
    if let Some(ext) = schema::extension_named(kind, path) {
        return match op {
            Kind::Remove => {
                doc.remove(&ext.id);
                Ok(())
            }
            _ => {
                let Value::Object(mut fields) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "'{}' must be an object",
                        ext.id
                    )));
                };
                fields.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
                let target = doc
                    .entry(ext.id.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if op == Kind::Replace || !target.is_object() {
                    *target = Value::Object(fields);
                } else if let Value::Object(existing) = target {
                    existing.extend(fields);
                }
                Ok(())
            }
        };
    }
    let (attr_path, value_filter, sub_after_filter) = filter::parse_path(path)?;
    if schema::is_common(&attr_path) {
        if !attr_path.eq_ignore_ascii_case("externalId") || value_filter.is_some() {
            return Err(read_only(path));
        }
        match op {
            Kind::Remove => {
                doc.remove("externalId");
            }
            _ => {
                doc.insert("externalId".into(), value);
            }
        }
        return Ok(());
    }
    let resolved = schema::resolve(kind, &attr_path)
        .ok_or_else(|| ScimError::invalid_path(format!("there is no attribute '{attr_path}'")))?;
    let sub =
        match (&sub_after_filter, resolved.sub) {
            (Some(s), None) => Some(resolved.attr.sub(s).ok_or_else(|| {
                ScimError::invalid_path(format!("there is no attribute '{path}'"))
            })?),
            (None, s) => s,
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_path(format!("'{path}' is not valid")))
            }
        };
    let attr = resolved.attr;
    if attr.mutability == Mutability::ReadOnly
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(read_only(path));
    }
    if op == Kind::Remove {
        if let Some(ext) = resolved.extension {
            if !doc.contains_key(ext) {
                return Ok(()); // nothing to remove, and no empty extension to leave behind
            }
        }
    }
    let container: &mut Map<String, Value> = match resolved.extension {
        Some(ext) => {
            let entry = doc
                .entry(ext.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(m) => m,
                _ => return Err(ScimError::internal()),
            }
        }
        None => doc,
    };
    // Keys are stored as the schema spells them; find an existing key case-insensitively.
    let key = container
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&attr.name))
        .cloned()
        .unwrap_or_else(|| attr.name.clone());

    if let Some(value_filter) = value_filter {
        if !attr.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "'{attr_path}' is not multi-valued, so it takes no filter"
            )));
        }
        return apply_filtered(
            kind,
            container,
            &key,
            op,
            &value_filter,
            sub.map(|s| s.name.as_str()),
            value,
        );
    }

    match (op, sub) {
        (Kind::Remove, None) => {
            if attr.multi_valued && !value.is_null() {
                // Remove the listed values (how Microsoft Entra ID removes group members).
                let listed: Vec<Value> = match value {
                    Value::Array(a) => a,
                    v => vec![v],
                };
                let keys: Vec<&Value> = listed
                    .iter()
                    .map(|v| filter::get_ci(v, "value").unwrap_or(v))
                    .collect();
                if let Some(Value::Array(items)) = container.get_mut(&key) {
                    items.retain(|item| {
                        let k = filter::get_ci(item, "value").unwrap_or(item);
                        !keys.contains(&k)
                    });
                }
            } else {
                container.remove(&key);
            }
        }
        (Kind::Remove, Some(sub)) => match container.get_mut(&key) {
            Some(Value::Object(o)) => {
                o.retain(|k, _| !k.eq_ignore_ascii_case(&sub.name));
            }
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(o) = item {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(&sub.name));
                    }
                }
            }
            _ => {}
        },
        (_, Some(sub)) => match container.get_mut(&key) {
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(o) = item {
                        o.insert(sub.name.clone(), value.clone());
                    }
                }
            }
            Some(Value::Object(o)) => {
                o.insert(sub.name.clone(), value);
            }
            _ => {
                let mut o = Map::new();
                o.insert(sub.name.clone(), value);
                container.insert(
                    key,
                    if attr.multi_valued {
                        Value::Array(vec![Value::Object(o)])
                    } else {
                        Value::Object(o)
                    },
                );
            }
        },
        (Kind::Add, None) if attr.multi_valued => {
            let new_items: Vec<Value> = match value {
                Value::Array(a) => a,
                v => vec![v],
            };
            let entry = container
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            if let Value::Array(items) = entry {
                for item in new_items {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
            }
        }
        (_, None) => {
            // A singular complex attribute: the given sub-attributes replace or add, the
            // others stay (RFC 7644 §3.5.2.1 and §3.5.2.3).
            if let (Value::Object(new_fields), Some(Value::Object(existing))) =
                (&value, container.get_mut(&key))
            {
                if !attr.multi_valued {
                    for (k, v) in new_fields {
                        existing.insert(k.clone(), v.clone());
                    }
                    return Ok(());
                }
            }
            container.insert(key, value);
        }
    }
    Ok(())
}

fn apply_filtered(
    kind: ResourceKind,
    container: &mut Map<String, Value>,
    key: &str,
    op: Kind,
    value_filter: &Filter,
    sub: Option<&str>,
    value: Value,
) -> Result<(), ScimError> {
    let items = match container.get_mut(key) {
        Some(Value::Array(items)) => items,
        _ => {
            if op == Kind::Remove {
                return Ok(());
            }
            container.insert(key.to_owned(), Value::Array(Vec::new()));
            match container.get_mut(key) {
                Some(Value::Array(items)) => items,
                _ => return Err(ScimError::internal()),
            }
        }
    };
    let matching: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| element_matches(kind, key, item, value_filter))
        .map(|(i, _)| i)
        .collect();
    if op == Kind::Remove {
        match sub {
            Some(sub) => {
                for i in matching {
                    if let Some(Value::Object(o)) = items.get_mut(i) {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                    }
                }
            }
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !matching.contains(&i);
                    i += 1;
                    keep
                });
            }
        }
        return Ok(());
    }
    if matching.is_empty() {
        // `emails[type eq "work"].value` on a user without a work address creates it, which
        // is how identity providers set typed values.
        let mut fields = Map::new();
        if !equalities(value_filter, &mut fields) {
            return Err(ScimError::no_target(format!(
                "no value of '{key}' matches the filter"
            )));
        }
        match (sub, value) {
            (Some(sub), v) => {
                fields.insert(sub.to_owned(), v);
            }
            (None, Value::Object(o)) => fields.extend(o),
            (None, _) => {
                return Err(ScimError::invalid_value(format!(
                    "the value for '{key}[…]' must be an object"
                )))
            }
        }
        items.push(Value::Object(fields));
        return Ok(());
    }
    for i in matching {
        let Some(item) = items.get_mut(i) else {
            continue;
        };
        match (sub, &value) {
            (Some(sub), v) => {
                if let Value::Object(o) = item {
                    o.insert(sub.to_owned(), v.clone());
                }
            }
            (None, Value::Object(new_fields)) => {
                if op == Kind::Replace {
                    *item = Value::Object(new_fields.clone());
                } else if let Value::Object(o) = item {
                    o.extend(new_fields.clone());
                }
            }
            (None, _) => {
                return Err(ScimError::invalid_value(format!(
                    "the value for '{key}[…]' must be an object"
                )))
            }
        }
    }
    Ok(())
}

/// Collect `a eq v and b eq w` into fields; false if the filter is anything else.
fn equalities(f: &Filter, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::Compare(attr, Op::Eq, v) if !attr.contains('.') => {
            out.insert(attr.clone(), v.clone());
            true
        }
        Filter::And(a, b) => equalities(a, out) && equalities(b, out),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(doc: Value, ops: Value) -> Result<Value, ScimError> {
        let mut doc = doc.as_object().unwrap().clone();
        apply(
            ResourceKind::User,
            &mut doc,
            &json!({"schemas": [schema::PATCH_OP], "Operations": ops}),
        )?;
        Ok(Value::Object(doc))
    }

    #[test]
    fn add_replace_remove_with_every_kind_of_path() {
        let base = json!({"userName": "ana", "emails": [{"value": "a@w.example", "type": "work"}]});
        let d = patch(base.clone(), json!([{"op": "add", "path": "emails", "value": [{"value": "a@h.example", "type": "home"}]}])).unwrap();
        assert_eq!(d["emails"].as_array().unwrap().len(), 2);
        let d = patch(base.clone(), json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@w.example"}])).unwrap();
        assert_eq!(d["emails"][0]["value"], "new@w.example");
        let d = patch(base.clone(), json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+32470000000"}])).unwrap();
        assert_eq!(
            d["phoneNumbers"],
            json!([{"type": "mobile", "value": "+32470000000"}])
        );
        let d = patch(
            base.clone(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
        )
        .unwrap();
        assert_eq!(d["emails"], json!([]));
        let d = patch(base.clone(), json!([{"op": "replace", "path": "name.givenName", "value": "Ana"}, {"op": "add", "path": "name.familyName", "value": "Pop"}])).unwrap();
        assert_eq!(d["name"], json!({"givenName": "Ana", "familyName": "Pop"}));
        let d = patch(base.clone(), json!([{"op": "replace", "value": {"displayName": "Ana Pop", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Cardiology"}}])).unwrap();
        assert_eq!(d["displayName"], "Ana Pop");
        assert_eq!(d[schema::ENTERPRISE_USER]["department"], "Cardiology");
        let d = patch(d, json!([{"op": "remove", "path": schema::ENTERPRISE_USER}, {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}])).unwrap();
        assert!(d.get(schema::ENTERPRISE_USER).is_none());
        let d = patch(base.clone(), json!([{"op": "remove", "path": "title"}])).unwrap();
        assert_eq!(d, base, "removing what is not there changes nothing");
    }

    #[test]
    fn bad_operations_say_what_is_wrong() {
        let base = json!({"userName": "ana"});
        let e = patch(base.clone(), json!([{"op": "remove"}])).unwrap_err();
        assert_eq!(e.scim_type.as_deref(), Some("noTarget"));
        let e = patch(
            base.clone(),
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type.as_deref(), Some("mutability"));
        let e = patch(
            base.clone(),
            json!([{"op": "add", "path": "nosuch", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type.as_deref(), Some("invalidPath"));
        let e = patch(
            base.clone(),
            json!([{"op": "move", "path": "title", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type.as_deref(), Some("invalidSyntax"));
        let e = patch(base, json!([{"op": "replace", "path": "emails[type eq \"work\" or type eq \"home\"].value", "value": "x"}])).unwrap_err();
        assert_eq!(e.scim_type.as_deref(), Some("noTarget"));
    }
}
