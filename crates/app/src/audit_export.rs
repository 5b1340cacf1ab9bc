//! Export of the audit log for a SIEM (JSON lines, one record per line, with the chain
//! hashes so the receiver can check continuity) and as FHIR R4 AuditEvent resources.

use serde_json::{json, Value};

use sealroom_domain::{AuditAction, Timestamp};
use sealroom_store::AuditRow;

use crate::accounts::Actor;
use crate::policy::{authorize, Action};
use crate::{App, AppError};

/// Formats of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    JsonLines,
    FhirBundle,
}

const MAX_PAGE: i64 = 10_000;

impl App {
    /// Records after `after_seq`, at most `limit` (≤ 10 000): for an administrator or the
    /// security officer, or an integration token with `audit:read`. The export is audited.
    pub async fn export_audit(
        &self,
        actor: &Actor,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, AppError> {
        authorize(&actor.principal, Action::ReadAudit)?;
        if after_seq < 0 || !(1..=MAX_PAGE).contains(&limit) {
            return Err(AppError::InvalidInput(format!(
                "after must be 0 or more and limit between 1 and {MAX_PAGE}"
            )));
        }
        let rows = self.store().audit_page(after_seq, limit).await?;
        self.audit(
            &actor.name(),
            AuditAction::AuditExported,
            "audit",
            "success",
            &actor.client,
            json!({"after": after_seq, "records": rows.len()}),
        )
        .await?;
        Ok(rows)
    }
}

/// One record as a JSON object (a line of the SIEM export).
pub fn to_json_line(row: &AuditRow) -> Value {
    let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
    json!({
        "seq": row.seq,
        "time": rfc3339(row.at),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "outcome": row.outcome,
        "client_address": row.client_address,
        "details": details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    })
}

fn rfc3339(at: i64) -> String {
    let t = Timestamp(at);
    let secs = at.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        t.date(),
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// CRUD-E code of an action, as FHIR's AuditEvent.action.
fn crude(action: &str) -> &'static str {
    if action.ends_with(".read") || action.ends_with("review_read") || action == "patient.searched"
    {
        "R"
    } else if action.ends_with(".created")
        || action.ends_with(".registered")
        || action.ends_with(".opened")
        || action.ends_with(".ordered")
        || action.ends_with(".proposed")
    {
        "C"
    } else if action.ends_with(".revoked")
        || action.ends_with(".ended")
        || action.ends_with(".offboarded")
    {
        "D"
    } else if action.starts_with("sign_in")
        || action.starts_with("step_up")
        || action.ends_with("used")
    {
        "E"
    } else {
        "U"
    }
}

/// One record as a FHIR R4 AuditEvent.
pub fn to_fhir_audit_event(row: &AuditRow) -> Value {
    let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
    let patient = row.subject.strip_prefix("patient:");
    let event_type = if patient.is_some() {
        json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110", "display": "Patient Record"})
    } else if row.action.starts_with("sign_in")
        || row.action.starts_with("session")
        || row.action.starts_with("step_up")
    {
        json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114", "display": "User Authentication"})
    } else {
        json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110100", "display": "Application Activity"})
    };
    let outcome = match row.outcome.as_str() {
        "success" | "granted" | "justified" | "unjustified" | "already_ended"
        | "already_revoked" => "0",
        "denied" | "refused" | "failed" | "throttled" => "4",
        _ => "4",
    };
    let policies: Vec<String> = details["reasons"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["policy"].as_str())
                .map(|p| format!("urn:sealroom:policy:{p}"))
                .collect()
        })
        .unwrap_or_default();
    let mut agent = json!({
        "who": {"identifier": {"system": "urn:sealroom:actor", "value": row.actor}},
        "requestor": true,
    });
    if !policies.is_empty() {
        agent["policy"] = json!(policies);
    }
    if !row.client_address.is_empty() {
        agent["network"] = json!({"address": row.client_address, "type": "2"});
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": format!("sealroom-{}", row.seq),
        "type": event_type,
        "subtype": [{"system": "urn:sealroom:audit-action", "code": row.action}],
        "action": crude(&row.action),
        "recorded": rfc3339(row.at),
        "outcome": outcome,
        "agent": [agent],
        "source": {
            "observer": {"display": "Sealroom"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}]
        },
    });
    if let Some(purpose) = details["purpose"].as_str() {
        event["purposeOfEvent"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}]}]);
    }
    let mut entity = json!({
        "what": {"identifier": {"system": if patient.is_some() { "urn:sealroom:patient" } else { "urn:sealroom:subject" },
                                "value": patient.unwrap_or(&row.subject)}},
    });
    if patient.is_some() {
        entity["type"] = json!({"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"});
        entity["role"] = json!({"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"});
    }
    if let Some(cats) = details["categories"].as_array() {
        let list: Vec<&str> = cats.iter().filter_map(Value::as_str).collect();
        if !list.is_empty() {
            entity["detail"] = json!([{"type": "categories", "valueString": list.join(",")}]);
        }
    }
    event["entity"] = json!([entity]);
    event
}

/// A FHIR R4 Bundle (type collection) of AuditEvents.
pub fn to_fhir_bundle(rows: &[AuditRow]) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": rows.iter().map(|r| json!({"resource": to_fhir_audit_event(r)})).collect::<Vec<_>>(),
    })
}
