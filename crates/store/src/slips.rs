//! Access slips for the patient space, and the short references printed as tests' IDs.
//! Secrets are stored as digests only; counting wrong attempts and voiding a slip are single
//! statements, so concurrent attempts cannot exceed the limit.

use crate::{conflict_on_unique, on_pool, Result, Store, TestRow};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlipRow {
    pub id: String,
    /// The test it opens (a per-test account), or
    pub test_id: Option<String>,
    /// the account it opens (per patient or per visit).
    pub account_id: Option<String>,
    pub patient_id: String,
    pub secret_digest: String,
    pub state: String,
    pub failed_attempts: i64,
    pub void_reason: Option<String>,
    pub identity_check: String,
    pub issued_by: String,
    pub issued_at: i64,
    pub ended_at: Option<i64>,
}

const SLIP_COLUMNS: &str = "id, test_id, account_id, patient_id, secret_digest, state, \
     failed_attempts, void_reason, identity_check, issued_by, issued_at, ended_at";

/// What a wrong secret did to a slip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedAttempt {
    /// Still active, with this many wrong attempts so far.
    Counted(i64),
    /// This attempt reached the limit: the slip is now void.
    Voided,
    /// The slip was no longer active.
    NotActive,
}

impl Store {
    pub async fn test_row(&self, id: &str) -> Result<Option<TestRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, patient_id, laboratory_department_id, ordered_by, created_at, closed_at \
             FROM tests WHERE id = $1")
            .bind(id).fetch_optional(pool).await)?)
    }

    /// The test's printed reference, if it has one.
    pub async fn test_reference(&self, test_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT reference FROM tests WHERE id = $1")
            .bind(test_id).fetch_optional(pool).await)?;
        Ok(row.and_then(|(r,)| r))
    }

    /// Give a test `reference` unless it has one. `Conflict` if another test holds it.
    pub async fn assign_test_reference(&self, test_id: &str, reference: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE tests SET reference = $2 WHERE id = $1 AND reference IS NULL")
            .bind(test_id).bind(reference).execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "test reference"))?;
        Ok(())
    }

    pub async fn test_by_reference(&self, reference: &str) -> Result<Option<TestRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, patient_id, laboratory_department_id, ordered_by, created_at, closed_at \
             FROM tests WHERE reference = $1")
            .bind(reference).fetch_optional(pool).await)?)
    }

    /// Record a new slip, voiding the active one for the same test or account (if any) as
    /// replaced, in one transaction. Returns how many slips it replaced (0 or 1).
    pub async fn issue_slip(&self, slip: &SlipRow) -> Result<u64> {
        let insert = format!(
            "INSERT INTO access_slips ({SLIP_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, 'active', 0, NULL, $6, $7, $8, NULL)"
        );
        let replaced = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let replaced = sqlx::query(
                "UPDATE access_slips SET state = 'void', void_reason = 'replaced', ended_at = $3 \
                 WHERE state = 'active' AND (test_id = $1 OR account_id = $2)")
                .bind(&slip.test_id).bind(&slip.account_id).bind(slip.issued_at)
                .execute(&mut *tx).await?.rows_affected();
            sqlx::query(&insert)
                .bind(&slip.id).bind(&slip.test_id).bind(&slip.account_id).bind(&slip.patient_id)
                .bind(&slip.secret_digest).bind(&slip.identity_check).bind(&slip.issued_by)
                .bind(slip.issued_at)
                .execute(&mut *tx).await
                .map_err(|e| conflict_on_unique(e, "active access slip"))?;
            tx.commit().await?;
            replaced
        });
        Ok(replaced)
    }

    /// The account's active slip (per patient or per visit).
    pub async fn active_account_slip(&self, account_id: &str) -> Result<Option<SlipRow>> {
        let sql = format!(
            "SELECT {SLIP_COLUMNS} FROM access_slips WHERE account_id = $1 AND state = 'active'"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(account_id).fetch_optional(pool).await)?,
        )
    }

    /// The test's active slip.
    pub async fn active_slip(&self, test_id: &str) -> Result<Option<SlipRow>> {
        let sql = format!(
            "SELECT {SLIP_COLUMNS} FROM access_slips WHERE test_id = $1 AND state = 'active'"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(test_id).fetch_optional(pool).await)?)
    }

    pub async fn slips_of_test(&self, test_id: &str) -> Result<Vec<SlipRow>> {
        let sql = format!(
            "SELECT {SLIP_COLUMNS} FROM access_slips WHERE test_id = $1 ORDER BY issued_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(test_id).fetch_all(pool).await)?)
    }

    /// Count a wrong secret against an active slip; the `limit`-th voids it.
    pub async fn slip_failed_attempt(
        &self,
        slip_id: &str,
        limit: i64,
        now: i64,
    ) -> Result<FailedAttempt> {
        let row: Option<(i64, String)> = on_pool!(self, pool => sqlx::query_as(
            "UPDATE access_slips SET failed_attempts = failed_attempts + 1, \
               state = CASE WHEN failed_attempts + 1 >= $2 THEN 'void' ELSE state END, \
               void_reason = CASE WHEN failed_attempts + 1 >= $2 THEN 'too_many_attempts' ELSE void_reason END, \
               ended_at = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE ended_at END \
             WHERE id = $1 AND state = 'active' RETURNING failed_attempts, state")
            .bind(slip_id).bind(limit).bind(now).fetch_optional(pool).await)?;
        Ok(match row {
            None => FailedAttempt::NotActive,
            Some((_, state)) if state == "void" => FailedAttempt::Voided,
            Some((n, _)) => FailedAttempt::Counted(n),
        })
    }

    /// Mark an active slip used. False if it was no longer active (used or voided meanwhile).
    pub async fn use_slip(&self, slip_id: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE access_slips SET state = 'used', ended_at = $2 WHERE id = $1 AND state = 'active'")
            .bind(slip_id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Void an active slip for `reason` (an invitation past its days, say).
    pub async fn void_slip(&self, slip_id: &str, reason: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE access_slips SET state = 'void', void_reason = $2, ended_at = $3 \
             WHERE id = $1 AND state = 'active'")
            .bind(slip_id).bind(reason).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
