//! Patients: registration with duplicate detection, search, "my patients", the patient's
//! identification and administrative view, care episodes (admission, transfer, discharge),
//! tests assigned to laboratories, and categorized records.
//!
//! Demographics and national identifiers are sealed under the master key, bound to the
//! patient; exact lookups use keyed blind indexes. Every read and write goes through
//! [`crate::patient_access`], which decides by policy and audits.

use rand::Rng;
use serde::Serialize;
use serde_json::json;

use sealroom_crypto::token::new_id;
use sealroom_domain::access::Relation;
use sealroom_domain::patient::name_birth_key;
use sealroom_domain::{
    AccessAction, AdministrativeSex, AuditAction, Capacity, CapacitySource, Country, DataCategory,
    Demographics, NationalIdentifier, OrganizationPatientId, Timestamp,
};
use sealroom_store::{EpisodeRow, PatientRow, RecordRow, StoreError, TestRow};

use crate::accounts::Actor;
use crate::patient_access::{assignment_fact, staff_id, AccessReason};
use crate::{App, AppError};

/// A new patient as entered at the desk.
#[derive(Debug, Clone)]
pub struct NewPatient {
    pub family_name: String,
    pub given_names: String,
    pub birth_date: String,
    pub sex: AdministrativeSex,
    /// Country code (BE, FR, RO, GB) and the number as written.
    pub national_id: Option<(String, String)>,
    /// Register even though a patient with the same name and birth date exists.
    pub register_anyway: bool,
}

/// A national identifier as shown: the country and the last digits only.
#[derive(Debug, Clone, Serialize)]
pub struct MaskedNationalId {
    pub country: String,
    pub masked: String,
}

/// What staff see of a patient's identity.
#[derive(Debug, Clone, Serialize)]
pub struct PatientIdentity {
    pub id: String,
    pub mrn: String,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: String,
    pub sex: AdministrativeSex,
    pub national_id: Option<MaskedNationalId>,
}

/// A care episode as shown.
#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    pub id: String,
    pub department_id: String,
    pub admitted_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

impl From<EpisodeRow> for Episode {
    fn from(e: EpisodeRow) -> Self {
        Episode {
            id: e.id,
            department_id: e.department_id,
            admitted_at: e.admitted_at,
            ended_at: e.ended_at,
            end_reason: e.end_reason,
        }
    }
}

/// The patient page: identity, and episodes when administrative data is permitted.
#[derive(Debug, Clone, Serialize)]
pub struct PatientView {
    #[serde(flatten)]
    pub identity: PatientIdentity,
    /// `None` when the reader may not see administrative data.
    pub episodes: Option<Vec<Episode>>,
    /// Every category the reader may read now (what a record view may ask for).
    pub readable_categories: Vec<DataCategory>,
}

/// A possible duplicate found at registration.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateCandidate {
    #[serde(flatten)]
    pub identity: PatientIdentity,
    /// `national_identifier` or `name_and_birth_date`.
    pub matched_on: &'static str,
}

/// The outcome of registering.
#[derive(Debug, Clone)]
pub enum Registration {
    Registered(PatientIdentity),
    /// Same name and birth date as existing patients: confirm with `register_anyway`.
    PossibleDuplicates(Vec<DuplicateCandidate>),
}

/// How to look for a patient.
#[derive(Debug, Clone)]
pub enum PatientQuery {
    Mrn(String),
    NationalId {
        country: String,
        value: String,
    },
    NameAndBirthDate {
        family_name: String,
        birth_date: String,
        given_names: Option<String>,
    },
}

/// A patient in one of my departments now.
#[derive(Debug, Clone, Serialize)]
pub struct MyPatient {
    #[serde(flatten)]
    pub identity: PatientIdentity,
    pub department_id: String,
    pub admitted_at: i64,
}

/// A categorized record (a note, a result value).
#[derive(Debug, Clone, Serialize)]
pub struct PatientRecord {
    pub id: String,
    pub category: DataCategory,
    pub author_id: String,
    pub created_at: i64,
    pub text: String,
}

