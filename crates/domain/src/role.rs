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
