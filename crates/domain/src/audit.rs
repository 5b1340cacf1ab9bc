//! The kinds of events written to the audit log. Audit records hold identifiers and outcomes,
//! never a password, code, token, secret or clinical content.

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SetupCompleted,
    UserCreated,
    EnrolmentStarted,
    PasswordSet,
    PasswordChanged,
    FactorAdded,
    FactorRemoved,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    SignInSucceeded,
    SignInFailed,
    SignInThrottled,
    AccountLocked,
    AccountUnlocked,
    SecondFactorFailed,
    StepUpSucceeded,
    StepUpFailed,
    SessionEnded,
    SessionExpired,
    SessionReplaced,
    RoleChanged,
    ApiTokenCreated,
    ApiTokenRevoked,
    ApiTokenUsed,
    ApiTokenRefused,
}

impl AuditAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::SetupCompleted => "setup.completed",
            AuditAction::UserCreated => "user.created",
            AuditAction::EnrolmentStarted => "enrolment.started",
            AuditAction::PasswordSet => "password.set",
            AuditAction::PasswordChanged => "password.changed",
            AuditAction::FactorAdded => "factor.added",
            AuditAction::FactorRemoved => "factor.removed",
            AuditAction::RecoveryCodesGenerated => "recovery_codes.generated",
            AuditAction::RecoveryCodeUsed => "recovery_code.used",
            AuditAction::SignInSucceeded => "sign_in.succeeded",
            AuditAction::SignInFailed => "sign_in.failed",
            AuditAction::SignInThrottled => "sign_in.throttled",
            AuditAction::AccountLocked => "account.locked",
            AuditAction::AccountUnlocked => "account.unlocked",
            AuditAction::SecondFactorFailed => "second_factor.failed",
            AuditAction::StepUpSucceeded => "step_up.succeeded",
            AuditAction::StepUpFailed => "step_up.failed",
            AuditAction::SessionEnded => "session.ended",
            AuditAction::SessionExpired => "session.expired",
            AuditAction::SessionReplaced => "session.replaced",
            AuditAction::RoleChanged => "role.changed",
            AuditAction::ApiTokenCreated => "api_token.created",
            AuditAction::ApiTokenRevoked => "api_token.revoked",
            AuditAction::ApiTokenUsed => "api_token.used",
            AuditAction::ApiTokenRefused => "api_token.refused",
        }
    }
}
