//! API tokens for integrations and scripts, stored as digests.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub digest: String,
    pub name: String,
    pub user_id: Option<String>,
    pub service_name: Option<String>,
    /// Space-separated scopes.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, digest, name, user_id, service_name, scopes, created_at, expires_at, revoked_at, last_used_at";

impl Store {
    pub async fn insert_api_token(&self, t: &ApiTokenRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO api_tokens (id, digest, name, user_id, service_name, scopes, created_at, expires_at, revoked_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)")
            .bind(&t.id).bind(&t.digest).bind(&t.name).bind(&t.user_id).bind(&t.service_name)
            .bind(&t.scopes).bind(t.created_at).bind(t.expires_at).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn api_token_by_digest(&self, digest: &str) -> Result<Option<ApiTokenRow>> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE digest = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(digest).fetch_optional(pool).await)?)
    }

    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRow>> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
    }

    pub async fn revoke_api_token(&self, id: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn touch_api_token(&self, id: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
