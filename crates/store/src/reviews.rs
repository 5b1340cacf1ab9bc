//! Access reviews (periodic attestation) and the counts behind a department's access report.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessReviewRow {
    pub id: String,
    pub department_id: String,
    pub started_by: String,
    pub started_at: i64,
    pub due_at: i64,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReviewItemRow {
    pub review_id: String,
    pub assignment_id: String,
    pub user_id: String,
    pub role: String,
    /// `confirmed` or `removed`; `None` while waiting.
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

impl Store {
    /// Start a review with one item per assignment, in one transaction.
    pub async fn insert_access_review(
        &self,
        r: &AccessReviewRow,
        items: &[ReviewItemRow],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO access_reviews (id, department_id, started_by, started_at, due_at, completed_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL)")
                .bind(&r.id).bind(&r.department_id).bind(&r.started_by).bind(r.started_at).bind(r.due_at)
                .execute(&mut *tx).await?;
            for i in items {
                sqlx::query(
                    "INSERT INTO access_review_items (review_id, assignment_id, user_id, role, decision, decided_by, decided_at) \
                     VALUES ($1, $2, $3, $4, NULL, NULL, NULL)")
                    .bind(&i.review_id).bind(&i.assignment_id).bind(&i.user_id).bind(&i.role)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn access_review(&self, id: &str) -> Result<Option<AccessReviewRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, department_id, started_by, started_at, due_at, completed_at FROM access_reviews WHERE id = $1")
            .bind(id).fetch_optional(pool).await)?)
    }

    pub async fn access_review_items(&self, review_id: &str) -> Result<Vec<ReviewItemRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT review_id, assignment_id, user_id, role, decision, decided_by, decided_at \
             FROM access_review_items WHERE review_id = $1 ORDER BY user_id, assignment_id")
            .bind(review_id).fetch_all(pool).await)?)
    }

    /// Decide one item; returns whether it was still open. Marks the review complete when the
    /// last item is decided.
    pub async fn decide_review_item(
        &self,
        review_id: &str,
        assignment_id: &str,
        decision: &str,
        by: &str,
        at: i64,
    ) -> Result<bool> {
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE access_review_items SET decision = $3, decided_by = $4, decided_at = $5 \
                 WHERE review_id = $1 AND assignment_id = $2 AND decision IS NULL")
                .bind(review_id).bind(assignment_id).bind(decision).bind(by).bind(at)
                .execute(&mut *tx).await?.rows_affected();
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM access_review_items WHERE review_id = $1 AND decision IS NULL")
                .bind(review_id).fetch_one(&mut *tx).await?;
            if open == 0 {
                sqlx::query("UPDATE access_reviews SET completed_at = $2 WHERE id = $1 AND completed_at IS NULL")
                    .bind(review_id).bind(at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            n > 0
        }))
    }

    /// Patients admitted now to a department.
    pub async fn count_current_patients(&self, department_id: &str) -> Result<i64> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM care_episodes WHERE department_id = $1 AND ended_at IS NULL")
            .bind(department_id).fetch_one(pool).await)?)
    }

    /// Patients who left a department after `since` (its read window).
    pub async fn count_recent_patients(&self, department_id: &str, since: i64) -> Result<i64> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(DISTINCT patient_id) FROM care_episodes WHERE department_id = $1 AND ended_at IS NOT NULL AND ended_at > $2")
            .bind(department_id).bind(since).fetch_one(pool).await)?)
    }

    /// Patients with a test open (or closed after `since`) in a laboratory.
    pub async fn count_test_patients(&self, department_id: &str, since: i64) -> Result<i64> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(DISTINCT patient_id) FROM tests WHERE laboratory_department_id = $1 AND (closed_at IS NULL OR closed_at > $2)")
            .bind(department_id).bind(since).fetch_one(pool).await)?)
    }
}
