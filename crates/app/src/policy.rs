//! The policy decision point for administration (accounts, departments, assignments, security
//! review): every use case asks here, and anything not listed is denied. Access to patient
//! data is decided by the Cedar policies in [`crate::access_policy`], through
//! [`crate::patient_access`].

use sealroom_domain::Role;

use crate::AppError;

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A signed-in staff member (or an API token acting for one, limited by its scopes).
    Staff {
        user_id: String,
        role: Role,
        scopes: Option<Vec<String>>,
    },
    /// An API token of an integration.
    Service { name: String, scopes: Vec<String> },
    /// The command line, run by the operator on the server's host.
    Operator,
    /// A patient space account, signed in: the patient's own or a proxy's. It administers
    /// nothing; what it may read of its patient is decided by the Cedar policy, through
    /// [`crate::patient_space`].
    PatientAccount {
        account_id: String,
        patient_id: String,
    },
    /// Someone outside the organization, verified for one thread they were added to by
    /// e-mail address. What they may read of a patient thread is decided by the Cedar policy.
    OutsideRecipient {
        recipient_id: String,
        thread_id: String,
    },
}

/// What they want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListUsers,
    CreateUser {
        role: Role,
    },
    ChangeRole,
    UnlockAccount,
    EndAnyonesSessions,
    ManageApiTokens,
    ReadAudit,
    ReadOwnAccount,
    /// Create departments, assign staff, end assignments.
    ManageOrganization,
    /// See departments and assignments.
    ReadOrganization,
    /// Review break-glass openings and security alerts.
    ReviewSecurity,
    /// Use patient data at all (the Cedar policy then decides what). Only staff.
    UsePatientData {
        write: bool,
    },
    /// Provision staff over SCIM (the HR system or identity provider).
    Provision,
    /// Legal holds, erasure requests and decisions, retention runs: the records manager's and
    /// the data-protection officer's work, which never reads content.
    ManageRecords,
}

impl Action {
    /// The API-token scope that allows this action.
    pub fn scope(self) -> &'static str {
        match self {
            Action::ListUsers => "users:read",
            Action::CreateUser { .. }
            | Action::ChangeRole
            | Action::UnlockAccount
            | Action::EndAnyonesSessions => "users:write",
            Action::ManageApiTokens => "tokens:write",
            Action::ReadAudit => "audit:read",
            Action::ReadOwnAccount => "me:read",
            Action::ManageOrganization => "organization:write",
            Action::ReadOrganization => "organization:read",
            Action::ReviewSecurity => "security:review",
            Action::UsePatientData { write: false } => "patients:read",
            Action::UsePatientData { write: true } => "patients:write",
            Action::Provision => "scim",
            Action::ManageRecords => "records:write",
        }
    }
}

/// Every scope an API token may carry.
pub const SCOPES: [&str; 12] = [
    "me:read",
    "users:read",
    "users:write",
    "tokens:write",
    "audit:read",
    "organization:read",
    "organization:write",
    "security:review",
    "patients:read",
    "patients:write",
    "scim",
    "records:write",
];

/// Decide. Deny unless a rule below allows.
pub fn authorize(who: &Principal, action: Action) -> Result<(), AppError> {
    let allowed = match who {
        Principal::PatientAccount { .. } | Principal::OutsideRecipient { .. } => false,
        // The operator's command line administers; it never reads patient data.
        Principal::Operator => !matches!(action, Action::UsePatientData { .. }),
        Principal::Staff { role, scopes, .. } => {
            let scope_ok = scopes
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == action.scope()));
            let role_ok = match action {
                Action::ReadOwnAccount
                | Action::ReadOrganization
                | Action::UsePatientData { .. } => true,
                Action::ReadAudit => matches!(role, Role::Administrator | Role::SecurityOfficer),
                Action::ReviewSecurity => *role == Role::SecurityOfficer,
                Action::ManageRecords => {
                    matches!(role, Role::Administrator | Role::SecurityOfficer)
                }
                Action::ListUsers
                | Action::CreateUser { .. }
                | Action::ChangeRole
                | Action::UnlockAccount
                | Action::EndAnyonesSessions
                | Action::ManageApiTokens
                | Action::ManageOrganization
                | Action::Provision => role.is_administrator(),
            };
            scope_ok && role_ok
        }
        Principal::Service { scopes, .. } => {
            // Integrations may read and provision ordinary staff, never create administrators or
            // security officers.
            let creates_admin =
                matches!(action, Action::CreateUser { role } if role.is_privileged());
            !creates_admin
                && action != Action::ReadOwnAccount
                && !matches!(
                    action,
                    Action::UsePatientData { .. } | Action::ReviewSecurity | Action::ManageRecords
                )
                && scopes.iter().any(|x| x == action.scope())
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: Role) -> Principal {
        Principal::Staff {
            user_id: "u".into(),
            role,
            scopes: None,
        }
    }

    #[test]
    fn only_administrators_administer() {
        for role in Role::ALL {
            let r = authorize(
                &staff(role),
                Action::CreateUser {
                    role: Role::Clinician,
                },
            );
            assert_eq!(r.is_ok(), role == Role::Administrator, "{role}");
            assert!(authorize(&staff(role), Action::ReadOwnAccount).is_ok());
        }
        assert!(authorize(&staff(Role::SecurityOfficer), Action::ReadAudit).is_ok());
        assert!(authorize(&staff(Role::Clinician), Action::ReadAudit).is_err());
    }

    #[test]
    fn token_scopes_narrow_what_a_person_may_do() {
        let admin_token = Principal::Staff {
            user_id: "u".into(),
            role: Role::Administrator,
            scopes: Some(vec!["users:read".into()]),
        };
        assert!(authorize(&admin_token, Action::ListUsers).is_ok());
        assert!(authorize(&admin_token, Action::CreateUser { role: Role::Nurse }).is_err());
    }

    #[test]
    fn patient_accounts_administer_nothing_and_reach_no_staff_path() {
        let account = Principal::PatientAccount {
            account_id: "pa".into(),
            patient_id: "p".into(),
        };
        for action in [
            Action::ListUsers,
            Action::ReadAudit,
            Action::ReadOwnAccount,
            Action::ReadOrganization,
            Action::UsePatientData { write: false },
            Action::UsePatientData { write: true },
            Action::ManageRecords,
        ] {
            assert!(authorize(&account, action).is_err(), "{action:?}");
        }
    }

    #[test]
    fn services_never_create_administrators() {
        let svc = Principal::Service {
            name: "hr".into(),
            scopes: vec!["users:write".into(), "users:read".into()],
        };
        assert!(authorize(&svc, Action::CreateUser { role: Role::Nurse }).is_ok());
        assert!(authorize(
            &svc,
            Action::CreateUser {
                role: Role::Administrator
            }
        )
        .is_err());
        let officer = Action::CreateUser {
            role: Role::SecurityOfficer,
        };
        assert!(authorize(&svc, officer).is_err());
        assert!(authorize(&svc, Action::ReadAudit).is_err());
    }
}
