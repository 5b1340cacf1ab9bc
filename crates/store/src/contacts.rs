//! Patients' contact details for notifications: sealed addresses, and the digest of the
//! one-time code that verifies each.

use crate::{on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRow {
    pub id: String,
    pub patient_id: String,
    pub kind: String,
    pub value_sealed: Vec<u8>,
    pub code_digest: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_attempts: i64,
    pub verified_at: Option<i64>,
    pub verified_by: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub removed_at: Option<i64>,
    /// Set for a proxy's own contact (never notified as the patient's).
    pub proxy_id: Option<String>,
}

const CONTACT_COLUMNS: &str = "id, patient_id, kind, value_sealed, code_digest, code_expires_at, \
     code_attempts, verified_at, verified_by, created_by, created_at, removed_at, proxy_id";

impl Store {
    pub async fn insert_contact(&self, c: &ContactRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO patient_contacts ({CONTACT_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, 0, $9, $10, $7, $8, NULL, $11)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&c.id).bind(&c.patient_id).bind(&c.kind).bind(&c.value_sealed)
            .bind(&c.code_digest).bind(c.code_expires_at).bind(&c.created_by).bind(c.created_at)
            .bind(c.verified_at).bind(&c.verified_by).bind(&c.proxy_id)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn contact(&self, id: &str) -> Result<Option<ContactRow>> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM patient_contacts WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// A patient's own contacts that are verified and not removed (not their proxies').
    pub async fn verified_contacts(&self, patient_id: &str) -> Result<Vec<ContactRow>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM patient_contacts WHERE patient_id = $1 \
             AND proxy_id IS NULL AND verified_at IS NOT NULL AND removed_at IS NULL \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).fetch_all(pool).await)?)
    }

    /// Every contact of a patient (not their proxies'), verified or not, not removed.
    pub async fn contacts_of(&self, patient_id: &str) -> Result<Vec<ContactRow>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM patient_contacts WHERE patient_id = $1 \
             AND proxy_id IS NULL AND removed_at IS NULL ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).fetch_all(pool).await)?)
    }

    /// A proxy's own contact.
    pub async fn proxy_contact(&self, proxy_id: &str) -> Result<Option<ContactRow>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM patient_contacts WHERE proxy_id = $1 \
             AND removed_at IS NULL ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(proxy_id).fetch_optional(pool).await)?)
    }

    /// Mark a proxy's contact verified (their invitation code, sent to it, was typed back).
    pub async fn verify_proxy_contact(&self, proxy_id: &str, at: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE patient_contacts SET verified_at = $2, verified_by = 'proxy_invitation' \
             WHERE proxy_id = $1 AND verified_at IS NULL")
            .bind(proxy_id).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Take one of a pending code's `limit` tries, in one statement (so parallel attempts
    /// cannot exceed it); returns the tries used, or `None` when none is left or no code is
    /// pending.
    pub async fn take_contact_code_try(&self, id: &str, limit: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(
            "UPDATE patient_contacts SET code_attempts = code_attempts + 1 \
             WHERE id = $1 AND code_digest IS NOT NULL AND code_attempts < $2 \
             RETURNING code_attempts")
            .bind(id).bind(limit).fetch_optional(pool).await)?;
        Ok(row.map(|(n,)| n))
    }

    /// Mark a contact verified and forget its code. False if it had no code pending.
    pub async fn verify_contact(&self, id: &str, at: i64, by: &str) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE patient_contacts SET verified_at = $2, verified_by = $3, code_digest = NULL, \
             code_expires_at = NULL WHERE id = $1 AND code_digest IS NOT NULL")
            .bind(id).bind(at).bind(by).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