/// The records a reader may see, and what was withheld from them.
#[derive(Debug, Clone, Serialize)]
pub struct RecordsView {
    pub records: Vec<PatientRecord>,
    pub withheld_categories: Vec<DataCategory>,
}

/// A test assigned to a laboratory.
#[derive(Debug, Clone, Serialize)]
pub struct Test {
    pub id: String,
    pub patient_id: String,
    pub laboratory_department_id: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

const SEARCH_LIMIT: i64 = 50;
const MY_PATIENTS_LIMIT: i64 = 500;
const MAX_RECORD_CHARS: usize = 20_000;

fn demographics_owner(patient_id: &str) -> String {
    format!("patient:{patient_id}:demographics")
}
fn national_owner(patient_id: &str) -> String {
    format!("patient:{patient_id}:national_id")
}

impl App {
    fn identity_of(
        &self,
        id: &str,
        mrn: &str,
        sealed: &[u8],
        national: Option<&[u8]>,
    ) -> Result<PatientIdentity, AppError> {
        let plain = self
            .secrets()
            .open(sealed, &demographics_owner(id))
            .map_err(AppError::internal)?;
        let d: Demographics = serde_json::from_slice(&plain).map_err(AppError::internal)?;
        let national_id = match national {
            Some(n) => {
                let plain = self
                    .secrets()
                    .open(n, &national_owner(id))
                    .map_err(AppError::internal)?;
                let text = String::from_utf8(plain).map_err(AppError::internal)?;
                let (cc, value) = text.split_once(':').unwrap_or(("", &text));
                let country = Country::parse(cc).map_err(AppError::internal)?;
                let parsed =
                    NationalIdentifier::parse(country, value).map_err(AppError::internal)?;
                Some(MaskedNationalId {
                    country: country.as_str().to_owned(),
                    masked: parsed.masked(),
                })
            }
            None => None,
        };
        Ok(PatientIdentity {
            id: id.to_owned(),
            mrn: mrn.to_owned(),
            family_name: d.family_name().to_owned(),
            given_names: d.given_names().to_owned(),
            birth_date: d.birth_date().to_owned(),
            sex: d.sex(),
            national_id,
        })
    }

    pub(crate) fn identity(&self, p: &PatientRow) -> Result<PatientIdentity, AppError> {
        self.identity_of(
            &p.id,
            &p.mrn,
            &p.demographics_sealed,
            p.national_id_sealed.as_deref(),
        )
    }

    fn national_index(&self, n: &NationalIdentifier) -> String {
        self.blind_index("national-id", n.normalized())
    }

    fn name_birth_index(&self, family_name: &str, birth_date: &str) -> String {
        self.blind_index("name-birth", &name_birth_key(family_name, birth_date))
    }

    /// The capacities a person holds before any patient exists (registration).
    async fn organization_capacities(&self, user_id: &str) -> Result<Vec<Capacity>, AppError> {
        let now = self.now();
        let facts = sealroom_domain::access::AccessFacts {
            assignments: self
                .store()
                .assignments_of(user_id)
                .await?
                .iter()
                .map(assignment_fact)
                .collect(),
            ..Default::default()
        };
        Ok(sealroom_domain::access::capacities(
            &facts,
            now,
            self.settings().access.previous_care_window,
        ))
    }

    /// Keep the candidates the person may identify, auditing each one shown.
    async fn visible(
        &self,
        actor: &Actor,
        user_id: &str,
        rows: Vec<PatientRow>,
        context: &str,
    ) -> Result<Vec<PatientIdentity>, AppError> {
        let mut shown = Vec::new();
        let mut reads = Vec::new();
        for p in rows {
            let outcome = self
                .decide_patient_access(
                    user_id,
                    &p.id,
                    &[DataCategory::Identification],
                    AccessAction::Read,
                )
                .await?;
            if let Some(reason) = outcome.permitted.into_iter().next() {
                shown.push(self.identity(&p)?);
                reads.push((p.id.clone(), reason));
            }
        }
        self.audit_patients_listed(actor, &reads, context).await?;
        Ok(shown)
    }

