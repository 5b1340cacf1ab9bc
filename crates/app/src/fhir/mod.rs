//! FHIR R4 views of the organization's data: Patient (read, search by identifier),
//! Observation and DiagnosticReport (create, read, search by patient, category and date),
//! DocumentReference over the document store (its files served as Binary).
//!
//! Every read and write goes through the same access policy and audit log as the rest of the
//! server: a resource's data category decides who may see it (`imaging` for imaging
//! observations and radiology reports, `results` for the others; documents keep their own).
//! Resources are stored sealed; what searches need (patient, category codes, effective time)
//! is kept beside them.

pub mod dates;
pub mod validate;

use serde_json::{json, Map, Value};

use sealroom_crypto::token::new_id;
use sealroom_domain::{AccessAction, AdministrativeSex, AuditAction, DataCategory};
use sealroom_store::{FhirRow, FhirSearch};

use crate::accounts::Actor;
use crate::documents::DocumentView;
use crate::patient_access::staff_id;
use crate::patients::{PatientIdentity, PatientQuery};
use crate::{App, AppError};

/// The FHIR version served.
pub const FHIR_VERSION: &str = "4.0.1";
/// The most resources one search returns.
pub const SEARCH_LIMIT: i64 = 500;
/// Where Sealroom's own codes live (document kinds and data categories).
pub const SEALROOM_CODES: &str = "https://sealroom.dev/fhir/CodeSystem";

/// The resource types clients create and search here.
pub const STORED_TYPES: [&str; 2] = ["Observation", "DiagnosticReport"];

/// A search of Observations or DiagnosticReports: one patient's, optionally by category
/// codes and a date range.
#[derive(Debug, Clone, Default)]
pub struct ResourceQuery {
    pub patient_id: String,
    pub category_codes: Vec<String>,
    pub from: Option<i64>,
    pub until: Option<i64>,
}

fn body_owner(resource_type: &str, id: &str) -> String {
    format!("fhir:{resource_type}:{id}")
}

/// A category code as stored for search, space separated: FHIR codes may hold single spaces.
fn code_token(code: &str) -> String {
    code.replace(' ', "\u{1f}")
}

/// The data category policy decides on for a resource with these category codes.
fn data_category(resource_type: &str, codes: &[String]) -> DataCategory {
    let imaging = codes.iter().any(|c| match resource_type {
        "DiagnosticReport" => c == "RAD" || c == "imaging",
        _ => c == "imaging",
    });
    if imaging {
        DataCategory::Imaging
    } else {
        DataCategory::Results
    }
}

impl App {
    /// The identifier system of the organization's patient numbers (MRN).
    pub fn mrn_system(&self) -> String {
        let mut url = self.settings().public_url.clone();
        url.set_path("/fhir/sid/mrn");
        url.to_string()
    }

    fn fhir_patient_resource(&self, p: &PatientIdentity) -> Value {
        let gender = match p.sex {
            AdministrativeSex::Female => "female",
            AdministrativeSex::Male => "male",
            AdministrativeSex::Other => "other",
            AdministrativeSex::Unknown => "unknown",
        };
        let given: Vec<&str> = p.given_names.split_whitespace().collect();
        let mut name = json!({"use": "official", "family": p.family_name});
        if !given.is_empty() {
            name["given"] = json!(given);
        }
        json!({
            "resourceType": "Patient",
            "id": p.id,
            "identifier": [{
                "use": "usual",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": self.mrn_system(),
                "value": p.mrn,
            }],
            "name": [name],
            "gender": gender,
            "birthDate": p.birth_date,
        })
    }

    /// `Patient/<id>`, through policy and audit like any patient read.
    pub async fn fhir_patient(&self, actor: &Actor, id: &str) -> Result<Value, AppError> {
        if !validate::is_id(id) {
            return Err(AppError::NotFound);
        }
        let view = self.patient(actor, id).await?;
        Ok(self.fhir_patient_resource(&view.identity))
    }

    /// `Patient?identifier=[system|]value`: by the organization's patient number.
    pub async fn fhir_search_patients(
        &self,
        actor: &Actor,
        identifier: &str,
    ) -> Result<Vec<Value>, AppError> {
        let (system, value) = match identifier.split_once('|') {
            Some((s, v)) => (Some(s), v),
            None => (None, identifier),
        };
        if let Some(s) = system.filter(|s| !s.is_empty()) {
            if s != self.mrn_system() {
                return Err(AppError::InvalidResource {
                    expression: "identifier".into(),
                    message: format!(
                        "only the organization's patient numbers can be searched: system {}",
                        self.mrn_system()
                    ),
                });
            }
        }
        let found = self
            .search_patients(actor, PatientQuery::Mrn(value.to_owned()))
            .await?;
        Ok(found
            .iter()
            .map(|p| self.fhir_patient_resource(p))
            .collect())
    }

