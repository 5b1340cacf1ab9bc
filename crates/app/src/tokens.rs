//! API tokens for integrations and scripts: created on the command line (or by an
//! administrator), shown once, stored as a digest, scoped, expiring, revocable; every use is
//! audited.

use sealroom_crypto::token;
use sealroom_domain::{AuditAction, Duration, EmailAddress, Role};
use sealroom_store::{ApiTokenRow, UserStatus};
use serde::Serialize;
use serde_json::json;

use crate::accounts::Actor;
use crate::policy::{authorize, Action, Principal, SCOPES};
use crate::{App, AppError, Client};

/// Longest validity of an API token.
pub const MAX_DAYS: i64 = 366;

/// Whom a token acts for.
pub enum TokenOwner<'a> {
    User { email: &'a str },
    Service { name: &'a str },
}

/// A token as listed (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct ApiTokenSummary {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    pub last_used_at: Option<i64>,
}

impl From<ApiTokenRow> for ApiTokenSummary {
    fn from(t: ApiTokenRow) -> Self {
        ApiTokenSummary {
            owner: t
                .service_name
                .map(|s| format!("service:{s}"))
                .or(t.user_id.map(|u| format!("user:{u}")))
                .unwrap_or_default(),
            id: t.id,
            name: t.name,
            scopes: t.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked: t.revoked_at.is_some(),
            last_used_at: t.last_used_at,
        }
    }
}

/// A new token: the secret is shown here only.
pub struct CreatedToken {
    pub summary: ApiTokenSummary,
    pub secret: String,
}

fn parse_scopes(scopes: &[String]) -> Result<Vec<String>, AppError> {
    if scopes.is_empty() {
        return Err(AppError::InvalidInput(format!(
            "give at least one scope; known scopes: {}",
            SCOPES.join(", ")
        )));
    }
    for s in scopes {
        if !SCOPES.contains(&s.as_str()) {
            return Err(AppError::InvalidInput(format!(
                "unknown scope '{s}'; known scopes: {}",
                SCOPES.join(", ")
            )));
        }
    }
    let mut v = scopes.to_vec();
    v.sort();
    v.dedup();
    Ok(v)
}

fn service_name(name: &str) -> Result<String, AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(AppError::InvalidInput(
            "a service name has 1 to 64 letters, digits, '-', '_' or '.'".into(),
        ))
    }
}

impl App {
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        owner: TokenOwner<'_>,
        name: &str,
        scopes: &[String],
        days: i64,
    ) -> Result<CreatedToken, AppError> {
        authorize(&actor.principal, Action::ManageApiTokens)?;
        let scopes = parse_scopes(scopes)?;
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(AppError::InvalidInput(format!(
                "a token lasts 1 to {MAX_DAYS} days"
            )));
        }
        let (user_id, service) = match owner {
            TokenOwner::User { email } => {
                let email = EmailAddress::parse(email)?;
                let u = self
                    .store()
                    .user_by_email(email.as_str())
                    .await?
                    .ok_or_else(|| {
                        AppError::InvalidInput("no account has this e-mail address".into())
                    })?;
                (Some(u.id), None)
            }
            TokenOwner::Service { name } => (None, Some(service_name(name)?)),
        };
        let name = if name.trim().is_empty() {
            service.clone().unwrap_or_else(|| "token".into())
        } else {
            name.trim().chars().take(80).collect()
        };
        let now = self.now();
        let issued = token::issue("srk_");
        let row = ApiTokenRow {
            id: token::new_id(),
            digest: issued.digest,
            name,
            user_id,
            service_name: service,
            scopes: scopes.join(" "),
            created_at: now.as_seconds(),
            expires_at: now.plus(Duration::hours(24 * days)).as_seconds(),
            revoked_at: None,
            last_used_at: None,
        };
        self.store().insert_api_token(&row).await?;
        self.audit(
            &actor.name(),
            AuditAction::ApiTokenCreated,
            &format!("token:{}", row.id),
            "success",
            &actor.client,
            json!({"scopes": scopes, "expires_at": row.expires_at}),
        )
        .await?;
        Ok(CreatedToken {
            summary: row.into(),
            secret: issued.secret,
        })
    }

    pub async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<ApiTokenSummary>, AppError> {
        authorize(&actor.principal, Action::ManageApiTokens)?;
        Ok(self
            .store()
            .list_api_tokens()
            .await?
            .into_iter()
            .map(ApiTokenSummary::from)
            .collect())
    }

    pub async fn revoke_api_token(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        authorize(&actor.principal, Action::ManageApiTokens)?;
        if !self
            .store()
            .revoke_api_token(id, self.now().as_seconds())
            .await?
        {
            return Err(AppError::NotFound);
        }
        self.audit(
            &actor.name(),
            AuditAction::ApiTokenRevoked,
            &format!("token:{id}"),
            "success",
            &actor.client,
            json!({}),
        )
        .await
    }

    /// Check a bearer token and audit its use. Unknown, expired and revoked tokens are refused
    /// alike, and the refusal is audited too.
    pub async fn authenticate_api_token(
        &self,
        secret: &str,
        route: &str,
        client: &Client,
    ) -> Result<Principal, AppError> {
        let now = self.now().as_seconds();
        let row = self
            .store()
            .api_token_by_digest(&token::digest(secret))
            .await?;
        let valid = row.filter(|t| t.revoked_at.is_none() && t.expires_at > now);
        let principal = match &valid {
            Some(t) => match (&t.user_id, &t.service_name) {
                (Some(uid), _) => self
                    .store()
                    .user_by_id(uid)
                    .await?
                    .filter(|u| UserStatus::parse(&u.status) == Some(UserStatus::Active))
                    .and_then(|u| u.role.parse::<Role>().ok())
                    .map(|role| Principal::Staff {
                        user_id: uid.clone(),
                        role,
                        scopes: Some(t.scopes.split_whitespace().map(str::to_owned).collect()),
                    }),
                (None, Some(name)) => Some(Principal::Service {
                    name: name.clone(),
                    scopes: t.scopes.split_whitespace().map(str::to_owned).collect(),
                }),
                (None, None) => None,
            },
            None => None,
        };
        match (valid, principal) {
            (Some(t), Some(p)) => {
                self.store().touch_api_token(&t.id, now).await?;
                self.audit(
                    &format!("token:{}", t.id),
                    AuditAction::ApiTokenUsed,
                    &format!("token:{}", t.id),
                    "success",
                    client,
                    json!({"route": route}),
                )
                .await?;
                Ok(p)
            }
            _ => {
                self.audit(
                    "anonymous",
                    AuditAction::ApiTokenRefused,
                    "token:unknown",
                    "refused",
                    client,
                    json!({"route": route}),
                )
                .await?;
                Err(AppError::Unauthenticated)
            }
        }
    }
}