    /// Register a patient. Same national identifier: refused, with the existing patient shown
    /// when the person may see it. Same family name and birth date: a warning listing the
    /// candidates, unless `register_anyway`.
    pub async fn register_patient(
        &self,
        actor: &Actor,
        new: NewPatient,
    ) -> Result<Registration, AppError> {
        let user_id = staff_id(actor, true)?.to_owned();
        let now = self.now();
        let demographics = Demographics::new(
            &new.family_name,
            &new.given_names,
            &new.birth_date,
            new.sex,
            &now.date(),
        )
        .map_err(|e| AppError::InvalidInput(e.to_string()))?;
        let national = match &new.national_id {
            Some((cc, value)) => {
                let country =
                    Country::parse(cc).map_err(|e| AppError::InvalidInput(e.to_string()))?;
                Some(
                    NationalIdentifier::parse(country, value)
                        .map_err(|e| AppError::InvalidInput(e.to_string()))?,
                )
            }
            None => None,
        };
        // May this person register patients at all?
        let caps = self.organization_capacities(&user_id).await?;
        let decision = self.policy_engine().decide(
            &user_id,
            "new",
            &caps,
            DataCategory::Identification,
            AccessAction::Write,
            now,
        );
        let crate::access_policy::AccessDecision::Permit {
            policy,
            relation,
            source,
        } = decision
        else {
            return Err(AppError::Forbidden);
        };

        let national_index = national.as_ref().map(|n| self.national_index(n));
        if let Some(index) = &national_index {
            if let Some(existing) = self.store().patient_by_national_index(index).await? {
                let shown = self
                    .visible(actor, &user_id, vec![existing], "duplicate_check")
                    .await?;
                return Err(AppError::Conflict(if shown.is_empty() {
                    "a patient with this national identifier is already registered".into()
                } else {
                    format!(
                        "a patient with this national identifier is already registered: {}",
                        shown[0].mrn
                    )
                }));
            }
        }
        let name_index =
            self.name_birth_index(demographics.family_name(), demographics.birth_date());
        if !new.register_anyway {
            let same = self
                .store()
                .patients_by_name_birth_index(&name_index, SEARCH_LIMIT)
                .await?;
            if !same.is_empty() {
                let shown = self
                    .visible(actor, &user_id, same, "duplicate_check")
                    .await?;
                if !shown.is_empty() {
                    return Ok(Registration::PossibleDuplicates(
                        shown
                            .into_iter()
                            .map(|identity| DuplicateCandidate {
                                identity,
                                matched_on: "name_and_birth_date",
                            })
                            .collect(),
                    ));
                }
            }
        }

        let id = new_id();
        let plain = serde_json::to_vec(&demographics).map_err(AppError::internal)?;
        let mut row = PatientRow {
            id: id.clone(),
            mrn: String::new(),
            demographics_sealed: self.secrets().seal(&plain, &demographics_owner(&id)),
            name_birth_index: name_index,
            national_id_sealed: national.as_ref().map(|n| {
                self.secrets()
                    .seal(n.normalized().as_bytes(), &national_owner(&id))
            }),
            national_id_index: national_index,
            created_by: actor.name(),
            created_at: now.as_seconds(),
        };
        let mut inserted = false;
        for _ in 0..8 {
            let number = rand::thread_rng().gen_range(0..OrganizationPatientId::NUMBER_COUNT);
            let Some(mrn) = OrganizationPatientId::from_number(number) else {
                continue;
            };
            row.mrn = mrn.as_str().to_owned();
            match self.store().insert_patient(&row).await {
                Ok(()) => {
                    inserted = true;
                    break;
                }
                Err(StoreError::Conflict(_)) => {
                    if let Some(index) = &row.national_id_index {
                        if self
                            .store()
                            .patient_by_national_index(index)
                            .await?
                            .is_some()
                        {
                            return Err(AppError::Conflict(
                                "a patient with this national identifier is already registered"
                                    .into(),
                            ));
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !inserted {
            return Err(AppError::Internal(
                "no free patient identifier after 8 tries".into(),
            ));
        }
        let reason = AccessReason {
            category: DataCategory::Identification,
            policy,
            via: source_string(&source),
            relation,
        };
        self.audit_patient_access(
            actor,
            &id,
            &[reason],
            AuditAction::PatientRegistered,
            json!({"duplicate_warning_overridden": new.register_anyway}),
        )
        .await?;
        Ok(Registration::Registered(self.identity(&row)?))
    }

    /// A patient row ready to store, sealed and indexed exactly as registration does: for bulk
    /// import from an existing patient index (and the benchmark's synthetic organization).
    /// The caller supplies a free MRN; duplicate checks are the importer's business.
    pub fn prepare_patient_import(
        &self,
        mrn: &OrganizationPatientId,
        demographics: &Demographics,
        national: Option<&NationalIdentifier>,
        created_by: &str,
    ) -> Result<PatientRow, AppError> {
        let id = new_id();
        let plain = serde_json::to_vec(demographics).map_err(AppError::internal)?;
        Ok(PatientRow {
            demographics_sealed: self.secrets().seal(&plain, &demographics_owner(&id)),
            name_birth_index: self
                .name_birth_index(demographics.family_name(), demographics.birth_date()),
            national_id_sealed: national.map(|n| {
                self.secrets()
                    .seal(n.normalized().as_bytes(), &national_owner(&id))
            }),
            national_id_index: national.map(|n| self.national_index(n)),
            id,
            mrn: mrn.as_str().to_owned(),
            created_by: created_by.to_owned(),
            created_at: self.now().as_seconds(),
        })
    }

    /// Look for patients; only those the person may identify are returned, and each returned
    /// patient is an audited read.
    pub async fn search_patients(
        &self,
        actor: &Actor,
        query: PatientQuery,
    ) -> Result<Vec<PatientIdentity>, AppError> {
        let user_id = staff_id(actor, false)?.to_owned();
        let (rows, kind) = match query {
            PatientQuery::Mrn(m) => {
                let mrn = OrganizationPatientId::parse(&m)
                    .map_err(|e| AppError::InvalidInput(e.to_string()))?;
                (
                    self.store()
                        .patient_by_mrn(mrn.as_str())
                        .await?
                        .into_iter()
                        .collect::<Vec<_>>(),
                    "mrn",
                )
            }
            PatientQuery::NationalId { country, value } => {
                let country =
                    Country::parse(&country).map_err(|e| AppError::InvalidInput(e.to_string()))?;
                let n = NationalIdentifier::parse(country, &value)
                    .map_err(|e| AppError::InvalidInput(e.to_string()))?;
                (
                    self.store()
                        .patient_by_national_index(&self.national_index(&n))
                        .await?
                        .into_iter()
                        .collect(),
                    "national_id",
                )
            }
            PatientQuery::NameAndBirthDate {
                family_name,
                birth_date,
                given_names,
            } => {
                if family_name.trim().is_empty()
                    || !sealroom_domain::patient::valid_birth_date(
                        birth_date.trim(),
                        &self.now().date(),
                    )
                {
                    return Err(AppError::InvalidInput(
                        "searching by name needs a family name and a birth date written YYYY-MM-DD"
                            .into(),
                    ));
                }
                let rows = self
                    .store()
                    .patients_by_name_birth_index(
                        &self.name_birth_index(&family_name, &birth_date),
                        SEARCH_LIMIT,
                    )
                    .await?;
                let wanted = given_names
                    .map(|g| sealroom_domain::patient::normalize_name(&g))
                    .filter(|g| !g.is_empty());
                let mut kept = Vec::new();
                for r in rows {
                    let keep = match &wanted {
                        None => true,
                        Some(g) => {
                            let identity = self.identity(&r)?;
                            sealroom_domain::patient::normalize_name(&identity.given_names)
                                .starts_with(g.as_str())
                        }
                    };
                    if keep {
                        kept.push(r);
                    }
                }
                (kept, "name_and_birth_date")
            }
        };
        let found = rows.len();
        let shown = self.visible(actor, &user_id, rows, "search").await?;
        self.audit(
            &actor.name(),
            AuditAction::PatientSearched,
            "patients",
            "success",
            &actor.client,
            json!({"by": kind, "matched": found, "shown": shown.len()}),
        )
        .await?;
        Ok(shown)
    }

    /// Patients admitted now to the departments where I hold an assignment in force.
    pub async fn my_patients(&self, actor: &Actor) -> Result<Vec<MyPatient>, AppError> {
        let user_id = staff_id(actor, false)?.to_owned();
        let now = self.now();
        let assignments: Vec<_> = self
            .store()
            .assignments_of(&user_id)
            .await?
            .into_iter()
            .filter(|a| {
                a.confirmed == 1
                    && a.valid_from <= now.as_seconds()
                    && a.valid_until.is_none_or(|u| now.as_seconds() < u)
            })
            .collect();
        let departments: Vec<String> = assignments
            .iter()
            .map(|a| a.department_id.clone())
            .collect();
        let rows = self
            .store()
            .current_patients(&departments, MY_PATIENTS_LIMIT)
            .await?;
        let engine = self.policy_engine();
        let mut out = Vec::new();
        let mut reads = Vec::new();
        for r in rows {
            // The list is made of current-care relations: decide on exactly those.
            let caps: Vec<Capacity> = assignments
                .iter()
                .filter(|a| a.department_id == r.department_id)
                .map(|a| Capacity {
                    role: a.role.clone(),
                    relation: Relation::CurrentCare,
                    valid_from: Timestamp(a.valid_from),
                    valid_until: a.valid_until.map(Timestamp),
                    granted_categories: Vec::new(),
                    granted_actions: Vec::new(),
                    source: CapacitySource::Assignment(a.id.clone()),
                })
                .collect();
            if let crate::access_policy::AccessDecision::Permit {
                policy,
                relation,
                source,
            } = engine.decide(
                &user_id,
                &r.id,
                &caps,
                DataCategory::Identification,
                AccessAction::Read,
                now,
            ) {
                out.push(MyPatient {
                    identity: self.identity_of(&r.id, &r.mrn, &r.demographics_sealed, None)?,
                    department_id: r.department_id.clone(),
                    admitted_at: r.admitted_at,
                });
                reads.push((
                    r.id.clone(),
                    AccessReason {
                        category: DataCategory::Identification,
                        policy,
                        via: source_string(&source),
                        relation,
                    },
                ));
            }
        }
        self.audit_patients_listed(actor, &reads, "my_patients")
            .await?;
        Ok(out)
    }

    /// The patient's identity, and episodes when administrative data is permitted.
    pub async fn patient(&self, actor: &Actor, patient_id: &str) -> Result<PatientView, AppError> {
        let user_id = staff_id(actor, false)?.to_owned();
        let p = self.existing_patient(patient_id).await?;
        let all = self
            .decide_patient_access(&user_id, patient_id, &DataCategory::ALL, AccessAction::Read)
            .await?;
        let shown: Vec<AccessReason> = all
            .permitted
            .iter()
            .filter(|r| {
                matches!(
                    r.category,
                    DataCategory::Identification | DataCategory::Administrative
                )
            })
            .cloned()
            .collect();
        if !all.allows(DataCategory::Identification) {
            self.audit_patient_refusal(
                actor,
                &p.id,
                &[DataCategory::Identification],
                AccessAction::Read,
            )
            .await?;
            return Err(AppError::NotFound);
        }
        let episodes = if all.allows(DataCategory::Administrative) {
            Some(
                self.store()
                    .episodes_of(&p.id)
                    .await?
                    .into_iter()
                    .map(Episode::from)
                    .collect(),
            )
        } else {
            None
        };
        self.audit_patient_access(
            actor,
            &p.id,
            &shown,
            AuditAction::PatientRead,
            json!({"view": "patient"}),
        )
        .await?;
        Ok(PatientView {
            identity: self.identity(&p)?,
            episodes,
            readable_categories: all.categories(),
        })
    }

    async fn existing_patient(&self, patient_id: &str) -> Result<PatientRow, AppError> {
        self.store()
            .patient(patient_id)
            .await?
            .ok_or(AppError::NotFound)
    }

    async fn care_department(&self, department_id: &str) -> Result<String, AppError> {
        let d = self
            .store()
            .department(department_id)
            .await?
            .ok_or_else(|| AppError::InvalidInput("there is no such department".into()))?;
        if d.kind != "care" {
            return Err(AppError::InvalidInput(
                "patients are admitted to care departments only".into(),
            ));
        }
        Ok(d.id)
    }

    /// Admit the patient to a care department.
    pub async fn admit_patient(
        &self,
        actor: &Actor,
        patient_id: &str,
        department_id: &str,
    ) -> Result<Episode, AppError> {
        let department = self.care_department(department_id).await?;
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::PatientAdmitted,
            json!({"department": department}),
        )
        .await?;
        let p = self.existing_patient(patient_id).await?;
        let row = EpisodeRow {
            id: new_id(),
            patient_id: p.id,
            department_id: department,
            admitted_at: self.now().as_seconds(),
            admitted_by: actor.name(),
            ended_at: None,
            end_reason: None,
            ended_by: None,
        };
        self.store()
            .insert_episode(&row)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AppError::Conflict(
                    "the patient is already admitted; transfer or discharge them first".into(),
                ),
                other => other.into(),
            })?;
        Ok(row.into())
    }

    /// Transfer the patient to another care department: the old episode ends, a new one opens.
    pub async fn transfer_patient(
        &self,
        actor: &Actor,
        patient_id: &str,
        department_id: &str,
    ) -> Result<Episode, AppError> {
        let department = self.care_department(department_id).await?;
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::PatientTransferred,
            json!({"department": department}),
        )
        .await?;
        let p = self.existing_patient(patient_id).await?;
        let row = EpisodeRow {
            id: new_id(),
            patient_id: p.id.clone(),
            department_id: department,
            admitted_at: self.now().as_seconds(),
            admitted_by: actor.name(),
            ended_at: None,
            end_reason: None,
            ended_by: None,
        };
        if self
            .store()
            .episodes_of(&p.id)
            .await?
            .iter()
            .any(|e| e.ended_at.is_none() && e.department_id == row.department_id)
        {
            return Err(AppError::Conflict(
                "the patient is already in this department".into(),
            ));
        }
        if !self.store().transfer_episode(&p.id, &row).await? {
            return Err(AppError::Conflict(
                "the patient is not admitted; admit them first".into(),
            ));
        }
        Ok(row.into())
    }

    /// Discharge the patient from their current department.
    pub async fn discharge_patient(&self, actor: &Actor, patient_id: &str) -> Result<(), AppError> {
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::PatientDischarged,
            json!({}),
        )
        .await?;
        let now = self.now().as_seconds();
        if !self
            .store()
            .discharge_episode(patient_id, now, &actor.name())
            .await?
        {
            return Err(AppError::Conflict("the patient is not admitted".into()));
        }
        Ok(())
    }

