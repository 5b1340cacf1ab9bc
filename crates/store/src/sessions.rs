//! Server-side sessions. The cookie carries a random token; only its digest is stored.
//! Ended sessions are kept with the reason, so a person whose session was replaced or ended
//! is told why.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub token_digest: String,
    pub user_id: String,
    pub state: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub stepped_up_at: Option<i64>,
    pub client_address: String,
    pub user_agent: String,
    /// A sealed WebAuthn ceremony state (registration or authentication) awaiting its answer.
    pub ceremony: Option<Vec<u8>>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

const COLUMNS: &str = "id, token_digest, user_id, state, csrf_token, created_at, last_seen_at, stepped_up_at, client_address, user_agent, ceremony, ended_at, end_reason";

impl Store {
    pub async fn insert_session(&self, s: &SessionRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO sessions (id, token_digest, user_id, state, csrf_token, created_at, last_seen_at, stepped_up_at, client_address, user_agent, ceremony, ended_at, end_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)")
            .bind(&s.id).bind(&s.token_digest).bind(&s.user_id).bind(&s.state).bind(&s.csrf_token)
            .bind(s.created_at).bind(s.last_seen_at).bind(s.stepped_up_at)
            .bind(&s.client_address).bind(&s.user_agent).bind(&s.ceremony)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn session_by_digest(&self, digest: &str) -> Result<Option<SessionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM sessions WHERE token_digest = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(digest).fetch_optional(pool).await)?)
    }

    /// Sessions of one person that have not ended, newest first.
    pub async fn open_sessions_for(&self, user_id: &str) -> Result<Vec<SessionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at DESC, id");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await)?)
    }

    /// Record activity, at most once a second per session to spare the database.
    pub async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1 AND ended_at IS NULL")
            .bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Give a session a new token, CSRF token and state, as at every sign-in step and step-up,
    /// so a token seen before the change is worthless after it. Only the holder of the current
    /// token can rotate (two requests racing with the same old token: one wins).
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate_session(
        &self,
        id: &str,
        old_digest: &str,
        new_digest: &str,
        new_csrf: &str,
        state: &str,
        stepped_up_at: Option<i64>,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE sessions SET token_digest = $1, csrf_token = $2, state = $3, stepped_up_at = COALESCE($4, stepped_up_at) \
             WHERE id = $5 AND token_digest = $6 AND ended_at IS NULL")
            .bind(new_digest).bind(new_csrf).bind(state).bind(stepped_up_at).bind(id).bind(old_digest)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn set_session_ceremony(&self, id: &str, ceremony: Option<&[u8]>) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE sessions SET ceremony = $1 WHERE id = $2")
            .bind(ceremony).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Take (read and clear) a session's pending WebAuthn ceremony, so each is answered once:
    /// the clear is a compare-and-set on the value read, so of two racing callers one wins.
    pub async fn take_session_ceremony(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let current: Option<Option<Vec<u8>>> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT ceremony FROM sessions WHERE id = $1")
            .bind(id).fetch_optional(pool).await)?;
        let Some(ceremony) = current.flatten() else {
            return Ok(None);
        };
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE sessions SET ceremony = NULL WHERE id = $1 AND ceremony = $2")
            .bind(id).bind(&ceremony).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok((done == 1).then_some(ceremony))
    }

    /// End a session; true if it was open.
    pub async fn end_session(&self, id: &str, reason: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2, ceremony = NULL WHERE id = $3 AND ended_at IS NULL")
            .bind(now).bind(reason).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// End every open session of a person except `keep`; returns the ids ended.
    pub async fn end_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "UPDATE sessions SET ended_at = $1, end_reason = $2, ceremony = NULL \
             WHERE user_id = $3 AND ended_at IS NULL AND ($4 IS NULL OR id <> $4) RETURNING id")
            .bind(now).bind(reason).bind(user_id).bind(keep).fetch_all(pool).await)?)
    }
}
