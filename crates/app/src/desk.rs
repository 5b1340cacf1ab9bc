//! What the reception desk and the contact centre see of a patient: identity, stays, tests
//! with their printed references, and contact details (masked) — never a result, a message or
//! a credential. One administrative read, decided by the policy and audited.

use crate::accounts::Actor;
use crate::patient_contacts::{masked, ContactView};
use crate::patients::PatientView;
use crate::{App, AppError};
use serde::Serialize;

/// A test as the desk sees it: which laboratory, and its printed reference once a slip was
/// issued.
#[derive(Debug, Clone, Serialize)]
pub struct DeskTest {
    pub id: String,
    pub laboratory: String,
    pub reference: Option<String>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

/// A stay as the desk sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeskStay {
    pub id: String,
    pub department: String,
    pub admitted_at: i64,
    pub ended_at: Option<i64>,
}

/// The desk's page about one patient.
#[derive(Debug, Clone, Serialize)]
pub struct DeskView {
    pub patient: PatientView,
    pub stays: Vec<DeskStay>,
    pub tests: Vec<DeskTest>,
    pub contacts: Vec<ContactView>,
}

impl App {
    /// The desk's view of a patient (administrative data only).
    pub async fn desk_view(&self, actor: &Actor, patient_id: &str) -> Result<DeskView, AppError> {
        // The patient read is decided and audited there; without administrative data (stays
        // come back only with it) the desk has nothing to show.
        let patient = self.patient(actor, patient_id).await?;
        if patient.episodes.is_none() {
            return Err(AppError::Forbidden);
        }
        let store = self.store();
        let names: std::collections::HashMap<String, String> = store
            .list_departments()
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        let name = |id: &str| names.get(id).cloned().unwrap_or_default();
        let stays = store
            .episodes_of(patient_id)
            .await?
            .into_iter()
            .map(|e| DeskStay {
                department: name(&e.department_id),
                id: e.id,
                admitted_at: e.admitted_at,
                ended_at: e.ended_at,
            })
            .collect();
        let mut tests = Vec::new();
        for t in store.tests_of(patient_id).await? {
            tests.push(DeskTest {
                reference: store.test_reference(&t.id).await?,
                laboratory: name(&t.laboratory_department_id),
                id: t.id,
                created_at: t.created_at,
                closed_at: t.closed_at,
            });
        }
        let mut contacts = Vec::new();
        for c in store.contacts_of(patient_id).await? {
            contacts.push(ContactView {
                address: masked(&self.contact_address(&c)?),
                verified: c.verified_at.is_some(),
                id: c.id,
                kind: c.kind,
            });
        }
        Ok(DeskView {
            patient,
            stays,
            tests,
            contacts,
        })
    }
}
