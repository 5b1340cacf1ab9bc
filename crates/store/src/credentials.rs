//! Second factors: TOTP secrets (sealed), passkeys, recovery-code digests.

use crate::{conflict_on_unique, on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub user_id: String,
    pub sealed_secret: Vec<u8>,
    pub confirmed: i64,
    pub last_used_step: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub credential_id: String,
    pub passkey_json: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Store {
    /// Store a new, unconfirmed TOTP secret, replacing any unconfirmed one. A confirmed secret
    /// is never replaced here (it must be removed first, which needs step-up).
    pub async fn put_pending_totp(&self, user_id: &str, sealed: &[u8], now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "INSERT INTO totp_credentials (user_id, sealed_secret, confirmed, last_used_step, created_at) VALUES ($1, $2, 0, NULL, $3) \
             ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at \
             WHERE totp_credentials.confirmed = 0")
            .bind(user_id).bind(sealed).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn totp_for(&self, user_id: &str) -> Result<Option<TotpRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT user_id, sealed_secret, confirmed, last_used_step, created_at FROM totp_credentials WHERE user_id = $1")
            .bind(user_id).fetch_optional(pool).await)?)
    }

    /// Record that the code for `step` was accepted, only if it is later than the last accepted
    /// step. Returns false when another request already used this or a later step (replay).
    /// Also marks the secret confirmed.
    pub async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE totp_credentials SET last_used_step = $1, confirmed = 1 \
             WHERE user_id = $2 AND (last_used_step IS NULL OR last_used_step < $1)")
            .bind(step).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn delete_totp(&self, user_id: &str) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1")
            .bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn insert_passkey(&self, row: &PasskeyRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO passkeys (id, user_id, name, credential_id, passkey_json, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&row.id).bind(&row.user_id).bind(&row.name).bind(&row.credential_id)
            .bind(&row.passkey_json).bind(row.created_at).bind(row.last_used_at)
            .execute(pool).await.map(|r| r.rows_affected()))
        .map_err(|e| conflict_on_unique(e, "passkey"))?;
        Ok(())
    }

    pub async fn passkeys_for(&self, user_id: &str) -> Result<Vec<PasskeyRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, name, credential_id, passkey_json, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, id")
            .bind(user_id).fetch_all(pool).await)?)
    }

    pub async fn update_passkey_after_use(
        &self,
        id: &str,
        passkey_json: &str,
        now: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE passkeys SET passkey_json = $1, last_used_at = $2 WHERE id = $3")
            .bind(passkey_json).bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn delete_passkey(&self, user_id: &str, id: &str) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Replace a person's recovery codes with new digests, in one transaction.
    pub async fn replace_recovery_codes(&self, user_id: &str, digests: &[String]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            for d in digests {
                sqlx::query("INSERT INTO recovery_codes (user_id, digest, used_at) VALUES ($1, $2, NULL)")
                    .bind(user_id).bind(d).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Spend a recovery code: true only for an unused code of this person, exactly once.
    pub async fn use_recovery_code(&self, user_id: &str, digest: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND digest = $3 AND used_at IS NULL")
            .bind(now).bind(user_id).bind(digest).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn unused_recovery_codes(&self, user_id: &str) -> Result<i64> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id).fetch_one(pool).await)?)
    }
}
