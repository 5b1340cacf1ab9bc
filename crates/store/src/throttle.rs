//! Counters of failed sign-in attempts, and the addresses a person has signed in from.
//!
//! An attempt is counted *before* its credential is checked, by one atomic upsert that also
//! sets when the next attempt is allowed; a counter whose delay has not passed refuses the
//! attempt. So a burst of simultaneous attempts cannot slip past the throttle: each one moves
//! the counter on, and the first one over the allowance closes the door for the others.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailureRow {
    pub key: String,
    pub failures: i64,
    pub last_failure: i64,
    pub next_allowed_at: i64,
}

/// The delay after the n-th consecutive failure, as data the database can apply.
#[derive(Debug, Clone)]
pub struct DelaySchedule {
    /// Failures with no delay.
    pub free: u32,
    /// `(n, seconds)` for the failures between the allowance and the cap, in order.
    pub steps: Vec<(u32, i64)>,
    /// Delay from the last step on.
    pub max: i64,
}

impl DelaySchedule {
    /// A portable SQL expression for the delay after `n` failures (`n` is an SQL expression).
    fn delay_sql(&self, n: &str) -> String {
        let mut sql = format!("CASE WHEN {n} <= {} THEN 0", self.free);
        for (count, delay) in &self.steps {
            sql.push_str(&format!(" WHEN {n} = {count} THEN {delay}"));
        }
        sql.push_str(&format!(" ELSE {} END", self.max));
        sql
    }
}

impl Store {
    pub async fn failures(&self, key: &str) -> Result<Option<FailureRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT key, failures, last_failure, next_allowed_at FROM sign_in_failures WHERE key = $1")
            .bind(key).fetch_optional(pool).await)?)
    }

    /// Count one attempt on `key` at `now`. With `only_if_allowed`, the attempt is counted only
    /// when the counter's delay has passed, and `None` means "refused, must wait". A counter
    /// quiet since before `quiet_since` starts again from one. Returns the new count.
    pub async fn count_attempt(
        &self,
        key: &str,
        now: i64,
        quiet_since: i64,
        schedule: &DelaySchedule,
        only_if_allowed: bool,
    ) -> Result<Option<i64>> {
        let next = "CASE WHEN sign_in_failures.last_failure < $3 THEN 1 ELSE sign_in_failures.failures + 1 END";
        let guard = if only_if_allowed {
            "WHERE sign_in_failures.next_allowed_at <= $2"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO sign_in_failures (key, failures, last_failure, next_allowed_at) VALUES ($1, 1, $2, $2 + ({first})) \
             ON CONFLICT (key) DO UPDATE SET failures = {next}, last_failure = $2, next_allowed_at = $2 + ({delay}) \
             {guard} RETURNING failures",
            first = schedule.delay_sql("1"),
            delay = schedule.delay_sql(&format!("({next})")),
        );
        Ok(on_pool!(self, pool => sqlx::query_scalar(&sql)
            .bind(key).bind(now).bind(quiet_since).fetch_optional(pool).await)?)
    }

    /// Take back one counted attempt (it succeeded).
    pub async fn uncount_attempt(&self, key: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE sign_in_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0")
            .bind(key).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn clear_failures(&self, key: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM sign_in_failures WHERE key = $1").bind(key).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn is_known_address(&self, user_id: &str, address: &str) -> Result<bool> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM known_sign_in_addresses WHERE user_id = $1 AND address = $2")
            .bind(user_id).bind(address).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    pub async fn remember_address(&self, user_id: &str, address: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO known_sign_in_addresses (user_id, address, last_success) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, address) DO UPDATE SET last_success = excluded.last_success")
            .bind(user_id).bind(address).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
