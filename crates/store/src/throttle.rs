//! Counters of consecutive failed sign-ins, and the addresses a person has signed in from.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailureRow {
    pub key: String,
    pub failures: i64,
    pub last_failure: i64,
}

impl Store {
    pub async fn failures(&self, key: &str) -> Result<Option<FailureRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT key, failures, last_failure FROM sign_in_failures WHERE key = $1")
            .bind(key).fetch_optional(pool).await)?)
    }

    /// Count one more failure; returns the new count.
    pub async fn record_failure(&self, key: &str, now: i64) -> Result<i64> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO sign_in_failures (key, failures, last_failure) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET failures = sign_in_failures.failures + 1, last_failure = excluded.last_failure \
             RETURNING failures")
            .bind(key).bind(now).fetch_one(pool).await)?)
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
