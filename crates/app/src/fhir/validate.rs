//! Structural validation of the FHIR R4 resources clients create (Observation,
//! DiagnosticReport): every element must be one R4 defines for the resource, required elements
//! present, codes from their required value sets, and data types well formed. A failure names
//! the element (`Observation.status`), which the API returns as the OperationOutcome's
//! `expression`.

use serde_json::{Map, Value};

use crate::AppError;

fn invalid(expression: impl Into<String>, message: impl Into<String>) -> AppError {
    AppError::InvalidResource {
        expression: expression.into(),
        message: message.into(),
    }
}

/// Elements every resource may carry.
const BASE: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "implicitRules",
    "language",
    "text",
    "contained",
    "extension",
    "modifierExtension",
];

const OBSERVATION: &[&str] = &[
    "identifier",
    "basedOn",
    "partOf",
    "status",
    "category",
    "code",
    "subject",
    "focus",
    "encounter",
    "effectiveDateTime",
    "effectivePeriod",
    "effectiveTiming",
    "effectiveInstant",
    "issued",
    "performer",
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
    "dataAbsentReason",
    "interpretation",
    "note",
    "bodySite",
    "method",
    "specimen",
    "device",
    "referenceRange",
    "hasMember",
    "derivedFrom",
    "component",
];

const OBSERVATION_STATUS: &[&str] = &[
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
];

const DIAGNOSTIC_REPORT: &[&str] = &[
    "identifier",
    "basedOn",
    "status",
    "category",
    "code",
    "subject",
    "encounter",
    "effectiveDateTime",
    "effectivePeriod",
    "issued",
    "performer",
    "resultsInterpreter",
    "specimen",
    "result",
    "imagingStudy",
    "media",
    "conclusion",
    "conclusionCode",
    "presentedForm",
];

const DIAGNOSTIC_REPORT_STATUS: &[&str] = &[
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
];

/// What a valid resource says that the server needs.
#[derive(Debug, Clone)]
pub struct Checked {
    pub resource: Map<String, Value>,
    /// The patient id from `subject` (`Patient/<id>`).
    pub patient_id: String,
    /// Category codes (`coding.code`) of every category.
    pub category_codes: Vec<String>,
    /// effective[x] start, or `issued`, in seconds.
    pub effective_at: Option<i64>,
    /// Observations a DiagnosticReport's `result` refers to.
    pub results: Vec<String>,
}

