//! Staff roles. Later issues attach policy to them; this issue uses them for session limits
//! and for deciding who may administer accounts.

use std::{fmt, str::FromStr};

use crate::session::SessionLimits;
use crate::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Administrator,
    SecurityOfficer,
    Clinician,
    Nurse,
    Laboratory,
    Reception,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}'; expected one of: administrator, security_officer, clinician, nurse, laboratory, reception")]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Administrator,
        Role::SecurityOfficer,
        Role::Clinician,
        Role::Nurse,
        Role::Laboratory,
        Role::Reception,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::SecurityOfficer => "security_officer",
            Role::Clinician => "clinician",
            Role::Nurse => "nurse",
            Role::Laboratory => "laboratory",
            Role::Reception => "reception",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::SecurityOfficer => "Security officer",
            Role::Clinician => "Clinician",
            Role::Nurse => "Nurse",
            Role::Laboratory => "Laboratory staff",
            Role::Reception => "Reception",
        }
    }

    /// Roles that care for patients (and may be assigned to their departments).
    pub const fn is_clinical(self) -> bool {
        matches!(self, Role::Clinician | Role::Nurse | Role::Laboratory)
    }

    pub const fn is_administrator(self) -> bool {
        matches!(self, Role::Administrator)
    }

    /// Roles that govern others (administer accounts, review audit, approve grants): creating
    /// one needs a step-up, and integrations may never create them.
    pub const fn is_privileged(self) -> bool {
        matches!(self, Role::Administrator | Role::SecurityOfficer)
    }

    /// Default session limits. Every staff role gets the defaults (15 minutes idle,
    /// 12 hours absolute); administrators and security officers are held tighter because
    /// their sessions can change who may see what.
    pub const fn default_session_limits(self) -> SessionLimits {
        match self {
            Role::Administrator | Role::SecurityOfficer => SessionLimits {
                idle: Duration::minutes(15),
                absolute: Duration::hours(8),
            },
            _ => SessionLimits {
                idle: Duration::minutes(15),
                absolute: Duration::hours(12),
            },
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Check the name of a custom role from configuration: lowercase letters, digits and
/// underscores, 2 to 40 characters, starting with a letter, and not a built-in role's name.
pub fn check_custom_role(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !(2..=40).contains(&name.len()) || !ok_chars || !starts {
        return Err(format!(
            "'{}' is not a valid role name: use 2 to 40 lowercase letters, digits and underscores, starting with a letter",
            name.chars().take(40).collect::<String>()
        ));
    }
    if Role::ALL.iter().any(|r| r.as_str() == name) {
        return Err(format!(
            "'{name}' is a built-in role; custom roles need other names"
        ));
    }
    Ok(())
}

/// The role of a staff assignment in a department: a built-in role or a custom role the
/// configuration declares. What a role may do is decided by policy, not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AssignmentRole(String);

impl AssignmentRole {
    /// Parse against the built-in roles and the configured custom ones.
    pub fn parse(name: &str, custom: &[String]) -> Result<AssignmentRole, UnknownRole> {
        let name = name.trim();
        if Role::ALL.iter().any(|r| r.as_str() == name) || custom.iter().any(|c| c == name) {
            Ok(AssignmentRole(name.to_owned()))
        } else {
            Err(UnknownRole(name.chars().take(40).collect()))
        }
    }

    pub fn builtin(role: Role) -> AssignmentRole {
        AssignmentRole(role.as_str().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_role() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