    /// Order a test for the patient from a laboratory (a clinician, or a laboratory adding a
    /// test): decided as a write of results.
    pub async fn order_test(
        &self,
        actor: &Actor,
        patient_id: &str,
        laboratory_id: &str,
    ) -> Result<Test, AppError> {
        self.add_test(
            actor,
            patient_id,
            laboratory_id,
            DataCategory::Results,
            "ordered",
        )
        .await
    }

    /// Register at the desk a test the patient came for with a request form (reception, for a
    /// laboratory that sees patients walk in): decided as an administrative write, which
    /// reception holds and a laboratory does not. Like an order, the test gives the laboratory
    /// its assigned-test relation to the patient, and the audit event says who registered it.
    pub async fn register_test(
        &self,
        actor: &Actor,
        patient_id: &str,
        laboratory_id: &str,
    ) -> Result<Test, AppError> {
        self.add_test(
            actor,
            patient_id,
            laboratory_id,
            DataCategory::Administrative,
            "registered",
        )
        .await
    }

    async fn add_test(
        &self,
        actor: &Actor,
        patient_id: &str,
        laboratory_id: &str,
        decided_as: DataCategory,
        how: &str,
    ) -> Result<Test, AppError> {
        let lab = self
            .store()
            .department(laboratory_id)
            .await?
            .filter(|d| d.kind == "laboratory")
            .ok_or_else(|| AppError::InvalidInput("there is no such laboratory".into()))?;
        let id = new_id();
        self.require_patient_access(
            actor,
            patient_id,
            decided_as,
            AccessAction::Write,
            AuditAction::TestOrdered,
            json!({"test": id, "laboratory": lab.id, "how": how}),
        )
        .await?;
        let row = TestRow {
            id,
            patient_id: patient_id.to_owned(),
            laboratory_department_id: lab.id,
            ordered_by: actor.name(),
            created_at: self.now().as_seconds(),
            closed_at: None,
        };
        self.store().insert_test(&row).await?;
        Ok(Test {
            id: row.id,
            patient_id: row.patient_id,
            laboratory_department_id: row.laboratory_department_id,
            created_at: row.created_at,
            closed_at: None,
        })
    }

