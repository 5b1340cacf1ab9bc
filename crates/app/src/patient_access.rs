//! The one door to patient data. Every use case that reads or writes a patient's data calls
//! [`App::decide_patient_access`] (through the helpers below): it loads the facts (the
//! person's assignments, the patient's episodes and tests, grants, break-glass openings),
//! derives the capacities in force now, asks the Cedar policy for each category, and writes an
//! audit event naming, for every category, the policy and the assignment, grant or
//! break-glass opening that permitted it. Refusals are audited too.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use sealroom_domain::access::{
    capacities, AccessFacts, AssignmentFact, BreakGlassFact, EpisodeFact, GrantFact, TestFact,
};
use sealroom_domain::{AccessAction, AuditAction, DataCategory, Relation, Timestamp};
use sealroom_store::{AssignmentRow, NewAuditEvent};

use crate::access_policy::AccessDecision;
use crate::accounts::Actor;
use crate::policy::{authorize, Action, Principal};
use crate::{App, AppError};

/// Why one category was permitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessReason {
    pub category: DataCategory,
    /// The `@id` of the Cedar policy that permitted it.
    pub policy: String,
    /// `assignment:<id>`, `grant:<id>` or `break_glass:<id>`.
    pub via: String,
    /// The relation to the patient the capacity stood in (decides the purpose of use).
    pub relation: Relation,
}

/// The categories a view asks for: those given, or every one but identification.
pub(crate) fn asked_or_clinical(categories: &[DataCategory]) -> Vec<DataCategory> {
    if categories.is_empty() {
        DataCategory::ALL
            .into_iter()
            .filter(|c| *c != DataCategory::Identification)
            .collect()
    } else {
        categories.to_vec()
    }
}

/// What the decision point answered for a set of categories.
#[derive(Debug, Clone, Default)]
pub struct AccessOutcome {
    pub permitted: Vec<AccessReason>,
    pub denied: Vec<DataCategory>,
}

impl AccessOutcome {
    pub fn categories(&self) -> Vec<DataCategory> {
        self.permitted.iter().map(|r| r.category).collect()
    }
    pub fn allows(&self, category: DataCategory) -> bool {
        self.permitted.iter().any(|r| r.category == category)
    }
}

/// HL7 v3 PurposeOfUse, from the relations that permitted the access (never from policy
/// names, which administrators choose): emergency treatment for break-glass, treatment for a
/// care relationship, healthcare operations otherwise (registration, laboratory work, grants,
/// whose own purpose is recorded with them).
pub fn purpose_of(reasons: &[AccessReason]) -> &'static str {
    if reasons.iter().any(|r| r.relation == Relation::BreakGlass) {
        "ETREAT"
    } else if reasons
        .iter()
        .any(|r| matches!(r.relation, Relation::CurrentCare | Relation::PreviousCare))
    {
        "TREAT"
    } else {
        "HOPERAT"
    }
}

pub(crate) fn assignment_fact(a: &AssignmentRow) -> AssignmentFact {
    AssignmentFact {
        id: a.id.clone(),
        department_id: a.department_id.clone(),
        role: a.role.clone(),
        valid_from: Timestamp(a.valid_from),
        valid_until: a.valid_until.map(Timestamp),
        confirmed: a.confirmed == 1,
    }
}

fn split_list<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .filter_map(parse)
        .collect()
}

pub(crate) fn parse_action(s: &str) -> Option<AccessAction> {
    match s {
        "read" => Some(AccessAction::Read),
        "write" => Some(AccessAction::Write),
        _ => None,
    }
}

/// The staff member behind an actor, or `Forbidden` for anyone else (integrations and the
/// command line never reach patient data), checking the token scope for the action.
pub(crate) fn staff_id(actor: &Actor, write: bool) -> Result<&str, AppError> {
    authorize(&actor.principal, Action::UsePatientData { write })?;
    match &actor.principal {
        Principal::Staff { user_id, .. } => Ok(user_id),
        _ => Err(AppError::Forbidden),
    }
}

