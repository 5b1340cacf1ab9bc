//! Stored versions of the access policy.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyVersionRow {
    pub version: i64,
    pub policy_text: String,
    /// `proposed`, `active`, `superseded` or `rejected`.
    pub state: String,
    pub summary: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

const COLUMNS: &str =
    "version, policy_text, state, summary, proposed_by, proposed_at, decided_by, decided_at";

impl Store {
    /// Record a new version with the next number; returns it.
    pub async fn insert_policy_version(
        &self,
        text: &str,
        state: &str,
        summary: &str,
        proposed_by: &str,
        at: i64,
    ) -> Result<i64> {
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM policy_versions")
                .fetch_one(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO policy_versions (version, policy_text, state, summary, proposed_by, proposed_at, decided_by, decided_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)")
                .bind(next).bind(text).bind(state).bind(summary).bind(proposed_by).bind(at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            next
        }))
    }

    pub async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM policy_versions WHERE version = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(version).fetch_optional(pool).await)?)
    }

    pub async fn active_policy(&self) -> Result<Option<PolicyVersionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM policy_versions WHERE state = 'active'");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).fetch_optional(pool).await)?)
    }

    /// The number of the active version (cheap; polled to notice changes by other instances).
    pub async fn active_policy_version(&self) -> Result<Option<i64>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT version FROM policy_versions WHERE state = 'active'").fetch_optional(pool).await)?)
    }

    pub async fn list_policy_versions(&self) -> Result<Vec<PolicyVersionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM policy_versions ORDER BY version DESC");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
    }

    /// Make a proposed version active and supersede the current one, atomically. Returns
    /// `false` if the version was not (or no longer) proposed.
    pub async fn activate_policy_version(&self, version: i64, by: &str, at: i64) -> Result<bool> {
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let proposed: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM policy_versions WHERE version = $1 AND state = 'proposed'")
                .bind(version).fetch_optional(&mut *tx).await?;
            if proposed.is_none() {
                tx.rollback().await?;
                false
            } else {
                sqlx::query("UPDATE policy_versions SET state = 'superseded' WHERE state = 'active'")
                    .execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE policy_versions SET state = 'active', decided_by = $2, decided_at = $3 WHERE version = $1")
                    .bind(version).bind(by).bind(at).execute(&mut *tx).await?;
                tx.commit().await?;
                true
            }
        }))
    }

    pub async fn reject_policy_version(&self, version: i64, by: &str, at: i64) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE policy_versions SET state = 'rejected', decided_by = $2, decided_at = $3 \
             WHERE version = $1 AND state = 'proposed'")
            .bind(version).bind(by).bind(at).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
