//! Schema migrations, one list per backend. Each runs in its own transaction and is recorded in
//! `sealroom_schema`. Before anything is written the recorded version is compared with what
//! this build knows: a newer database is refused untouched.

use crate::{on_pool, Backend, Result, Store, StoreError};

const SQLITE: &[(i64, &str)] = &[
    (
        1,
        include_str!("../migrations/sqlite/0001_staff_sign_in.sql"),
    ),
    (
        2,
        include_str!("../migrations/sqlite/0002_need_to_know.sql"),
    ),
    (3, include_str!("../migrations/sqlite/0003_scim.sql")),
    (4, include_str!("../migrations/sqlite/0004_documents.sql")),
    (5, include_str!("../migrations/sqlite/0005_fhir.sql")),
    (
        6,
        include_str!("../migrations/sqlite/0006_content_format.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_access_slips.sql"),
    ),
    (8, include_str!("../migrations/sqlite/0008_release.sql")),
    (
        9,
        include_str!("../migrations/sqlite/0009_patient_contacts.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_patient_accounts.sql"),
    ),
    (11, include_str!("../migrations/sqlite/0011_proxies.sql")),
    (
        12,
        include_str!("../migrations/sqlite/0012_account_models.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_release_notifications.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_patient_passkeys.sql"),
    ),
    (15, include_str!("../migrations/sqlite/0015_messaging.sql")),
    (
        16,
        include_str!("../migrations/sqlite/0016_outside_recipients.sql"),
    ),
    (
        17,
        include_str!("../migrations/sqlite/0017_message_places.sql"),
    ),
    (
        18,
        include_str!("../migrations/sqlite/0018_attachment_uploads.sql"),
    ),
];
const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        include_str!("../migrations/postgres/0001_staff_sign_in.sql"),
    ),
    (
        2,
        include_str!("../migrations/postgres/0002_need_to_know.sql"),
    ),
    (3, include_str!("../migrations/postgres/0003_scim.sql")),
    (4, include_str!("../migrations/postgres/0004_documents.sql")),
    (5, include_str!("../migrations/postgres/0005_fhir.sql")),
    (
        6,
        include_str!("../migrations/postgres/0006_content_format.sql"),
    ),
    (
        7,
        include_str!("../migrations/postgres/0007_access_slips.sql"),
    ),
    (8, include_str!("../migrations/postgres/0008_release.sql")),
    (
        9,
        include_str!("../migrations/postgres/0009_patient_contacts.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_patient_accounts.sql"),
    ),
    (11, include_str!("../migrations/postgres/0011_proxies.sql")),
    (
        12,
        include_str!("../migrations/postgres/0012_account_models.sql"),
    ),
    (
        13,
        include_str!("../migrations/postgres/0013_release_notifications.sql"),
    ),
    (
        14,
        include_str!("../migrations/postgres/0014_patient_passkeys.sql"),
    ),
    (
        15,
        include_str!("../migrations/postgres/0015_messaging.sql"),
    ),
    (
        16,
        include_str!("../migrations/postgres/0016_outside_recipients.sql"),
    ),
    (
        17,
        include_str!("../migrations/postgres/0017_message_places.sql"),
    ),
    (
        18,
        include_str!("../migrations/postgres/0018_attachment_uploads.sql"),
    ),
];

/// Newest SQLite schema this build knows.
pub const LATEST_SQLITE: i64 = 18;
/// Newest PostgreSQL schema this build knows.
pub const LATEST_POSTGRES: i64 = 18;

/// A lock number that serialises concurrent migrations of one PostgreSQL database.
const PG_MIGRATION_LOCK: i64 = 0x5ea1_0000;

pub(crate) async fn run(store: &Store) -> Result<()> {
    match &store.backend {
        Backend::Sqlite(_) => apply(store, SQLITE, LATEST_SQLITE).await,
        Backend::Postgres(pool) => {
            // A session-level lock lives on one connection: take and release it on the same
            // dedicated connection, so it never stays behind in the pool.
            let mut conn = pool.acquire().await?;
            let deadline = std::time::Instant::now() + LOCK_WAIT;
            loop {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .fetch_one(&mut *conn)
                    .await?;
                if got {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(StoreError::CannotOpen(format!(
                        "another Sealroom instance has been migrating this database for more than {} seconds; try again when it has finished",
                        LOCK_WAIT.as_secs()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            let result = apply(store, POSTGRES, LATEST_POSTGRES).await;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
            result
        }
    }
}

/// How long to wait for another instance's migration.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn apply(store: &Store, migrations: &[(i64, &str)], latest: i64) -> Result<()> {
    let current = current_version(store).await?;
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    for (version, sql) in migrations.iter().filter(|(v, _)| *v > current) {
        on_pool!(store, pool => {
            let mut tx = pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO sealroom_schema (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(unix_now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        tracing::info!(
            version,
            backend = store.backend_name(),
            "database schema migrated"
        );
    }
    Ok(())
}

/// The recorded schema version, creating the record table on a brand-new database.
async fn current_version(store: &Store) -> Result<i64> {
    let exists: bool = match &store.backend {
        Backend::Sqlite(pool) => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sealroom_schema'",
        )
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::CannotOpen(e.to_string()))?
            > 0,
        Backend::Postgres(pool) => sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'sealroom_schema')",
        )
        .fetch_one(pool)
        .await?,
    };
    if !exists {
        if has_foreign_tables(store).await? {
            return Err(StoreError::Foreign);
        }
        on_pool!(store, pool => sqlx::query(
            "CREATE TABLE sealroom_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"
        ).execute(pool).await.map(|r| r.rows_affected()))?;
        return Ok(0);
    }
    let v: Option<i64> = on_pool!(store, pool =>
        sqlx::query_scalar("SELECT MAX(version) FROM sealroom_schema").fetch_one(pool).await)?;
    Ok(v.unwrap_or(0))
}

async fn has_foreign_tables(store: &Store) -> Result<bool> {
    let n: i64 = match &store.backend {
        Backend::Sqlite(pool) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'sealroom_schema'",
        )
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::CannotOpen(e.to_string()))?,
        Backend::Postgres(pool) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'sealroom_schema'",
        )
        .fetch_one(pool)
        .await?,
    };
    Ok(n > 0)
}

#[allow(clippy::disallowed_methods)] // bookkeeping of when a migration ran, not domain time
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> = on_pool!(self, pool => sqlx::query_scalar("SELECT MAX(version) FROM sealroom_schema").fetch_one(pool).await)?;
        Ok(v.unwrap_or(0))
    }
}
