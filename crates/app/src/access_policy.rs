//! The policy decision point for patient data: Cedar policies checked against a schema.
//!
//! The schema and the default policy set live in `crates/app/policy/`. A policy set is only
//! accepted if it validates strictly against the schema and every policy carries a unique
//! `@id` annotation, because that id is the reason written into the audit log. Decisions fail
//! closed: a policy that errors while evaluating makes the whole capacity denied, so a broken
//! `forbid` can never turn into a permit.

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use sealroom_domain::{AccessAction, Capacity, CapacitySource, DataCategory, Relation, Timestamp};

/// The schema every policy set must fit.
pub const SCHEMA: &str = include_str!("../policy/sealroom.cedarschema");
/// The policy set a new installation starts with.
pub const DEFAULT_POLICY: &str = include_str!("../policy/default.cedar");

/// Why a policy set was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("the policy schema does not parse: {0}")]
    Schema(String),
    #[error("the policy set does not parse: {0}")]
    Syntax(String),
    #[error("the policy set does not fit the schema: {0}")]
    Invalid(String),
    #[error("every policy needs a unique @id(\"…\") annotation; {0}")]
    MissingId(String),
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    /// Permitted: by which policy, through which capacity (its relation and source).
    Permit {
        policy: String,
        relation: Relation,
        source: CapacitySource,
    },
    /// Denied. `forbidden_by` names the explicit prohibitions that matched, if any (empty when
    /// nothing permitted: deny by default).
    Deny { forbidden_by: Vec<String> },
}

impl AccessDecision {
    pub fn is_permit(&self) -> bool {
        matches!(self, AccessDecision::Permit { .. })
    }
}

/// A validated policy set, ready to decide.
pub struct PolicyEngine {
    policies: PolicySet,
    authorizer: Authorizer,
    /// Cedar's internal policy ids → our `@id` annotations.
    names: HashMap<PolicyId, String>,
    staff_type: EntityTypeName,
    account_type: EntityTypeName,
    outside_type: EntityTypeName,
    patient_type: EntityTypeName,
    read: EntityUid,
    write: EntityUid,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("policies", &self.names.len())
            .finish()
    }
}

impl PolicyEngine {
    /// The built-in default policy set.
    pub fn default_policy() -> Result<PolicyEngine, PolicyError> {
        PolicyEngine::from_text(DEFAULT_POLICY)
    }

