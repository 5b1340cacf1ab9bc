//! One-off grants, break-glass openings and security alerts.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub id: String,
    pub patient_id: String,
    pub grantee_user_id: Option<String>,
    pub grantee_department_id: Option<String>,
    /// Comma-separated data categories.
    pub categories: String,
    /// Comma-separated actions (`read`, `write`).
    pub actions: String,
    pub purpose_sealed: Vec<u8>,
    pub valid_from: i64,
    pub valid_until: i64,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

const GRANT_COLUMNS: &str = "id, patient_id, grantee_user_id, grantee_department_id, categories, actions, purpose_sealed, valid_from, valid_until, created_by, created_at, revoked_at, revoked_by";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BreakGlassRow {
    pub id: String,
    pub user_id: String,
    pub patient_id: String,
    pub reason_sealed: Vec<u8>,
    pub opened_at: i64,
    pub expires_at: i64,
    /// `pending`, `justified` or `unjustified`.
    pub review_state: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_comment_sealed: Option<Vec<u8>>,
}

const BREAK_GLASS_COLUMNS: &str = "id, user_id, patient_id, reason_sealed, opened_at, expires_at, review_state, reviewed_by, reviewed_at, review_comment_sealed";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub created_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
}

impl Store {
    pub async fn insert_grant(&self, g: &GrantRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO access_grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&g.id).bind(&g.patient_id).bind(&g.grantee_user_id).bind(&g.grantee_department_id)
            .bind(&g.categories).bind(&g.actions).bind(&g.purpose_sealed).bind(g.valid_from)
            .bind(g.valid_until).bind(&g.created_by).bind(g.created_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn grant(&self, id: &str) -> Result<Option<GrantRow>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM access_grants WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Every grant on a patient (revoked and expired included), newest first.
    pub async fn grants_on(&self, patient_id: &str) -> Result<Vec<GrantRow>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM access_grants WHERE patient_id = $1 ORDER BY created_at DESC, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).fetch_all(pool).await)?)
    }

    /// Grants made by or to a person, newest first.
    pub async fn grants_involving(&self, user_id: &str) -> Result<Vec<GrantRow>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM access_grants WHERE created_by = $1 OR grantee_user_id = $1 \
             ORDER BY created_at DESC, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await)?)
    }

    /// Grants made to a department, newest first.
    pub async fn grants_to_department(&self, department_id: &str) -> Result<Vec<GrantRow>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM access_grants WHERE grantee_department_id = $1 ORDER BY created_at DESC, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(department_id).fetch_all(pool).await)?)
    }

    /// Revoke one grant. Returns whether it was still in force.
    pub async fn revoke_grant(&self, id: &str, at: i64, by: &str) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE access_grants SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id).bind(at).bind(by).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Revoke every grant made to a person (a leaver). Returns how many.
    pub async fn revoke_grants_to(&self, user_id: &str, at: i64, by: &str) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "UPDATE access_grants SET revoked_at = $2, revoked_by = $3 WHERE grantee_user_id = $1 AND revoked_at IS NULL")
            .bind(user_id).bind(at).bind(by).execute(pool).await.map(|r| r.rows_affected()))?)
    }

    pub async fn insert_break_glass(&self, b: &BreakGlassRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO break_glass ({BREAK_GLASS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&b.id).bind(&b.user_id).bind(&b.patient_id).bind(&b.reason_sealed)
            .bind(b.opened_at).bind(b.expires_at).bind(&b.review_state)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn break_glass(&self, id: &str) -> Result<Option<BreakGlassRow>> {
        let sql = format!("SELECT {BREAK_GLASS_COLUMNS} FROM break_glass WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Break-glass openings by a person for a patient.
    pub async fn break_glass_of(
        &self,
        user_id: &str,
        patient_id: &str,
    ) -> Result<Vec<BreakGlassRow>> {
        let sql = format!(
            "SELECT {BREAK_GLASS_COLUMNS} FROM break_glass WHERE patient_id = $1 AND user_id = $2 ORDER BY opened_at"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).bind(user_id).fetch_all(pool).await)?,
        )
    }

    /// Openings in a review state (or all when `None`), newest first.
    pub async fn break_glass_for_review(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BreakGlassRow>> {
        let sql = format!(
            "SELECT {BREAK_GLASS_COLUMNS} FROM break_glass WHERE ($1 IS NULL OR review_state = $1) \
             ORDER BY opened_at DESC, id LIMIT $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(state).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// Record a review. Returns whether the opening was still pending.
    pub async fn review_break_glass(
        &self,
        id: &str,
        state: &str,
        by: &str,
        at: i64,
        comment_sealed: &[u8],
    ) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE break_glass SET review_state = $2, reviewed_by = $3, reviewed_at = $4, review_comment_sealed = $5 \
             WHERE id = $1 AND review_state = 'pending'")
            .bind(id).bind(state).bind(by).bind(at).bind(comment_sealed)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// End a person's break-glass openings early (a leaver).
    pub async fn close_break_glass_of(&self, user_id: &str, at: i64) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "UPDATE break_glass SET expires_at = $2 WHERE user_id = $1 AND expires_at > $2")
            .bind(user_id).bind(at).execute(pool).await.map(|r| r.rows_affected()))?)
    }

    pub async fn insert_alert(&self, a: &AlertRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO alerts (id, kind, subject, created_at, acknowledged_at, acknowledged_by) VALUES ($1, $2, $3, $4, NULL, NULL)")
            .bind(&a.id).bind(&a.kind).bind(&a.subject).bind(a.created_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Alerts not yet acknowledged, newest first.
    pub async fn open_alerts(&self, limit: i64) -> Result<Vec<AlertRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, kind, subject, created_at, acknowledged_at, acknowledged_by FROM alerts \
             WHERE acknowledged_at IS NULL ORDER BY created_at DESC, id LIMIT $1")
            .bind(limit).fetch_all(pool).await)?)
    }

    pub async fn acknowledge_alert(&self, id: &str, by: &str, at: i64) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE alerts SET acknowledged_at = $3, acknowledged_by = $2 WHERE id = $1 AND acknowledged_at IS NULL")
            .bind(id).bind(by).bind(at).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