impl App {
    /// Load everything that bears on `user_id`'s access to `patient_id`.
    pub async fn access_facts(
        &self,
        user_id: &str,
        patient_id: &str,
    ) -> Result<AccessFacts, AppError> {
        let store = self.store();
        let assignments = store.assignments_of(user_id).await?;
        let now = self.now().as_seconds();
        let departments: Vec<&str> = assignments
            .iter()
            .filter(|a| {
                a.confirmed == 1 && a.valid_from <= now && a.valid_until.is_none_or(|u| now < u)
            })
            .map(|a| a.department_id.as_str())
            .collect();
        let episodes = store.episodes_of(patient_id).await?;
        let tests = store.tests_of(patient_id).await?;
        let grants = store.grants_on(patient_id).await?;
        let openings = store.break_glass_of(user_id, patient_id).await?;
        Ok(AccessFacts {
            assignments: assignments.iter().map(assignment_fact).collect(),
            episodes: episodes
                .into_iter()
                .map(|e| EpisodeFact {
                    department_id: e.department_id,
                    admitted_at: Timestamp(e.admitted_at),
                    ended_at: e.ended_at.map(Timestamp),
                })
                .collect(),
            tests: tests
                .into_iter()
                .map(|t| TestFact {
                    laboratory_department_id: t.laboratory_department_id,
                    created_at: Timestamp(t.created_at),
                    closed_at: t.closed_at.map(Timestamp),
                })
                .collect(),
            grants: grants
                .into_iter()
                .filter(|g| {
                    g.grantee_user_id.as_deref() == Some(user_id)
                        || g.grantee_department_id
                            .as_deref()
                            .is_some_and(|d| departments.contains(&d))
                })
                .map(|g| GrantFact {
                    id: g.id,
                    categories: split_list(&g.categories, |c| DataCategory::parse(c).ok()),
                    actions: split_list(&g.actions, parse_action),
                    valid_from: Timestamp(g.valid_from),
                    valid_until: Timestamp(g.valid_until),
                    revoked: g.revoked_at.is_some(),
                })
                .collect(),
            break_glass: openings
                .into_iter()
                .map(|b| BreakGlassFact {
                    id: b.id,
                    opened_at: Timestamp(b.opened_at),
                    expires_at: Timestamp(b.expires_at),
                })
                .collect(),
        })
    }

    /// Decide, without side effects, which of `categories` the person may `action` on the
    /// patient now.
    pub async fn decide_patient_access(
        &self,
        user_id: &str,
        patient_id: &str,
        categories: &[DataCategory],
        action: AccessAction,
    ) -> Result<AccessOutcome, AppError> {
        self.refresh_access_policy().await?;
        let facts = self.access_facts(user_id, patient_id).await?;
        let now = self.now();
        let caps = capacities(&facts, now, self.settings().access.previous_care_window);
        let engine = self.policy_engine();
        let mut outcome = AccessOutcome::default();
        for &category in categories {
            match engine.decide(user_id, patient_id, &caps, category, action, now) {
                AccessDecision::Permit {
                    policy,
                    relation,
                    source,
                } => outcome.permitted.push(AccessReason {
                    category,
                    policy,
                    via: source.to_string(),
                    relation,
                }),
                AccessDecision::Deny { .. } => outcome.denied.push(category),
            }
        }
        Ok(outcome)
    }

    /// Decide and audit: returns the permitted part (at least one category), or `NotFound` when
    /// nothing at all is permitted (the patient's existence is not revealed), after writing a
    /// refusal event. `audit_action` names what was done with the permitted categories.
    pub(crate) async fn open_patient(
        &self,
        actor: &Actor,
        patient_id: &str,
        categories: &[DataCategory],
        action: AccessAction,
        audit_action: AuditAction,
        details: serde_json::Value,
    ) -> Result<AccessOutcome, AppError> {
        let user_id = staff_id(actor, action == AccessAction::Write)?;
        if self.store().patient(patient_id).await?.is_none() {
            return Err(AppError::NotFound);
        }
        let outcome = self
            .decide_patient_access(user_id, patient_id, categories, action)
            .await?;
        if outcome.permitted.is_empty() {
            self.audit_patient_refusal(actor, patient_id, categories, action)
                .await?;
            return Err(AppError::NotFound);
        }
        self.audit_patient_access(actor, patient_id, &outcome.permitted, audit_action, details)
            .await?;
        Ok(outcome)
    }

    /// Like [`App::open_patient`] for one category that must be permitted: a person who may at
    /// least identify the patient gets `Forbidden`, anyone else `NotFound`.
    pub(crate) async fn require_patient_access(
        &self,
        actor: &Actor,
        patient_id: &str,
        category: DataCategory,
        action: AccessAction,
        audit_action: AuditAction,
        details: serde_json::Value,
    ) -> Result<AccessReason, AppError> {
        let user_id = staff_id(actor, action == AccessAction::Write)?;
        if self.store().patient(patient_id).await?.is_none() {
            return Err(AppError::NotFound);
        }
        let outcome = self
            .decide_patient_access(user_id, patient_id, &[category], action)
            .await?;
        let Some(reason) = outcome.permitted.into_iter().next() else {
            self.audit_patient_refusal(actor, patient_id, &[category], action)
                .await?;
            let identifies = self
                .decide_patient_access(
                    user_id,
                    patient_id,
                    &[DataCategory::Identification],
                    AccessAction::Read,
                )
                .await?;
            return Err(if identifies.permitted.is_empty() {
                AppError::NotFound
            } else {
                AppError::Forbidden
            });
        };
        self.audit_patient_access(
            actor,
            patient_id,
            std::slice::from_ref(&reason),
            audit_action,
            details,
        )
        .await?;
        Ok(reason)
    }

