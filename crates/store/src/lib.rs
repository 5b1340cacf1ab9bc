//! Sealroom's storage: one interface, [`Store`], over SQLite (the embedded default, in WAL
//! mode) and PostgreSQL.
//!
//! Both backends run the same SQL text (sqlx binds `$1, $2, …` by position on SQLite too),
//! dispatched by the `on_pool!` macro to the concrete pool so each is type-checked natively.
//! Each backend has its own migrations under `migrations/<backend>/`. One conformance suite
//! (in the `testkit` crate) runs against both.
//!
//! This crate stores what it is given. It never decides who may do what (that is `app`),
//! never sees a plaintext secret (callers pass digests and sealed bytes), and never logs
//! row contents.

mod audit;
mod bulk;
mod contacts;
mod credentials;
mod documents;
mod fhir;
mod grants;
mod links;
mod messages;
mod migrate;
mod organization;
mod outside;
mod patient_accounts;
mod patients;
mod policies;
mod proxies;
mod reviews;
mod scim;
mod sessions;
mod slips;
mod throttle;
mod tokens;
mod users;

pub use audit::{AuditRow, NewAuditEvent};
pub use bulk::BulkValue;
pub use contacts::ContactRow;
pub use credentials::{PasskeyRow, TotpRow};
pub use documents::{
    DocumentRow, ErasureRow, KeyringRow, SigningKeyRow, UploadRow, VersionRow, WrappedKey,
    WrappedKind,
};
pub use fhir::{FhirRow, FhirSearch};
pub use grants::{AlertRow, BreakGlassRow, GrantRow};
pub use links::{LinkPurpose, LinkRow};
pub use messages::{
    AttachmentRow, AuthorKeyRow, MessageRow, NewMessage, ParticipantRow, ReceiptRow,
    ThreadForReader, ThreadRow,
};
pub use migrate::{LATEST_POSTGRES, LATEST_SQLITE};
pub use organization::{AssignmentRow, DepartmentRow, StaffMember};
pub use outside::{OutsideInvitationRow, OutsideRecipientRow, OutsideSessionRow};
pub use patient_accounts::{PatientAccountRow, PatientSessionRow, PatientSignInMethod};
pub use patients::{CurrentPatientRow, EpisodeRow, PatientRow, RecordRow, TestRow};
pub use policies::PolicyVersionRow;
pub use proxies::ProxyRow;
pub use reviews::{AccessReviewRow, ReviewItemRow};
pub use scim::ScimResourceRow;
pub use sessions::SessionRow;
pub use slips::{FailedAttempt, SlipRow};
pub use throttle::{DelaySchedule, FailureRow};
pub use tokens::ApiTokenRow;
pub use users::{UserRow, UserStatus};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// What went wrong in storage. Messages name the problem, never row contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the database URL is not valid: {0}")]
    BadUrl(String),
    #[error("the database cannot be opened: {0}")]
    CannotOpen(String),
    #[error(
        "the database has schema version {found}, newer than this server knows ({supported}); \
         it was left untouched. Run the sealroom release that created it, or restore a backup"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("the database was not created by Sealroom (it has tables but no Sealroom schema record); it was left untouched")]
    Foreign,
    #[error("a record with the same {0} already exists")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A writer that batches writes (group commit) gave no answer: it stopped (the server is
    /// shutting down) or failed on the batch.
    #[error("the {0} gave no answer (it stopped, or the server is shutting down)")]
    WriterStopped(&'static str),
    /// A batch of writes committed together failed as a whole, for this reason.
    #[error("the database refused a batch of writes: {0}")]
    BatchFailed(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The storage handle. Cheap to clone (pools are shared).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// SQLite has one write lock, and a connection that finds it taken sleeps and tries again
    /// (1, 2, 5, 10, … ms). The busiest writers (the audit and message group commits) take
    /// turns here instead, so they queue without sleeping.
    write_gate: Arc<tokio::sync::Mutex<()>>,
}

/// Run the same query code against whichever pool backs the store.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// `$first, $first+1, …, $first+n-1`: the bind parameters of an `IN (…)` list of `n` values.
pub(crate) fn numbered_params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $cols), ($cols+1, …), …`: the bind parameters of a multi-row `VALUES` list of
/// `rows` rows of `cols` values each.
pub(crate) fn values_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", numbered_params(r * cols + 1, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turn a unique-constraint violation into [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(err: sqlx::Error, what: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(what);
        }
    }
    StoreError::Database(err)
}

impl Store {
    /// Open the database at `url` (`sqlite://path` or `postgres://…`), check its schema
    /// version and bring it up to date. A database from a newer release, or one that is not
    /// Sealroom's, is refused before anything is written.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Self::connect(url).await?;
        if let Err(e) = migrate::run(&store).await {
            // Close cleanly so nothing is left half-open on a database we refused.
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Connect without migrating (used by `open` and by tests that need a raw handle).
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::CannotOpen(e.to_string()))?;
            Ok(Store {
                backend: Backend::Sqlite(pool),
                write_gate: Arc::default(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::CannotOpen(e.to_string()))?;
            Ok(Store {
                backend: Backend::Postgres(pool),
                write_gate: Arc::default(),
            })
        } else {
            Err(StoreError::BadUrl(
                "expected a URL starting with sqlite:// or postgres://".to_owned(),
            ))
        }
    }

    /// On SQLite, a turn at the write lock (see `write_gate`); on PostgreSQL, which locks rows,
    /// nothing to wait for.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite(_) => Some(self.write_gate.lock().await),
            Backend::Postgres(_) => None,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Readiness probe: one round trip.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Run a raw statement. Tests use it to tamper with rows as an attacker with database
    /// access would; the server never calls it.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let done = on_pool!(self, pool => sqlx::raw_sql(sql).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}