    /// Add a record (a note, a result) of one category.
    pub async fn add_record(
        &self,
        actor: &Actor,
        patient_id: &str,
        category: DataCategory,
        text: &str,
    ) -> Result<PatientRecord, AppError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_RECORD_CHARS {
            return Err(AppError::InvalidInput(format!(
                "the record text must be 1 to {MAX_RECORD_CHARS} characters"
            )));
        }
        let id = new_id();
        self.require_patient_access(
            actor,
            patient_id,
            category,
            AccessAction::Write,
            AuditAction::PatientWritten,
            json!({"record": id}),
        )
        .await?;
        let author = staff_id(actor, true)?.to_owned();
        let row = RecordRow {
            id: id.clone(),
            patient_id: patient_id.to_owned(),
            category: category.as_str().to_owned(),
            author_id: author,
            created_at: self.now().as_seconds(),
            body_sealed: self
                .secrets()
                .seal(text.as_bytes(), &format!("record:{id}")),
        };
        self.store().insert_record(&row).await?;
        Ok(PatientRecord {
            id,
            category,
            author_id: row.author_id,
            created_at: row.created_at,
            text: text.to_owned(),
        })
    }

    /// Records in the asked categories (all but identification when none are asked) that the
    /// reader may see; the rest are named as withheld. Asking for exactly one category that is
    /// not permitted is refused.
    pub async fn records(
        &self,
        actor: &Actor,
        patient_id: &str,
        categories: &[DataCategory],
    ) -> Result<RecordsView, AppError> {
        let asked = crate::patient_access::asked_or_clinical(categories);
        let permitted: Vec<DataCategory> = if asked.len() == 1 {
            self.require_patient_access(
                actor,
                patient_id,
                asked[0],
                AccessAction::Read,
                AuditAction::PatientRead,
                json!({"view": "records"}),
            )
            .await?;
            asked.clone()
        } else {
            self.open_patient(
                actor,
                patient_id,
                &asked,
                AccessAction::Read,
                AuditAction::PatientRead,
                json!({"view": "records"}),
            )
            .await?
            .categories()
        };
        let names: Vec<String> = permitted.iter().map(|c| c.as_str().to_owned()).collect();
        let mut records = Vec::new();
        for r in self.store().records_of(patient_id, &names).await? {
            let text = self
                .secrets()
                .open(&r.body_sealed, &format!("record:{}", r.id))
                .map_err(AppError::internal)?;
            records.push(PatientRecord {
                category: DataCategory::parse(&r.category).map_err(AppError::internal)?,
                id: r.id,
                author_id: r.author_id,
                created_at: r.created_at,
                text: String::from_utf8(text).map_err(AppError::internal)?,
            });
        }
        Ok(RecordsView {
            records,
            withheld_categories: asked
                .into_iter()
                .filter(|c| !permitted.contains(c))
                .collect(),
        })
    }
}

fn source_string(source: &CapacitySource) -> String {
    source.to_string()
}