    /// Create an Observation or DiagnosticReport for a patient: validated, permitted for its
    /// data category, stored sealed, audited.
    pub async fn fhir_create(
        &self,
        actor: &Actor,
        resource_type: &str,
        body: &[u8],
    ) -> Result<Value, AppError> {
        let author = staff_id(actor, true)?.to_owned();
        let checked = validate::check(resource_type, body)?;
        let category = data_category(resource_type, &checked.category_codes);
        // Checked before the access decision, so that "created" is audited only for what is
        // then stored. The answer is the same for an unknown id and another patient's.
        for (i, result) in checked.results.iter().enumerate() {
            let same_patient = self
                .store()
                .fhir_resource("Observation", result)
                .await?
                .is_some_and(|r| r.patient_id == checked.patient_id);
            if !same_patient {
                return Err(AppError::InvalidResource {
                    expression: format!("DiagnosticReport.result[{i}]"),
                    message: "is not an Observation of this patient".into(),
                });
            }
        }
        let id = new_id();
        self.require_patient_access(
            actor,
            &checked.patient_id,
            category,
            AccessAction::Write,
            AuditAction::FhirCreated,
            json!({"resource": format!("{resource_type}/{id}")}),
        )
        .await?;
        let now = self.now().as_seconds();
        let mut resource: Map<String, Value> = checked.resource;
        resource.insert("id".into(), json!(id));
        resource.insert(
            "meta".into(),
            json!({"versionId": "1", "lastUpdated": dates::instant(now)}),
        );
        let resource = Value::Object(resource);
        let body = serde_json::to_vec(&resource).map_err(AppError::internal)?;
        let mut codes = String::from(" ");
        for c in &checked.category_codes {
            codes.push_str(&code_token(c));
            codes.push(' ');
        }
        self.store()
            .insert_fhir(&FhirRow {
                resource_type: resource_type.to_owned(),
                id: id.clone(),
                patient_id: checked.patient_id,
                data_category: category.as_str().to_owned(),
                category_codes: codes,
                effective_at: checked.effective_at,
                body_sealed: self.secrets().seal(&body, &body_owner(resource_type, &id)),
                created_by: author,
                created_at: now,
            })
            .await?;
        Ok(resource)
    }

    fn open_fhir(&self, row: &FhirRow) -> Result<Value, AppError> {
        let body = self
            .secrets()
            .open(&row.body_sealed, &body_owner(&row.resource_type, &row.id))
            .map_err(AppError::internal)?;
        serde_json::from_slice(&body).map_err(AppError::internal)
    }

    /// Read an Observation or DiagnosticReport.
    pub async fn fhir_read(
        &self,
        actor: &Actor,
        resource_type: &str,
        id: &str,
    ) -> Result<Value, AppError> {
        staff_id(actor, false)?;
        let row = self
            .store()
            .fhir_resource(resource_type, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let category = DataCategory::parse(&row.data_category).map_err(AppError::internal)?;
        self.require_patient_access(
            actor,
            &row.patient_id,
            category,
            AccessAction::Read,
            AuditAction::FhirRead,
            json!({"resource": format!("{resource_type}/{id}")}),
        )
        .await?;
        self.open_fhir(&row)
    }

    /// One patient's Observations or DiagnosticReports the reader may see.
    pub async fn fhir_search(
        &self,
        actor: &Actor,
        resource_type: &str,
        query: &ResourceQuery,
    ) -> Result<Vec<Value>, AppError> {
        let asked = [DataCategory::Results, DataCategory::Imaging];
        let permitted = self
            .open_patient(
                actor,
                &query.patient_id,
                &asked,
                AccessAction::Read,
                AuditAction::FhirSearched,
                json!({"resource_type": resource_type}),
            )
            .await?
            .categories();
        let rows = self
            .store()
            .search_fhir(
                resource_type,
                &query.patient_id,
                &FhirSearch {
                    category_codes: query.category_codes.iter().map(|c| code_token(c)).collect(),
                    from: query.from,
                    until: query.until,
                    limit: SEARCH_LIMIT,
                },
            )
            .await?;
        let mut out = Vec::new();
        for row in rows {
            let category = DataCategory::parse(&row.data_category).map_err(AppError::internal)?;
            if permitted.contains(&category) {
                out.push(self.open_fhir(&row)?);
            }
        }
        Ok(out)
    }

    /// A document as a DocumentReference; its current version's content is `Binary/<id>`.
    fn fhir_document_reference(&self, d: &DocumentView) -> Value {
        let latest = d.versions.last();
        let mut attachment = json!({});
        if let Some(v) = latest {
            attachment = json!({
                "contentType": v.media_type,
                "url": format!("Binary/{}", d.id),
                "title": v.filename,
                "creation": dates::instant(v.created_at),
            });
            // Attachment.size is an unsignedInt (at most 2^31 - 1) in R4.
            if let Ok(size) = i32::try_from(v.size) {
                attachment["size"] = json!(size);
            }
        }
        let mut r = json!({
            "resourceType": "DocumentReference",
            "id": d.id,
            "status": if d.shredded_at.is_some() { "entered-in-error" } else { "current" },
            "docStatus": if d.versions.len() > 1 { "amended" } else { "final" },
            "type": {"coding": [{"system": format!("{SEALROOM_CODES}/document-kind"), "code": d.kind}], "text": d.kind},
            "category": [{"coding": [{"system": format!("{SEALROOM_CODES}/data-category"), "code": d.category.as_str()}]}],
            "subject": {"reference": format!("Patient/{}", d.patient_id)},
            "date": dates::instant(d.created_at),
            "content": [{"attachment": attachment}],
        });
        if let Some(v) = latest {
            r["author"] = json!([{"display": v.author_name}]);
            r["authenticator"] = json!({"display": v.signature.signer_name});
            r["meta"] = json!({"versionId": v.version.to_string(), "lastUpdated": dates::instant(v.created_at)});
        }
        if let Some(t) = &d.title {
            r["description"] = json!(t);
        }
        r
    }

    /// A patient's documents as DocumentReferences, filtered by policy.
    pub async fn fhir_document_references(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<Vec<Value>, AppError> {
        let list = self.documents(actor, patient_id, &[]).await?;
        Ok(list
            .documents
            .iter()
            .filter(|d| d.shredded_at.is_none())
            .map(|d| self.fhir_document_reference(d))
            .collect())
    }

    /// One document as a DocumentReference.
    pub async fn fhir_document(&self, actor: &Actor, id: &str) -> Result<Value, AppError> {
        let d = self.document(actor, id).await?;
        Ok(self.fhir_document_reference(&d))
    }
}
