//! Versions of the access policy: proposed by an administrator, validated against the schema
//! at once, and put in force only when a second, different person (another administrator or
//! the security officer) approves. Every version is kept.
//!
//! The version in force is held in memory and re-read from the database at most once a second,
//! so every server instance sharing the database follows an approval within a second.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant};

use serde::Serialize;
use serde_json::json;

use sealroom_domain::{AuditAction, Role};
use sealroom_store::PolicyVersionRow;

use crate::access_policy::{PolicyEngine, DEFAULT_POLICY};
use crate::accounts::Actor;
use crate::policy::{authorize, Action, Principal};
use crate::{App, AppError};

/// The policy in force and when the database was last asked about it.
pub(crate) struct PolicyHolder {
    current: RwLock<(i64, Arc<PolicyEngine>)>,
    checked: Mutex<Instant>,
}

const RECHECK: StdDuration = StdDuration::from_secs(1);

impl PolicyHolder {
    pub(crate) fn new(engine: PolicyEngine) -> PolicyHolder {
        PolicyHolder {
            current: RwLock::new((0, Arc::new(engine))),
            checked: Mutex::new(Instant::now()),
        }
    }

    pub(crate) fn engine(&self) -> Arc<PolicyEngine> {
        match self.current.read() {
            Ok(c) => c.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    fn version(&self) -> i64 {
        match self.current.read() {
            Ok(c) => c.0,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    fn replace(&self, version: i64, engine: PolicyEngine) {
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = (version, Arc::new(engine));
    }

    /// Whether it is time to ask the database again (at most once per second).
    fn due(&self) -> bool {
        let mut last = match self.checked.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if last.elapsed() >= RECHECK {
            *last = Instant::now();
            true
        } else {
            false
        }
    }
}

/// A policy version as listed.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    /// proposed, active, superseded or rejected.
    pub state: String,
    pub summary: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub policy_text: String,
}

impl From<PolicyVersionRow> for PolicyVersion {
    fn from(r: PolicyVersionRow) -> Self {
        PolicyVersion {
            version: r.version,
            state: r.state,
            summary: r.summary,
            proposed_by: r.proposed_by,
            proposed_at: r.proposed_at,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            policy_text: r.policy_text,
        }
    }
}

const MAX_POLICY_BYTES: usize = 256 * 1024;

impl App {
    /// At start-up: record the built-in default as version 1 on a new database, then load the
    /// version in force. A stored version that no longer validates stops the start.
    pub async fn load_access_policy(&self) -> Result<(), AppError> {
        let active = match self.store().active_policy().await? {
            Some(a) => a,
            None => {
                self.store()
                    .insert_policy_version(
                        DEFAULT_POLICY,
                        "active",
                        "Built-in default policy",
                        "sealroom",
                        self.now().as_seconds(),
                    )
                    .await?;
                self.store()
                    .active_policy()
                    .await?
                    .ok_or_else(|| AppError::Internal("the default policy was not stored".into()))?
            }
        };
        let engine = PolicyEngine::from_text(&active.policy_text).map_err(|e| {
            AppError::Config(format!(
                "access policy version {} is not valid: {e}",
                active.version
            ))
        })?;
        self.policy_holder().replace(active.version, engine);
        Ok(())
    }

    /// Follow approvals made by other instances (at most one database read per second).
    pub(crate) async fn refresh_access_policy(&self) -> Result<(), AppError> {
        let holder = self.policy_holder();
        if !holder.due() {
            return Ok(());
        }
        let Some(version) = self.store().active_policy_version().await? else {
            return Ok(());
        };
        if version != holder.version() {
            if let Some(row) = self.store().policy_version(version).await? {
                match PolicyEngine::from_text(&row.policy_text) {
                    Ok(engine) => holder.replace(version, engine),
                    // Keep deciding with the last valid policy; the operator sees the error.
                    Err(e) => {
                        tracing::error!(version, error = %e, "stored access policy does not validate; keeping the previous one")
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn policy_versions(&self, actor: &Actor) -> Result<Vec<PolicyVersion>, AppError> {
        authorize(&actor.principal, Action::ReadAudit)?;
        Ok(self
            .store()
            .list_policy_versions()
            .await?
            .into_iter()
            .map(PolicyVersion::from)
            .collect())
    }

    /// Propose a new policy set. It is validated now (a proposal that does not fit the schema
    /// is refused with the validator's message) and does nothing until approved.
    pub async fn propose_policy(
        &self,
        actor: &Actor,
        text: &str,
        summary: &str,
    ) -> Result<PolicyVersion, AppError> {
        authorize(&actor.principal, Action::ManageOrganization)?;
        if !matches!(
            actor.principal,
            Principal::Staff {
                role: Role::Administrator,
                ..
            }
        ) {
            return Err(AppError::Forbidden);
        }
        require_fresh(actor)?;
        let summary = summary.trim();
        if summary.is_empty() || summary.chars().count() > 500 {
            return Err(AppError::InvalidInput(
                "describe the change in 1 to 500 characters".into(),
            ));
        }
        if text.len() > MAX_POLICY_BYTES {
            return Err(AppError::InvalidInput(
                "a policy set may be at most 256 KiB".into(),
            ));
        }
        PolicyEngine::from_text(text).map_err(|e| AppError::InvalidInput(e.to_string()))?;
        let version = self
            .store()
            .insert_policy_version(
                text,
                "proposed",
                summary,
                &actor.name(),
                self.now().as_seconds(),
            )
            .await?;
        self.audit(
            &actor.name(),
            AuditAction::PolicyProposed,
            &format!("policy:{version}"),
            "success",
            &actor.client,
            json!({}),
        )
        .await?;
        self.store()
            .policy_version(version)
            .await?
            .map(PolicyVersion::from)
            .ok_or(AppError::NotFound)
    }

    /// Approve a proposed version: a different person than the proposer, an administrator or
    /// the security officer. It is in force from this moment.
    pub async fn approve_policy(
        &self,
        actor: &Actor,
        version: i64,
    ) -> Result<PolicyVersion, AppError> {
        let row = self.decidable_proposal(actor, version).await?;
        let engine = PolicyEngine::from_text(&row.policy_text)
            .map_err(|e| AppError::InvalidInput(e.to_string()))?;
        if !self
            .store()
            .activate_policy_version(version, &actor.name(), self.now().as_seconds())
            .await?
        {
            return Err(AppError::Conflict(
                "this version is no longer waiting for approval".into(),
            ));
        }
        self.policy_holder().replace(version, engine);
        self.audit(
            &actor.name(),
            AuditAction::PolicyApproved,
            &format!("policy:{version}"),
            "success",
            &actor.client,
            json!({"proposed_by": row.proposed_by}),
        )
        .await?;
        self.store()
            .policy_version(version)
            .await?
            .map(PolicyVersion::from)
            .ok_or(AppError::NotFound)
    }

    pub async fn reject_policy(&self, actor: &Actor, version: i64) -> Result<(), AppError> {
        self.decidable_proposal(actor, version).await?;
        if !self
            .store()
            .reject_policy_version(version, &actor.name(), self.now().as_seconds())
            .await?
        {
            return Err(AppError::Conflict(
                "this version is no longer waiting for approval".into(),
            ));
        }
        self.audit(
            &actor.name(),
            AuditAction::PolicyRejected,
            &format!("policy:{version}"),
            "success",
            &actor.client,
            json!({}),
        )
        .await
    }

    async fn decidable_proposal(
        &self,
        actor: &Actor,
        version: i64,
    ) -> Result<PolicyVersionRow, AppError> {
        let Principal::Staff { role, .. } = &actor.principal else {
            return Err(AppError::Forbidden);
        };
        if !role.is_privileged() {
            return Err(AppError::Forbidden);
        }
        require_fresh(actor)?;
        let row = self
            .store()
            .policy_version(version)
            .await?
            .ok_or(AppError::NotFound)?;
        if row.state != "proposed" {
            return Err(AppError::Conflict(
                "this version is no longer waiting for approval".into(),
            ));
        }
        if row.proposed_by == actor.name() {
            return Err(AppError::Conflict(
                "a policy change needs a second person: someone other than its author must approve it".into(),
            ));
        }
        Ok(row)
    }
}

/// Browser sessions need a recent step-up; API tokens are scope-limited.
fn require_fresh(actor: &Actor) -> Result<(), AppError> {
    match actor.principal {
        Principal::Staff { scopes: None, .. } if !actor.stepped_up => Err(AppError::StepUpRequired),
        _ => Ok(()),
    }
}