/// Validate a resource of `resource_type` a client sent for creation.
pub fn check(resource_type: &str, body: &[u8]) -> Result<Checked, AppError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(resource_type, format!("the body is not valid JSON: {e}")))?;
    let Value::Object(resource) = value else {
        return Err(invalid(resource_type, "the body must be a JSON object"));
    };
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == resource_type => {}
        Some(t) => {
            return Err(invalid(
                format!("{resource_type}.resourceType"),
                format!("is {t}, but this is the {resource_type} endpoint"),
            ))
        }
        None => {
            return Err(invalid(
                format!("{resource_type}.resourceType"),
                format!("is required and must be \"{resource_type}\""),
            ))
        }
    }
    let (elements, statuses): (&[&str], &[&str]) = match resource_type {
        "Observation" => (OBSERVATION, OBSERVATION_STATUS),
        "DiagnosticReport" => (DIAGNOSTIC_REPORT, DIAGNOSTIC_REPORT_STATUS),
        _ => {
            return Err(invalid(
                resource_type,
                "this resource type cannot be created here",
            ))
        }
    };
    let at = |element: &str| format!("{resource_type}.{element}");
    for key in resource.keys() {
        let known = BASE.contains(&key.as_str())
            || elements.contains(&key.as_str())
            || key.starts_with('_') && elements.contains(&&key[1..]);
        if !known {
            return Err(invalid(
                at(key),
                format!("is not an element of {resource_type} in FHIR R4"),
            ));
        }
    }
    if resource.contains_key("contained") {
        return Err(invalid(
            at("contained"),
            "contained resources are not accepted; create each resource on its own",
        ));
    }
    for key in ["meta", "text"] {
        if let Some(v) = resource.get(key) {
            if !v.is_object() {
                return Err(invalid(at(key), "must be an object"));
            }
        }
    }
    if let Some(v) = resource.get("id") {
        if !v.as_str().is_some_and(is_id) {
            return Err(invalid(at("id"), "must be 1 to 64 letters, digits, - or ."));
        }
    }
    match resource.get("status").and_then(Value::as_str) {
        Some(s) if statuses.contains(&s) => {}
        Some(s) => {
            return Err(invalid(
                at("status"),
                format!("\"{s}\" is not one of: {}", statuses.join(", ")),
            ))
        }
        None => return Err(invalid(at("status"), "is required")),
    }
    match resource.get("code") {
        Some(c) => codeable_concept(c, &at("code"))?,
        None => return Err(invalid(at("code"), "is required")),
    }
    let mut category_codes = Vec::new();
    if let Some(c) = resource.get("category") {
        let list = array(c, &at("category"))?;
        for (i, item) in list.iter().enumerate() {
            let path = format!("{}[{i}]", at("category"));
            codeable_concept(item, &path)?;
            for coding in item
                .get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(code) = coding.get("code").and_then(Value::as_str) {
                    category_codes.push(code.to_owned());
                }
            }
        }
    }
    let patient_id = match resource.get("subject") {
        None => {
            return Err(invalid(
                at("subject"),
                "is required: the patient, as {\"reference\": \"Patient/<id>\"}",
            ))
        }
        Some(s) => {
            let r = reference(s, &at("subject"))?;
            match r.and_then(|r| r.strip_prefix("Patient/")) {
                Some(id) if is_id(id) => id.to_owned(),
                _ => {
                    return Err(invalid(
                        format!("{}.reference", at("subject")),
                        "must be Patient/<id>",
                    ))
                }
            }
        }
    };
    let one_of = |prefix: &str| -> Result<Option<&String>, AppError> {
        let found: Vec<&String> = resource
            .keys()
            .filter(|k| k.starts_with(prefix) && k.len() > prefix.len())
            .filter(|k| k.as_bytes()[prefix.len()].is_ascii_uppercase())
            .collect();
        if found.len() > 1 {
            return Err(invalid(
                at(&format!("{prefix}[x]")),
                format!(
                    "only one of {} may be given",
                    found
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(found.first().copied())
    };
    let mut effective_at = None;
    if let Some(key) = one_of("effective")? {
        let v = &resource[key];
        effective_at = match key.as_str() {
            "effectiveDateTime" => Some(date_time(v, &at(key))?),
            "effectiveInstant" => Some(instant(v, &at(key))?),
            "effectivePeriod" => {
                let start = v.get("start");
                if !v.is_object() {
                    return Err(invalid(at(key), "must be a Period object"));
                }
                if let Some(end) = v.get("end") {
                    date_time(end, &format!("{}.end", at(key)))?;
                }
                match start {
                    Some(s) => Some(date_time(s, &format!("{}.start", at(key)))?),
                    None => None,
                }
            }
            _ => None,
        };
    }
    if let Some(v) = resource.get("issued") {
        let issued = instant(v, &at("issued"))?;
        effective_at = effective_at.or(Some(issued));
    }
    if let Some(key) = one_of("value")? {
        let v = &resource[key];
        match key.as_str() {
            "valueQuantity" => quantity(v, &at(key))?,
            "valueCodeableConcept" => codeable_concept(v, &at(key))?,
            "valueString" if !v.is_string() => return Err(invalid(at(key), "must be a string")),
            "valueBoolean" if !v.is_boolean() => {
                return Err(invalid(at(key), "must be true or false"))
            }
            "valueInteger" if !v.is_i64() => return Err(invalid(at(key), "must be an integer")),
            "valueDateTime" => {
                date_time(v, &at(key))?;
            }
            _ => {
                if !(v.is_object() || v.is_string()) {
                    return Err(invalid(at(key), "is not well formed"));
                }
            }
        }
    }
    for key in [
        "interpretation",
        "note",
        "referenceRange",
        "performer",
        "identifier",
    ] {
        if let Some(v) = resource.get(key) {
            array(v, &at(key))?;
        }
    }
    let mut results = Vec::new();
    if let Some(v) = resource.get("result") {
        for (i, r) in array(v, &at("result"))?.iter().enumerate() {
            let path = format!("{}[{i}]", at("result"));
            match reference(r, &path)?.and_then(|r| r.strip_prefix("Observation/")) {
                Some(id) if is_id(id) => results.push(id.to_owned()),
                _ => {
                    return Err(invalid(
                        format!("{path}.reference"),
                        "must be Observation/<id>",
                    ))
                }
            }
        }
    }
    if let Some(v) = resource.get("conclusion") {
        if !v.is_string() {
            return Err(invalid(at("conclusion"), "must be a string"));
        }
    }
    Ok(Checked {
        resource,
        patient_id,
        category_codes,
        effective_at,
        results,
    })
}

/// A FHIR id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, AppError> {
    v.as_array()
        .ok_or_else(|| invalid(path, "must be an array"))
}

fn codeable_concept(v: &Value, path: &str) -> Result<(), AppError> {
    let Some(o) = v.as_object() else {
        return Err(invalid(path, "must be a CodeableConcept object"));
    };
    let mut has = o.get("text").is_some_and(Value::is_string);
    if let Some(codings) = o.get("coding") {
        for (i, c) in array(codings, &format!("{path}.coding"))?
            .iter()
            .enumerate()
        {
            let cp = format!("{path}.coding[{i}]");
            let Some(c) = c.as_object() else {
                return Err(invalid(cp, "must be a Coding object"));
            };
            for key in ["system", "version", "code", "display"] {
                if c.get(key).is_some_and(|v| !v.is_string()) {
                    return Err(invalid(format!("{cp}.{key}"), "must be a string"));
                }
            }
            has |= c.contains_key("code");
        }
    }
    if !has {
        return Err(invalid(path, "needs a coding with a code, or a text"));
    }
    Ok(())
}

fn reference<'a>(v: &'a Value, path: &str) -> Result<Option<&'a str>, AppError> {
    let Some(o) = v.as_object() else {
        return Err(invalid(path, "must be a Reference object"));
    };
    match o.get("reference") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{path}.reference"), "must be a string")),
    }
}

fn quantity(v: &Value, path: &str) -> Result<(), AppError> {
    let Some(o) = v.as_object() else {
        return Err(invalid(path, "must be a Quantity object"));
    };
    if o.get("value").is_some_and(|x| !x.is_number()) {
        return Err(invalid(format!("{path}.value"), "must be a number"));
    }
    for key in ["unit", "system", "code", "comparator"] {
        if o.get(key).is_some_and(|x| !x.is_string()) {
            return Err(invalid(format!("{path}.{key}"), "must be a string"));
        }
    }
    Ok(())
}

fn date_time(v: &Value, path: &str) -> Result<i64, AppError> {
    v.as_str()
        .and_then(|s| super::dates::parse(s).map(|(start, _)| start))
        .ok_or_else(|| {
            invalid(
                path,
                "must be a FHIR dateTime: YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone",
            )
        })
}

fn instant(v: &Value, path: &str) -> Result<i64, AppError> {
    v.as_str()
        .filter(|s| s.contains('T'))
        .and_then(|s| super::dates::parse(s).map(|(start, _)| start))
        .ok_or_else(|| {
            invalid(
                path,
                "must be a FHIR instant: YYYY-MM-DDThh:mm:ss with a time zone",
            )
        })
}
