//! What a use case can answer besides success. Messages are safe to show the person: they name
//! the problem, never a secret or another person's data.

use sealroom_domain::{InvalidEmail, PasswordRejected, UnknownRole};
use sealroom_store::StoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The same answer for unknown user, wrong password, wrong code and locked or throttled
    /// account, so none can be told apart.
    #[error("the e-mail address, password or code is not correct, or sign-in is paused after too many attempts; try again in a few minutes")]
    SignInFailed,
    #[error("{0}")]
    InvalidInput(String),
    /// A resource (FHIR) failed validation at `expression` (e.g. `Observation.status`).
    #[error("{expression}: {message}")]
    InvalidResource { expression: String, message: String },
    #[error(transparent)]
    Password(#[from] PasswordRejected),
    /// A patient space step was refused (a wrong code, a void slip, …).
    #[error(transparent)]
    PatientSpace(crate::patient_space::PatientProblem),
    #[error(transparent)]
    Email(#[from] InvalidEmail),
    #[error(transparent)]
    Role(#[from] UnknownRole),
    #[error("you need to sign in")]
    Unauthenticated,
    #[error("your session has ended: {0}")]
    SessionEnded(&'static str),
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("confirm it is you first: this action needs a recent re-authentication")]
    StepUpRequired,
    #[error("this link is invalid, already used or expired; ask for a new one")]
    LinkInvalid,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// A message stopped by leak prevention: an error, or a warning not yet confirmed. The
    /// findings name rules and recipients, never what matched.
    #[error("the message was not sent: {}", .0.iter().map(|f| f.message).collect::<Vec<_>>().join("; "))]
    LeakCheck(Vec<sealroom_domain::leak_rules::Finding>),
    /// The request body is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// It existed and was destroyed on purpose (end of retention, lawful erasure).
    #[error("{0}")]
    Gone(String),
    /// Stored content failed its integrity or signature check; it is not served.
    #[error("{0}")]
    Integrity(String),
    /// A backing service (the blob store) did not answer.
    #[error("{0}")]
    Unavailable(String),
    #[error("the server is misconfigured: {0}")]
    Config(String),
    #[error("internal error")]
    Internal(String),
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }
}
