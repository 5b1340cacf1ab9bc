//! Patient space accounts and sessions. Passwords are argon2 digests, the authenticator-app
//! secret and a method being set up are sealed by the caller, session tokens and one-time
//! codes are stored as digests. Counting a code's tries and spending a session's token are
//! single statements, so parallel requests cannot exceed a limit or use a token twice.

use crate::{conflict_on_unique, on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PatientAccountRow {
    pub id: String,
    pub patient_id: String,
    pub model: String,
    pub test_id: Option<String>,
    pub episode_id: Option<String>,
    pub status: String,
    pub password_hash: Option<String>,
    pub second_factor: Option<String>,
    pub factor_contact_id: Option<String>,
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// For a proxy's account: the approved proxy access it uses.
    pub proxy_id: Option<String>,
    /// The printed account ID (per patient and per visit), which the patient signs in with.
    pub reference: Option<String>,
    /// The passkey, when that is the second factor.
    pub passkey_json: Option<String>,
}

const ACCOUNT_COLUMNS: &str = "id, patient_id, model, test_id, episode_id, status, password_hash, \
     second_factor, factor_contact_id, totp_sealed, totp_last_step, created_at, activated_at, \
     closed_at, proxy_id, reference, passkey_json";

/// How a patient will sign in, as set up and confirmed.
#[derive(Debug, Clone)]
pub struct PatientSignInMethod {
    /// `None` for a passkey alone (no password).
    pub password_hash: Option<String>,
    pub second_factor: String,
    pub factor_contact_id: Option<String>,
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub passkey_json: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PatientSessionRow {
    pub id: String,
    pub token_digest: String,
    pub account_id: String,
    pub state: String,
    pub csrf_token: String,
    pub code_digest: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_attempts: i64,
    pub codes_sent: i64,
    pub last_code_sent_at: Option<i64>,
    pub pending: Option<Vec<u8>>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub stepped_up_at: Option<i64>,
    pub client_address: String,
    pub user_agent: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

const SESSION_COLUMNS: &str = "id, token_digest, account_id, state, csrf_token, code_digest, \
     code_expires_at, code_attempts, codes_sent, last_code_sent_at, pending, created_at, \
     last_seen_at, stepped_up_at, client_address, user_agent, ended_at, end_reason";

impl Store {
    /// Record a new account. `Conflict` if the test already has one.
    pub async fn insert_patient_account(&self, a: &PatientAccountRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO patient_accounts ({ACCOUNT_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, NULL, NULL, $7, NULL, NULL, $8, $9, NULL)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&a.id).bind(&a.patient_id).bind(&a.model).bind(&a.test_id)
            .bind(&a.episode_id).bind(&a.status).bind(a.created_at).bind(&a.proxy_id)
            .bind(&a.reference)
            .execute(pool).await.map(|_| ()))
        .map_err(|e| {
            conflict_on_unique(e, "patient account (test, visit, patient or reference)")
        })?;
        Ok(())
    }

    pub async fn patient_account(&self, id: &str) -> Result<Option<PatientAccountRow>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM patient_accounts WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn patient_account_for_test(
        &self,
        test_id: &str,
    ) -> Result<Option<PatientAccountRow>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM patient_accounts WHERE test_id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(test_id).fetch_optional(pool).await)?)
    }

    pub async fn patient_account_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<PatientAccountRow>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM patient_accounts WHERE reference = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(reference).fetch_optional(pool).await)?)
    }

    /// The patient's lasting (per-patient) account.
    pub async fn per_patient_account(&self, patient_id: &str) -> Result<Option<PatientAccountRow>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM patient_accounts WHERE patient_id = $1 AND model = 'per_patient'"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).fetch_optional(pool).await)?,
        )
    }

    /// The account of one stay (per visit).
    pub async fn patient_account_for_episode(
        &self,
        episode_id: &str,
    ) -> Result<Option<PatientAccountRow>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM patient_accounts WHERE episode_id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(episode_id).fetch_optional(pool).await)?,
        )
    }

    pub async fn patient_account_for_proxy(
        &self,
        proxy_id: &str,
    ) -> Result<Option<PatientAccountRow>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM patient_accounts WHERE proxy_id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(proxy_id).fetch_optional(pool).await)?)
    }

    /// Close an account for good (its proxy access was revoked or ended).
    pub async fn close_patient_account(&self, id: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE patient_accounts SET status = 'closed', closed_at = $2 \
             WHERE id = $1 AND status <> 'closed'")
            .bind(id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Put an account back to activation (a new slip was redeemed: the patient sets up their
    /// sign-in again), forgetting the old method.
    pub async fn restart_patient_account(&self, id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE patient_accounts SET status = 'activating', password_hash = NULL, \
             second_factor = NULL, factor_contact_id = NULL, totp_sealed = NULL, \
             totp_last_step = NULL, passkey_json = NULL WHERE id = $1 AND status <> 'closed'")
            .bind(id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Store a confirmed sign-in method and make the account active.
    /// Store a confirmed sign-in method and make the account active, only while the session
    /// that confirmed it is still open under the token it was checked with (so a session ended
    /// at the same moment cannot set a password).
    pub async fn set_patient_sign_in_method(
        &self,
        id: &str,
        m: &PatientSignInMethod,
        now: i64,
        session_id: &str,
        token_digest: &str,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_accounts SET status = 'active', password_hash = $2, \
             second_factor = $3, factor_contact_id = $4, totp_sealed = $5, totp_last_step = $6, \
             passkey_json = $10, activated_at = COALESCE(activated_at, $7) \
             WHERE id = $1 AND status <> 'closed' \
             AND EXISTS (SELECT 1 FROM patient_sessions WHERE id = $8 AND account_id = $1 \
             AND token_digest = $9 AND ended_at IS NULL)")
            .bind(id).bind(&m.password_hash).bind(&m.second_factor).bind(&m.factor_contact_id)
            .bind(&m.totp_sealed).bind(m.totp_last_step).bind(now).bind(session_id)
            .bind(token_digest).bind(&m.passkey_json)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Replace the password (a recovery), only while the session that proved the factors is
    /// still open under the token it was checked with.
    pub async fn set_patient_password(
        &self,
        id: &str,
        password_hash: &str,
        session_id: &str,
        token_digest: &str,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_accounts SET password_hash = $2 WHERE id = $1 AND status = 'active' \
             AND EXISTS (SELECT 1 FROM patient_sessions WHERE id = $3 AND account_id = $1 \
             AND token_digest = $4 AND ended_at IS NULL)")
            .bind(id).bind(password_hash).bind(session_id).bind(token_digest)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Save the passkey again after a use (its counter moved).
    pub async fn update_patient_passkey(&self, id: &str, passkey_json: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE patient_accounts SET passkey_json = $2 WHERE id = $1 AND passkey_json IS NOT NULL")
            .bind(id).bind(passkey_json).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Record the authenticator-app time step just used, if it is later than the last one
    /// (false: the code was already used).
    pub async fn use_patient_totp_step(&self, id: &str, step: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_accounts SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)")
            .bind(id).bind(step).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn insert_patient_session(&self, s: &PatientSessionRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO patient_sessions ({SESSION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, NULL, NULL, 0, 0, NULL, NULL, $6, $7, $8, $9, $10, NULL, NULL)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&s.id).bind(&s.token_digest).bind(&s.account_id).bind(&s.state)
            .bind(&s.csrf_token).bind(s.created_at).bind(s.last_seen_at).bind(s.stepped_up_at)
            .bind(&s.client_address).bind(&s.user_agent)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn patient_session_by_digest(
        &self,
        digest: &str,
    ) -> Result<Option<PatientSessionRow>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM patient_sessions WHERE token_digest = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(digest).fetch_optional(pool).await)?)
    }

    pub async fn patient_session(&self, id: &str) -> Result<Option<PatientSessionRow>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM patient_sessions WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Open sessions of an account, newest first.
    pub async fn open_patient_sessions(&self, account_id: &str) -> Result<Vec<PatientSessionRow>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM patient_sessions WHERE account_id = $1 \
             AND ended_at IS NULL ORDER BY created_at DESC, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(account_id).fetch_all(pool).await)?)
    }

    pub async fn touch_patient_session(&self, id: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE patient_sessions SET last_seen_at = $1 \
             WHERE id = $2 AND last_seen_at < $1 AND ended_at IS NULL")
            .bind(now).bind(id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Give a session a new token, CSRF token and state, clearing its code and pending
    /// method. Only the holder of the current token can (of two racing requests, one wins).
    pub async fn rotate_patient_session(
        &self,
        id: &str,
        old_digest: &str,
        new_digest: &str,
        new_csrf: &str,
        state: &str,
        stepped_up_at: Option<i64>,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_sessions SET token_digest = $1, csrf_token = $2, state = $3, \
             stepped_up_at = COALESCE($4, stepped_up_at), code_digest = NULL, \
             code_expires_at = NULL, code_attempts = 0, codes_sent = 0, \
             last_code_sent_at = NULL, pending = NULL \
             WHERE id = $5 AND token_digest = $6 AND ended_at IS NULL")
            .bind(new_digest).bind(new_csrf).bind(state).bind(stepped_up_at).bind(id)
            .bind(old_digest).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Keep the sealed method being set up (or clear it).
    pub async fn set_patient_session_pending(
        &self,
        id: &str,
        pending: Option<&[u8]>,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE patient_sessions SET pending = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id).bind(pending).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Record a newly sent code for this session, replacing any before, if fewer than
    /// `max_codes` were sent and the last one is at least `gap` seconds old. False when a
    /// limit stops it.
    pub async fn set_patient_session_code(
        &self,
        id: &str,
        digest: &str,
        expires_at: i64,
        now: i64,
        max_codes: i64,
        gap: i64,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_sessions SET code_digest = $2, code_expires_at = $3, code_attempts = 0, \
             codes_sent = codes_sent + 1, last_code_sent_at = $4 \
             WHERE id = $1 AND ended_at IS NULL AND codes_sent < $5 \
             AND (last_code_sent_at IS NULL OR last_code_sent_at <= $4 - $6)")
            .bind(id).bind(digest).bind(expires_at).bind(now).bind(max_codes).bind(gap)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Take one of the current code's `limit` tries; returns the tries used, or `None` when
    /// none is left or no code is pending.
    pub async fn take_patient_code_try(&self, id: &str, limit: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(
            "UPDATE patient_sessions SET code_attempts = code_attempts + 1 \
             WHERE id = $1 AND code_digest IS NOT NULL AND code_attempts < $2 \
             AND ended_at IS NULL RETURNING code_attempts")
            .bind(id).bind(limit).fetch_optional(pool).await)?;
        Ok(row.map(|(n,)| n))
    }

    /// Move a session's pending step from `old` to `new` and spend its code, in one
    /// statement: of two requests proving the same step at once, one moves it; the other
    /// finds nothing to move (false).
    pub async fn advance_patient_pending(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_sessions SET pending = $3, code_digest = NULL, code_expires_at = NULL, \
             code_attempts = 0, codes_sent = 0, last_code_sent_at = NULL \
             WHERE id = $1 AND pending = $2 AND ended_at IS NULL")
            .bind(id).bind(old).bind(new).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Take one of a sign-in's `limit` tries at an authenticator-app code (which is not sent,
    /// so has no digest here); `None` when none is left.
    pub async fn take_patient_factor_try(&self, id: &str, limit: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(
            "UPDATE patient_sessions SET code_attempts = code_attempts + 1 \
             WHERE id = $1 AND code_attempts < $2 AND ended_at IS NULL RETURNING code_attempts")
            .bind(id).bind(limit).fetch_optional(pool).await)?;
        Ok(row.map(|(n,)| n))
    }

    /// End a session; true if it was open.
    pub async fn end_patient_session(&self, id: &str, reason: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_sessions SET ended_at = $1, end_reason = $2, code_digest = NULL, \
             pending = NULL WHERE id = $3 AND ended_at IS NULL")
            .bind(now).bind(reason).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// End every open session of an account except `keep`; returns the ids ended.
    pub async fn end_patient_sessions_of(
        &self,
        account_id: &str,
        keep: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "UPDATE patient_sessions SET ended_at = $1, end_reason = $2, code_digest = NULL, \
             pending = NULL WHERE account_id = $3 AND ended_at IS NULL AND ($4 IS NULL OR id <> $4) \
             RETURNING id")
            .bind(now).bind(reason).bind(account_id).bind(keep).fetch_all(pool).await)?)
    }
}
