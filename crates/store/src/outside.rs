//! Outside recipients: people without an account, known by an e-mail address (stored sealed,
//! found again by a keyed digest), their invitations to threads (a link reference and a
//! verification method, with codes stored as digests) and their sessions.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutsideRecipientRow {
    pub id: String,
    pub address_index: String,
    pub address_sealed: Vec<u8>,
    pub remembered_method: Option<String>,
    pub phone_sealed: Option<Vec<u8>>,
    pub created_at: i64,
    pub last_verified_at: Option<i64>,
}

const RECIPIENT_COLUMNS: &str =
    "id, address_index, address_sealed, remembered_method, phone_sealed, created_at, last_verified_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutsideInvitationRow {
    pub id: String,
    pub reference_digest: String,
    pub recipient_id: String,
    pub thread_id: String,
    pub method: String,
    pub phone_sealed: Option<Vec<u8>>,
    pub access_code_digest: Option<String>,
    pub code_digest: Option<String>,
    pub code_expires_at: Option<i64>,
    pub codes_sent: i64,
    pub last_code_at: Option<i64>,
    pub failures: i64,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const INVITATION_COLUMNS: &str = "id, reference_digest, recipient_id, thread_id, method, phone_sealed, access_code_digest, code_digest, code_expires_at, codes_sent, last_code_at, failures, created_by, created_at, revoked_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutsideSessionRow {
    pub digest: String,
    pub invitation_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub verified_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl Store {
    /// The outside recipient with this address digest, made on first use (another request
    /// making the same one meanwhile is harmless: the first row wins).
    pub async fn outside_recipient_for(
        &self,
        fresh: &OutsideRecipientRow,
    ) -> Result<OutsideRecipientRow> {
        on_pool!(self, pool => sqlx::query(&format!(
            "INSERT INTO outside_recipients ({RECIPIENT_COLUMNS}) VALUES ($1, $2, $3, NULL, NULL, $4, NULL) \
             ON CONFLICT (address_index) DO NOTHING"
        )).bind(&fresh.id).bind(&fresh.address_index).bind(&fresh.address_sealed).bind(fresh.created_at)
        .execute(pool).await.map(|_| ()))?;
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM outside_recipients WHERE address_index = $1"
        )).bind(&fresh.address_index).fetch_one(pool).await)?)
    }

    pub async fn outside_recipient_by_index(
        &self,
        address_index: &str,
    ) -> Result<Option<OutsideRecipientRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM outside_recipients WHERE address_index = $1"
        )).bind(address_index).fetch_optional(pool).await)?)
    }

    /// A new link reference for an invitation; the older link stops working.
    pub async fn renew_outside_reference(&self, invitation_id: &str, digest: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outside_invitations SET reference_digest = $2 WHERE id = $1"
        ).bind(invitation_id).bind(digest).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The invitations of a recipient that still work.
    pub async fn outside_invitations_of(
        &self,
        recipient_id: &str,
    ) -> Result<Vec<OutsideInvitationRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM outside_invitations WHERE recipient_id = $1 AND revoked_at IS NULL"
        )).bind(recipient_id).fetch_all(pool).await)?)
    }

    pub async fn outside_recipient(&self, id: &str) -> Result<Option<OutsideRecipientRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM outside_recipients WHERE id = $1"
        )).bind(id).fetch_optional(pool).await)?)
    }

    /// Remember the method that worked (and for SMS the number).
    pub async fn remember_outside_method(
        &self,
        id: &str,
        method: &str,
        phone_sealed: Option<&[u8]>,
        at: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outside_recipients SET remembered_method = $2, \
             phone_sealed = CASE WHEN $2 = 'sms' THEN $3 ELSE phone_sealed END, last_verified_at = $4 \
             WHERE id = $1"
        ).bind(id).bind(method).bind(phone_sealed).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Store an invitation, replacing an earlier one of the same recipient to the same thread
    /// (a new link and method; the old link stops working).
    pub async fn put_outside_invitation(&self, i: &OutsideInvitationRow) -> Result<String> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(PUT_INVITATION)
            .bind(&i.id).bind(&i.reference_digest).bind(&i.recipient_id).bind(&i.thread_id)
            .bind(&i.method).bind(&i.phone_sealed).bind(&i.access_code_digest).bind(&i.created_by)
            .bind(i.created_at).fetch_one(pool).await)?)
    }

    pub async fn outside_invitation_by_reference(
        &self,
        reference_digest: &str,
    ) -> Result<Option<OutsideInvitationRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM outside_invitations WHERE reference_digest = $1"
        )).bind(reference_digest).fetch_optional(pool).await)?)
    }

    pub async fn outside_invitation(&self, id: &str) -> Result<Option<OutsideInvitationRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM outside_invitations WHERE id = $1"
        )).bind(id).fetch_optional(pool).await)?)
    }

    /// The invitation of a recipient to a thread.
    pub async fn outside_invitation_to(
        &self,
        recipient_id: &str,
        thread_id: &str,
    ) -> Result<Option<OutsideInvitationRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM outside_invitations WHERE recipient_id = $1 AND thread_id = $2"
        )).bind(recipient_id).bind(thread_id).fetch_optional(pool).await)?)
    }

    /// Record a code sent for an invitation, if fewer than `max` were sent and the last one
    /// at least `gap` seconds ago. False otherwise (nothing is sent).
    pub async fn set_outside_code(
        &self,
        invitation_id: &str,
        digest: &str,
        expires_at: i64,
        now: i64,
        max: i64,
        gap: i64,
    ) -> Result<bool> {
        let changed = on_pool!(self, pool => sqlx::query(
            "UPDATE outside_invitations SET code_digest = $2, code_expires_at = $3, \
             codes_sent = codes_sent + 1, last_code_at = $4 \
             WHERE id = $1 AND revoked_at IS NULL AND codes_sent < $5 \
             AND (last_code_at IS NULL OR last_code_at <= $4 - $6)"
        ).bind(invitation_id).bind(digest).bind(expires_at).bind(now).bind(max).bind(gap)
        .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    /// Count a wrong code, in one statement; returns the failures so far, or None if the
    /// invitation is already locked (`max` failures) or revoked.
    pub async fn take_outside_try(&self, invitation_id: &str, max: i64) -> Result<Option<i64>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "UPDATE outside_invitations SET failures = failures + 1 \
             WHERE id = $1 AND revoked_at IS NULL AND failures < $2 RETURNING failures"
        ).bind(invitation_id).bind(max).fetch_optional(pool).await)?)
    }

    /// A verification succeeded: wrong codes are forgiven, the sent code is spent.
    pub async fn outside_verified(&self, invitation_id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outside_invitations SET failures = 0, code_digest = NULL, code_expires_at = NULL, \
             codes_sent = 0 WHERE id = $1"
        ).bind(invitation_id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Revoke the invitations to a thread of the recipients removed from it.
    pub async fn revoke_outside_invitation(
        &self,
        recipient_id: &str,
        thread_id: &str,
        at: i64,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE outside_invitations SET revoked_at = $3 \
                 WHERE recipient_id = $1 AND thread_id = $2 AND revoked_at IS NULL"
            ).bind(recipient_id).bind(thread_id).bind(at).execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE outside_sessions SET ended_at = $3 WHERE ended_at IS NULL AND invitation_id IN \
                 (SELECT id FROM outside_invitations WHERE recipient_id = $1 AND thread_id = $2)"
            ).bind(recipient_id).bind(thread_id).bind(at).execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(())
    }

    pub async fn insert_outside_session(&self, s: &OutsideSessionRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO outside_sessions (digest, invitation_id, csrf_token, created_at, last_seen_at, verified_at, ended_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)"
        ).bind(&s.digest).bind(&s.invitation_id).bind(&s.csrf_token).bind(s.created_at)
        .bind(s.last_seen_at).bind(s.verified_at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn outside_session(&self, digest: &str) -> Result<Option<OutsideSessionRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT digest, invitation_id, csrf_token, created_at, last_seen_at, verified_at, ended_at \
             FROM outside_sessions WHERE digest = $1"
        ).bind(digest).fetch_optional(pool).await)?)
    }

    pub async fn touch_outside_session(&self, digest: &str, at: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outside_sessions SET last_seen_at = $2 WHERE digest = $1"
        ).bind(digest).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn end_outside_session(&self, digest: &str, at: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outside_sessions SET ended_at = $2 WHERE digest = $1 AND ended_at IS NULL"
        ).bind(digest).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// A verified session replaces the pending one: a token seen before verification is
    /// worthless after it.
    pub async fn verify_outside_session(
        &self,
        old_digest: &str,
        new: &OutsideSessionRow,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE outside_sessions SET ended_at = $2 WHERE digest = $1")
                .bind(old_digest).bind(new.created_at).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO outside_sessions (digest, invitation_id, csrf_token, created_at, last_seen_at, verified_at, ended_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL)"
            ).bind(&new.digest).bind(&new.invitation_id).bind(&new.csrf_token).bind(new.created_at)
            .bind(new.last_seen_at).bind(new.verified_at).execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(())
    }
}

/// Insert an invitation, or renew the one a recipient already has to the thread (a new link
/// and method; the old link stops working): its id stays, so it is returned.
pub(crate) const PUT_INVITATION: &str = "INSERT INTO outside_invitations (id, reference_digest, recipient_id, thread_id, method, \
     phone_sealed, access_code_digest, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (recipient_id, thread_id) DO UPDATE SET reference_digest = excluded.reference_digest, \
     method = excluded.method, phone_sealed = excluded.phone_sealed, \
     access_code_digest = excluded.access_code_digest, code_digest = NULL, code_expires_at = NULL, \
     codes_sent = 0, last_code_at = NULL, failures = 0, created_by = excluded.created_by, \
     created_at = excluded.created_at, revoked_at = NULL RETURNING id";
