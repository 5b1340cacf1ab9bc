//! Proxy access: proposals, the second person's decision, revocation, and the invitation the
//! proxy opens their account with. A decision is one statement that also checks that the
//! decider is not the proposer, so the four-eyes rule holds even against a racing request.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProxyRow {
    pub id: String,
    pub patient_id: String,
    pub name_sealed: Vec<u8>,
    pub relationship: String,
    pub legal_basis: String,
    pub categories: String,
    pub valid_until: i64,
    pub state: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<i64>,
    pub invitation_reference: Option<String>,
    pub invitation_digest: Option<String>,
    pub invitation_attempts: i64,
    pub invitation_used_at: Option<i64>,
}

const PROXY_COLUMNS: &str = "id, patient_id, name_sealed, relationship, legal_basis, categories, \
     valid_until, state, proposed_by, proposed_at, decided_by, decided_at, revoked_by, \
     revoked_at, invitation_reference, invitation_digest, invitation_attempts, invitation_used_at";

impl Store {
    pub async fn insert_proxy(&self, p: &ProxyRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO proxies ({PROXY_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, 'proposed', $8, $9, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&p.id).bind(&p.patient_id).bind(&p.name_sealed).bind(&p.relationship)
            .bind(&p.legal_basis).bind(&p.categories).bind(p.valid_until)
            .bind(&p.proposed_by).bind(p.proposed_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn proxy(&self, id: &str) -> Result<Option<ProxyRow>> {
        let sql = format!("SELECT {PROXY_COLUMNS} FROM proxies WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn proxies_of(&self, patient_id: &str) -> Result<Vec<ProxyRow>> {
        let sql = format!(
            "SELECT {PROXY_COLUMNS} FROM proxies WHERE patient_id = $1 ORDER BY proposed_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).fetch_all(pool).await)?)
    }

    pub async fn proxy_by_invitation(&self, reference: &str) -> Result<Option<ProxyRow>> {
        let sql = format!("SELECT {PROXY_COLUMNS} FROM proxies WHERE invitation_reference = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(reference).fetch_optional(pool).await)?)
    }

    /// Approve a proposal (with its invitation) or reject it, if it is still proposed and
    /// `by` is not who proposed it. False otherwise.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_proxy(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        at: i64,
        invitation_reference: Option<&str>,
        invitation_digest: Option<&str>,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE proxies SET state = $2, decided_by = $3, decided_at = $4, \
             invitation_reference = $5, invitation_digest = $6 \
             WHERE id = $1 AND state = 'proposed' AND proposed_by <> $3")
            .bind(id).bind(if approve { "approved" } else { "rejected" }).bind(by).bind(at)
            .bind(invitation_reference).bind(invitation_digest)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// End an approved or proposed proxy access. False if it was already ended.
    pub async fn revoke_proxy(&self, id: &str, by: &str, at: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE proxies SET state = 'revoked', revoked_by = $2, revoked_at = $3 \
             WHERE id = $1 AND state IN ('proposed', 'approved')")
            .bind(id).bind(by).bind(at).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Count a wrong invitation code; returns the wrong attempts so far (None: nothing to
    /// count, the invitation is used or gone).
    pub async fn proxy_invitation_failed(&self, id: &str) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(
            "UPDATE proxies SET invitation_attempts = invitation_attempts + 1 \
             WHERE id = $1 AND invitation_used_at IS NULL AND state = 'approved' \
             RETURNING invitation_attempts")
            .bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(n,)| n))
    }

    /// Use an invitation, once. False if it was used (or the access ended) meanwhile.
    pub async fn use_proxy_invitation(&self, id: &str, at: i64, max_attempts: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE proxies SET invitation_used_at = $2 WHERE id = $1 AND invitation_used_at IS NULL \
             AND state = 'approved' AND invitation_attempts < $3")
            .bind(id).bind(at).bind(max_attempts).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