    /// Parse, validate against the schema (strict mode) and index a policy set.
    pub fn from_text(text: &str) -> Result<PolicyEngine, PolicyError> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|e| PolicyError::Schema(e.to_string()))?;
        let policies = PolicySet::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let validation = Validator::new(schema).validate(&policies, ValidationMode::Strict);
        if !validation.validation_passed() {
            let problems: Vec<String> = validation
                .validation_errors()
                .map(|e| e.to_string())
                .collect();
            return Err(PolicyError::Invalid(problems.join("; ")));
        }
        let mut names = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for p in policies.policies() {
            let Some(id) = p.annotation("id") else {
                return Err(PolicyError::MissingId(format!(
                    "a policy without one begins: {}",
                    p.to_string().chars().take(80).collect::<String>()
                )));
            };
            if !seen.insert(id.to_owned()) {
                return Err(PolicyError::MissingId(format!("'{id}' is used twice")));
            }
            names.insert(p.id().clone(), id.to_owned());
        }
        let type_name =
            |s: &str| EntityTypeName::from_str(s).map_err(|e| PolicyError::Schema(e.to_string()));
        let action_type = type_name("Sealroom::Action")?;
        Ok(PolicyEngine {
            policies,
            authorizer: Authorizer::new(),
            names,
            staff_type: type_name("Sealroom::Staff")?,
            account_type: type_name("Sealroom::PatientAccount")?,
            outside_type: type_name("Sealroom::OutsideRecipient")?,
            patient_type: type_name("Sealroom::Patient")?,
            read: EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new("read")),
            write: EntityUid::from_type_name_and_id(action_type, EntityId::new("write")),
        })
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Decide whether `staff` may do `action` on `category` of `patient`, standing in any of
    /// `capacities` at `now`. Capacities are tried strongest relation first
    /// ([`sealroom_domain::Relation::precedence`]); the first one permitted is the reason.
    pub fn decide(
        &self,
        staff: &str,
        patient: &str,
        capacities: &[Capacity],
        category: DataCategory,
        action: AccessAction,
        now: Timestamp,
    ) -> AccessDecision {
        let principal =
            EntityUid::from_type_name_and_id(self.staff_type.clone(), EntityId::new(staff));
        self.decide_for(principal, patient, capacities, category, action, now)
    }

    /// Decide for a patient space account (the patient's own or a proxy's), standing in
    /// `capacity` towards `patient`.
    pub fn decide_for_account(
        &self,
        account: &str,
        patient: &str,
        capacity: &Capacity,
        category: DataCategory,
        action: AccessAction,
        now: Timestamp,
    ) -> AccessDecision {
        let principal =
            EntityUid::from_type_name_and_id(self.account_type.clone(), EntityId::new(account));
        self.decide_for(
            principal,
            patient,
            std::slice::from_ref(capacity),
            category,
            action,
            now,
        )
    }

    /// Decide for an outside recipient standing in `capacity` (addressee of a thread) towards
    /// `patient`.
    pub fn decide_for_outside(
        &self,
        recipient: &str,
        patient: &str,
        capacity: &Capacity,
        category: DataCategory,
        action: AccessAction,
        now: Timestamp,
    ) -> AccessDecision {
        let principal =
            EntityUid::from_type_name_and_id(self.outside_type.clone(), EntityId::new(recipient));
        self.decide_for(
            principal,
            patient,
            std::slice::from_ref(capacity),
            category,
            action,
            now,
        )
    }

    fn decide_for(
        &self,
        principal: EntityUid,
        patient: &str,
        capacities: &[Capacity],
        category: DataCategory,
        action: AccessAction,
        now: Timestamp,
    ) -> AccessDecision {
        let resource =
            EntityUid::from_type_name_and_id(self.patient_type.clone(), EntityId::new(patient));
        let action_uid = match action {
            AccessAction::Read => &self.read,
            AccessAction::Write => &self.write,
        };
        let mut forbidden_by = Vec::new();
        let mut ordered: Vec<&Capacity> = capacities.iter().collect();
        ordered.sort_by_key(|c| c.relation.precedence());
        for capacity in ordered {
            let Some(context) = context_of(capacity, category, now) else {
                continue;
            };
            let Ok(request) = Request::new(
                principal.clone(),
                action_uid.clone(),
                resource.clone(),
                context,
                None,
            ) else {
                continue;
            };
            let response =
                self.authorizer
                    .is_authorized(&request, &self.policies, &Entities::empty());
            let diagnostics = response.diagnostics();
            // Fail closed: an evaluation error anywhere voids this capacity.
            if diagnostics.errors().next().is_some() {
                continue;
            }
            let reasons: Vec<String> = diagnostics
                .reason()
                .map(|id| {
                    self.names
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| id.to_string())
                })
                .collect();
            match response.decision() {
                Decision::Allow => {
                    return AccessDecision::Permit {
                        policy: reasons.into_iter().next().unwrap_or_default(),
                        relation: capacity.relation,
                        source: capacity.source.clone(),
                    }
                }
                Decision::Deny => {
                    for r in reasons {
                        if !forbidden_by.contains(&r) {
                            forbidden_by.push(r);
                        }
                    }
                }
            }
        }
        AccessDecision::Deny { forbidden_by }
    }
}

fn context_of(capacity: &Capacity, category: DataCategory, now: Timestamp) -> Option<Context> {
    let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
    let set = |items: Vec<&str>| RestrictedExpression::new_set(items.into_iter().map(s));
    Context::from_pairs([
        ("role".to_owned(), s(&capacity.role)),
        ("relation".to_owned(), s(capacity.relation.as_str())),
        ("category".to_owned(), s(category.as_str())),
        (
            "sensitive".to_owned(),
            RestrictedExpression::new_bool(category.is_sensitive()),
        ),
        (
            "now".to_owned(),
            RestrictedExpression::new_long(now.as_seconds()),
        ),
        (
            "valid_from".to_owned(),
            RestrictedExpression::new_long(capacity.valid_from.as_seconds()),
        ),
        (
            "valid_until".to_owned(),
            RestrictedExpression::new_long(
                capacity.valid_until.map_or(i64::MAX, Timestamp::as_seconds),
            ),
        ),
        (
            "granted_categories".to_owned(),
            set(capacity
                .granted_categories
                .iter()
                .map(|c| c.as_str())
                .collect()),
        ),
        (
            "granted_actions".to_owned(),
            set(capacity
                .granted_actions
                .iter()
                .map(|a| a.as_str())
                .collect()),
        ),
    ])
    .ok()
}

#[cfg(test)]
#[path = "access_policy_tests.rs"]
mod tests;
