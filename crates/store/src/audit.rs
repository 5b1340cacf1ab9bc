//! The append-only, hash-chained audit table.
//!
//! Appends are serialised by updating the single `audit_head` row first: on PostgreSQL that
//! row lock, on SQLite the write lock, makes concurrent appends (even from several server
//! instances) take turns, so the chain never forks.

use crate::{on_pool, Result, Store};

/// An event to append. Fields hold identifiers and outcomes only.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub outcome: String,
    pub client_address: String,
    /// A JSON object of non-secret details.
    pub details: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub outcome: String,
    pub client_address: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The fields covered by the chain hash, in their fixed order.
    pub fn hashed_fields(&self) -> [String; 8] {
        [
            self.seq.to_string(),
            self.at.to_string(),
            self.actor.clone(),
            self.action.clone(),
            self.subject.clone(),
            self.outcome.clone(),
            self.client_address.clone(),
            self.details.clone(),
        ]
    }
}

impl Store {
    /// Append an event; `link` computes the record's hash from its predecessor's hash and the
    /// record (with its sequence number filled in). Returns the stored row.
    pub async fn append_audit(
        &self,
        event: &NewAuditEvent,
        link: impl Fn(&str, &AuditRow) -> String,
    ) -> Result<AuditRow> {
        let row = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (seq, prev_hash): (i64, String) = sqlx::query_as(
                "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *tx).await?;
            let mut row = AuditRow {
                seq,
                at: event.at,
                actor: event.actor.clone(),
                action: event.action.clone(),
                subject: event.subject.clone(),
                outcome: event.outcome.clone(),
                client_address: event.client_address.clone(),
                details: event.details.clone(),
                prev_hash,
                hash: String::new(),
            };
            row.hash = link(&row.prev_hash, &row);
            sqlx::query(
                "INSERT INTO audit_events (seq, at, actor, action, subject, outcome, client_address, details, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                .bind(row.seq).bind(row.at).bind(&row.actor).bind(&row.action).bind(&row.subject)
                .bind(&row.outcome).bind(&row.client_address).bind(&row.details)
                .bind(&row.prev_hash).bind(&row.hash)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(&row.hash).execute(&mut *tx).await?;
            tx.commit().await?;
            row
        });
        Ok(row)
    }

    /// Append several events in one transaction, chained in order.
    pub async fn append_audit_batch(
        &self,
        events: &[NewAuditEvent],
        link: impl Fn(&str, &AuditRow) -> String,
    ) -> Result<()> {
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (last_seq, mut prev_hash): (i64, String) = sqlx::query_as(
                "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
                .bind(count).fetch_one(&mut *tx).await?;
            let mut rows = Vec::with_capacity(events.len());
            for (seq, event) in (last_seq - count + 1..).zip(events.iter()) {
                let mut row = AuditRow {
                    seq,
                    at: event.at,
                    actor: event.actor.clone(),
                    action: event.action.clone(),
                    subject: event.subject.clone(),
                    outcome: event.outcome.clone(),
                    client_address: event.client_address.clone(),
                    details: event.details.clone(),
                    prev_hash: prev_hash.clone(),
                    hash: String::new(),
                };
                row.hash = link(&row.prev_hash, &row);
                prev_hash = row.hash.clone();
                rows.push(row);
            }
            // One multi-row statement per chunk: one round trip to PostgreSQL, not one per event.
            for chunk in rows.chunks(INSERT_CHUNK) {
                let sql = multi_row_insert(chunk.len());
                let mut q = sqlx::query(&sql);
                for row in chunk {
                    q = q.bind(row.seq).bind(row.at).bind(&row.actor).bind(&row.action).bind(&row.subject)
                        .bind(&row.outcome).bind(&row.client_address).bind(&row.details)
                        .bind(&row.prev_hash).bind(&row.hash);
                }
                q.execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(&prev_hash).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// How many events about `subject` carry `marker` in their details (the uses of a
    /// break-glass opening: `break_glass:<id>`), counted by the database.
    pub async fn count_audit_mentioning(&self, subject: &str, marker: &str) -> Result<i64> {
        let pattern = format!("%{marker}%"); // `_` in the marker matches itself too
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE subject = $1 AND details LIKE $2")
            .bind(subject).bind(&pattern).fetch_one(pool).await)?)
    }

    /// Events about one subject (a patient's access history), oldest first, after `after_seq`.
    pub async fn audit_of_subject(
        &self,
        subject: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT seq, at, actor, action, subject, outcome, client_address, details, prev_hash, hash \
             FROM audit_events WHERE subject = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(subject).bind(after_seq).bind(limit).fetch_all(pool).await)?)
    }

    /// Records with `seq > after`, in order, at most `limit` (for verification in pages).
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT seq, at, actor, action, subject, outcome, client_address, details, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after).bind(limit).fetch_all(pool).await)?)
    }

    /// The newest records, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT seq, at, actor, action, subject, outcome, client_address, details, prev_hash, hash \
             FROM audit_events ORDER BY seq DESC LIMIT $1")
            .bind(limit).fetch_all(pool).await)?)
    }

    /// The chain head as recorded: (last sequence number, last hash).
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(pool).await)?,
        )
    }
}

/// Rows per INSERT statement (10 parameters each; far below either backend's limit).
const INSERT_CHUNK: usize = 200;

fn multi_row_insert(rows: usize) -> String {
    format!(
        "INSERT INTO audit_events (seq, at, actor, action, subject, outcome, client_address, details, prev_hash, hash) VALUES {}",
        crate::values_rows(rows, 10)
    )
}
