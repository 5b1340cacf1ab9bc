//! Sealroom's domain: validated types and the pure rules of sign-in.
//!
//! Everything here is a value or a pure function. Nothing in this crate performs I/O, reads a
//! clock or draws randomness: time comes in as a [`Timestamp`] from the caller, so every rule
//! (session expiry, step-up, throttling) is tested by moving a clock, never by sleeping.
//! Types with private fields and fallible constructors (`EmailAddress`, `NewPassword`, `Role`)
//! are parsed once at the edge so the rest of the server never re-checks them.

pub mod access;
pub mod audit;
pub mod credential;
pub mod email;
pub mod leak_rules;
pub mod password;
pub mod patient;
pub mod patient_identifier;
pub mod role;
pub mod session;
pub mod throttle;
pub mod time;

pub use access::{AccessAction, Capacity, CapacitySource, DataCategory, Relation};
pub use audit::AuditAction;
pub use credential::SignInMethod;
pub use email::{EmailAddress, InvalidEmail};
pub use password::{NewPassword, PasswordContext, PasswordRejected};
pub use patient::{AdministrativeSex, Demographics, InvalidDemographics};
pub use patient_identifier::{
    Country, InvalidNationalIdentifier, InvalidPatientId, NationalIdentifier,
    OrganizationPatientId, UnknownCountry,
};
pub use role::{AssignmentRole, Role, UnknownRole};
pub use session::{SessionExpiry, SessionLimits, SessionState};
pub use time::{Duration, Timestamp};
