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
    /// The outside recipient with this address digest, if known.
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

    /// Take a verification, in one statement, only if it still holds now: the invitation is
    /// not revoked nor locked, and the digest matches the sent code (not expired) or the access
    /// code. Then wrong codes are forgiven and a sent code is spent. False if it no longer
    /// holds (a parallel wrong guess locked it, the code was spent or expired meanwhile).
    pub async fn take_outside_verification(
        &self,
        invitation_id: &str,
        digest: &str,
        access_code: bool,
        now: i64,
        max_failures: i64,
    ) -> Result<bool> {
        let sql = if access_code {
            "UPDATE outside_invitations SET failures = 0 \
             WHERE id = $1 AND revoked_at IS NULL AND failures < $2 AND access_code_digest = $3 AND $4 > 0"
        } else {
            "UPDATE outside_invitations SET failures = 0, code_digest = NULL, code_expires_at = NULL, \
             codes_sent = 0 \
             WHERE id = $1 AND revoked_at IS NULL AND failures < $2 AND code_digest = $3 AND code_expires_at > $4"
        };
        let changed = on_pool!(self, pool => sqlx::query(sql)
            .bind(invitation_id).bind(max_failures).bind(digest).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    /// Add an outside recipient to a thread with their invitation, in one transaction (the
    /// recipient row too, when new).
    pub async fn add_outside_participant(
        &self,
        new_recipient: Option<&OutsideRecipientRow>,
        participant: &crate::ParticipantRow,
        invitation: &OutsideInvitationRow,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(r) = new_recipient {
                sqlx::query(INSERT_RECIPIENT)
                    .bind(&r.id).bind(&r.address_index).bind(&r.address_sealed)
                    .bind(r.created_at).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO thread_participants (thread_id, mailbox, wrapped_thread_key, added_by, added_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (thread_id, mailbox) DO UPDATE SET \
                 wrapped_thread_key = excluded.wrapped_thread_key, added_by = excluded.added_by, \
                 added_at = excluded.added_at, removed_at = NULL, removed_by = NULL"
            ).bind(&participant.thread_id).bind(&participant.mailbox).bind(&participant.wrapped_thread_key)
            .bind(&participant.added_by).bind(participant.added_at).execute(&mut *tx).await?;
            sqlx::query(PUT_INVITATION)
                .bind(&invitation.id).bind(&invitation.reference_digest).bind(&invitation.recipient_id)
                .bind(&invitation.thread_id).bind(&invitation.method).bind(&invitation.phone_sealed)
                .bind(&invitation.access_code_digest).bind(&invitation.created_by).bind(invitation.created_at)
                .execute(&mut *tx).await?;
            tx.commit().await
        })?;
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
    /// worthless after it. False (nothing changes) if the pending session was already ended or
    /// verified by a parallel request.
    pub async fn verify_outside_session(
        &self,
        old_digest: &str,
        new: &OutsideSessionRow,
    ) -> Result<bool> {
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let ended = sqlx::query(
                "UPDATE outside_sessions SET ended_at = $2 WHERE digest = $1 AND ended_at IS NULL AND verified_at IS NULL"
            ).bind(old_digest).bind(new.created_at).execute(&mut *tx).await?.rows_affected();
            if ended != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO outside_sessions (digest, invitation_id, csrf_token, created_at, last_seen_at, verified_at, ended_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL)"
            ).bind(&new.digest).bind(&new.invitation_id).bind(&new.csrf_token).bind(new.created_at)
            .bind(new.last_seen_at).bind(new.verified_at).execute(&mut *tx).await?;
            tx.commit().await.map(|_| true)
        })?)
    }
}

/// Insert an outside recipient unless one with the same address digest exists.
pub(crate) const INSERT_RECIPIENT: &str =
    "INSERT INTO outside_recipients (id, address_index, address_sealed, \
     created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (address_index) DO NOTHING";

/// Insert an invitation, or renew the one a recipient already has to the thread (a new link
/// and method; the old link stops working). The caller reuses the existing id, which sealed
/// data and digests are bound to.
pub(crate) const PUT_INVITATION: &str = "INSERT INTO outside_invitations (id, reference_digest, recipient_id, thread_id, method, \
     phone_sealed, access_code_digest, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (recipient_id, thread_id) DO UPDATE SET reference_digest = excluded.reference_digest, \
     method = excluded.method, phone_sealed = excluded.phone_sealed, \
     access_code_digest = excluded.access_code_digest, code_digest = NULL, code_expires_at = NULL, \
     codes_sent = 0, last_code_at = NULL, failures = 0, created_by = excluded.created_by, \
     created_at = excluded.created_at, revoked_at = NULL";
