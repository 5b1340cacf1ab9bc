//! Staff accounts.

use crate::{conflict_on_unique, on_pool, Result, Store};

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Created; the person has not finished enrolment (password and a second factor).
    Enrolling,
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Enrolling => "enrolling",
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enrolling" => Some(UserStatus::Enrolling),
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub status: String,
    pub password_hash: Option<String>,
    pub password_locked: i64,
    pub one_session_only: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, email, display_name, role, status, password_hash, password_locked, one_session_only, created_at, updated_at";

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await)?,
        )
    }

    pub async fn insert_user(&self, u: &UserRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, email, display_name, role, status, password_hash, password_locked, one_session_only, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(&u.id).bind(&u.email).bind(&u.display_name).bind(&u.role).bind(&u.status)
            .bind(&u.password_hash).bind(u.password_locked).bind(u.one_session_only)
            .bind(u.created_at).bind(u.updated_at)
            .execute(pool).await.map(|r| r.rows_affected()))
        .map_err(|e| conflict_on_unique(e, "e-mail address"))?;
        Ok(())
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(email).fetch_optional(pool).await)?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY email");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
    }

    pub async fn set_password_hash(&self, user_id: &str, hash: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash).bind(now).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn set_user_status(&self, user_id: &str, status: UserStatus, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str()).bind(now).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn set_user_role(&self, user_id: &str, role: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role).bind(now).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn set_password_locked(&self, user_id: &str, locked: bool, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET password_locked = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(locked)).bind(now).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Remove everything a person set up during an unfinished enrolment and end their
    /// enrolling sessions, in one transaction. Only acts on accounts still enrolling.
    pub async fn reset_enrolment(&self, user_id: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let enrolling: Option<String> = sqlx::query_scalar("SELECT status FROM users WHERE id = $1 AND status = 'enrolling'")
                .bind(user_id).fetch_optional(&mut *tx).await?;
            if enrolling.is_some() {
                for sql in [
                    "DELETE FROM passkeys WHERE user_id = $1",
                    "DELETE FROM totp_credentials WHERE user_id = $1",
                    "DELETE FROM recovery_codes WHERE user_id = $1",
                    "UPDATE users SET password_hash = NULL WHERE id = $1",
                ] {
                    sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
                }
                sqlx::query("UPDATE sessions SET ended_at = $1, end_reason = 'enrolment_restarted', ceremony = NULL WHERE user_id = $2 AND ended_at IS NULL")
                    .bind(now).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
