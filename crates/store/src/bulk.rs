//! Bulk loading for importers and the benchmark's synthetic organization: one multi-row
//! statement with positional values, and statistics refresh afterwards. Never used by a
//! request path.

use crate::{on_pool, Result, Store};

/// A value to bind.
#[derive(Debug, Clone)]
pub enum BulkValue {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    /// A NULL text column.
    Null,
    /// A NULL integer column (PostgreSQL wants the type).
    NullInt,
    /// A NULL binary column.
    NullBytes,
}

impl Store {
    /// Execute `sql` (with `$1…$n` placeholders) binding `values` in order.
    pub async fn execute_bulk(&self, sql: &str, values: Vec<BulkValue>) -> Result<u64> {
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query(sql);
            for v in values {
                q = match v {
                    BulkValue::Text(s) => q.bind(s),
                    BulkValue::Int(i) => q.bind(i),
                    BulkValue::Bytes(b) => q.bind(b),
                    BulkValue::Null => q.bind(Option::<String>::None),
                    BulkValue::NullInt => q.bind(Option::<i64>::None),
                    BulkValue::NullBytes => q.bind(Option::<Vec<u8>>::None),
                };
            }
            q.execute(pool).await.map(|r| r.rows_affected())
        })?)
    }

    /// Refresh the query planner's statistics after a bulk load.
    pub async fn analyze(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("ANALYZE").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Let the database settle before measuring: SQLite folds its write-ahead log back into
    /// the database file (after a bulk load or an audit flood it can be hundreds of MB, and
    /// checkpointing it would land inside the timed requests); PostgreSQL refreshes statistics.
    pub async fn settle(&self) -> Result<()> {
        match &self.backend {
            crate::Backend::Sqlite(pool) => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
            }
            crate::Backend::Postgres(pool) => {
                sqlx::query("ANALYZE").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub async fn count_patients(&self) -> Result<i64> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM patients").fetch_one(pool).await)?,
        )
    }
}
