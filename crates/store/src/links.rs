//! One-time links: the first-administrator set-up link and enrolment links. Only digests are
//! stored; a link is spent by an atomic update, so two clicks cannot both succeed.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Setup,
    Enrolment,
    /// A started passkey sign-in, answered at most once.
    PasskeySignIn,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::Enrolment => "enrolment",
            LinkPurpose::PasskeySignIn => "passkey_sign_in",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub digest: String,
    pub purpose: String,
    pub user_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Store {
    pub async fn insert_link(&self, row: &LinkRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO one_time_links (digest, purpose, user_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, NULL)")
            .bind(&row.digest).bind(&row.purpose).bind(&row.user_id).bind(row.created_at).bind(row.expires_at)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A usable (unspent, unexpired) link, without spending it.
    pub async fn usable_link(
        &self,
        digest: &str,
        purpose: LinkPurpose,
        now: i64,
    ) -> Result<Option<LinkRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT digest, purpose, user_id, created_at, expires_at, used_at FROM one_time_links \
             WHERE digest = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3")
            .bind(digest).bind(purpose.as_str()).bind(now).fetch_optional(pool).await)?)
    }

    /// Spend a link. Returns the link only to the one caller whose update took effect.
    pub async fn spend_link(
        &self,
        digest: &str,
        purpose: LinkPurpose,
        now: i64,
    ) -> Result<Option<LinkRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "UPDATE one_time_links SET used_at = $1 \
             WHERE digest = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING digest, purpose, user_id, created_at, expires_at, used_at")
            .bind(now).bind(digest).bind(purpose.as_str()).fetch_optional(pool).await)?)
    }

    /// Spend every unspent link of one purpose (for example, older enrolment links of a person
    /// who was sent a new one).
    pub async fn revoke_links(
        &self,
        purpose: LinkPurpose,
        user_id: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE one_time_links SET used_at = $1 WHERE purpose = $2 AND used_at IS NULL \
             AND ($3 IS NULL OR user_id = $3)")
            .bind(now).bind(purpose.as_str()).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