    pub(crate) async fn audit_patient_access(
        &self,
        actor: &Actor,
        patient_id: &str,
        reasons: &[AccessReason],
        action: AuditAction,
        mut details: serde_json::Value,
    ) -> Result<(), AppError> {
        let event = patient_event(reasons, &mut details);
        self.audit(
            &actor.name(),
            action,
            &format!("patient:{patient_id}"),
            "granted",
            &actor.client,
            event,
        )
        .await
    }
}

/// The details of a patient-data event: categories, purpose of use, and for each group of
/// categories the policy and capacity that permitted it; `details` are merged in.
fn patient_event(reasons: &[AccessReason], details: &mut serde_json::Value) -> serde_json::Value {
    {
        // Group "category → (policy, via)" so the event stays small.
        let mut by_reason: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
        for r in reasons {
            by_reason
                .entry((r.policy.clone(), r.via.clone()))
                .or_default()
                .push(r.category.as_str());
        }
        let grouped: Vec<serde_json::Value> = by_reason
            .into_iter()
            .map(|((policy, via), cats)| json!({"policy": policy, "via": via, "categories": cats}))
            .collect();
        let categories: Vec<&str> = reasons.iter().map(|r| r.category.as_str()).collect();
        let mut event = json!({
            "categories": categories,
            "purpose": purpose_of(reasons),
            "reasons": grouped,
        });
        if let (Some(e), Some(d)) = (event.as_object_mut(), details.as_object_mut()) {
            e.append(d);
        }
        event
    }
}

impl App {
    /// Audit many patients read in one go (a list or search), in one transaction.
    pub(crate) async fn audit_patients_listed(
        &self,
        actor: &Actor,
        reads: &[(String, AccessReason)],
        context: &str,
    ) -> Result<(), AppError> {
        let at = self.now().as_seconds();
        let events: Vec<NewAuditEvent> = reads
            .iter()
            .map(|(patient_id, reason)| {
                let mut details = json!({"listed_in": context});
                NewAuditEvent {
                    at,
                    actor: actor.name(),
                    action: AuditAction::PatientRead.as_str().to_owned(),
                    subject: format!("patient:{patient_id}"),
                    outcome: "granted".to_owned(),
                    client_address: actor.client.address.clone(),
                    details: patient_event(std::slice::from_ref(reason), &mut details).to_string(),
                }
            })
            .collect();
        self.audit_batch(&events).await
    }

    pub(crate) async fn audit_patient_refusal(
        &self,
        actor: &Actor,
        patient_id: &str,
        categories: &[DataCategory],
        action: AccessAction,
    ) -> Result<(), AppError> {
        let cats: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        self.audit(
            &actor.name(),
            AuditAction::PatientAccessDenied,
            &format!("patient:{patient_id}"),
            "denied",
            &actor.client,
            json!({"categories": cats, "action": action.as_str()}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(policy: &str, relation: Relation) -> AccessReason {
        AccessReason {
            category: DataCategory::Results,
            policy: policy.into(),
            via: "assignment:a1".into(),
            relation,
        }
    }

    #[test]
    fn the_purpose_of_use_follows_the_relation_not_the_policy_name() {
        assert_eq!(
            purpose_of(&[reason("ward-access", Relation::CurrentCare)]),
            "TREAT"
        );
        assert_eq!(
            purpose_of(&[reason("aftercare", Relation::PreviousCare)]),
            "TREAT"
        );
        assert_eq!(
            purpose_of(&[reason("daycare-desk", Relation::Organization)]),
            "HOPERAT"
        );
        assert_eq!(
            purpose_of(&[reason("one-off-grant", Relation::Grant)]),
            "HOPERAT"
        );
        assert_eq!(
            purpose_of(&[reason("lab", Relation::AssignedTest)]),
            "HOPERAT"
        );
        assert_eq!(
            purpose_of(&[
                reason("care", Relation::CurrentCare),
                reason("emergency", Relation::BreakGlass)
            ]),
            "ETREAT"
        );
    }
}
