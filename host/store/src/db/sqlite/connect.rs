//! Opening the SQLite file: the read pool (WAL, migrated under a file lock) and the writer's
//! own connection, with the same settings.

use crate::db::{DbError, Durability};
use sqlx::ConnectOptions as _;
use sqlx::Connection as _;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The schema history in `migrations/sqlite/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx_macros::migrate!("../../migrations/sqlite");

/// Per-connection settings beyond durability and foreign keys: reads through mmap and a 32 MiB
/// page cache (fewer `pread` calls per transaction), temporary tables in memory.
const PRAGMAS: [(&str, &str); 3] =
    [("cache_size", "-32768"), ("mmap_size", "268435456"), ("temp_store", "memory")];

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// A second connection to a database [`open`] has created and migrated, owned by the calling
/// thread (no async driver in between), with the pool's settings: the group-commit writer's.
pub fn open_direct(path: &Path, durability: Durability) -> Result<rusqlite::Connection, DbError> {
    let db = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    db.pragma_update(None, "synchronous", durability.pragma())?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    for (name, value) in PRAGMAS {
        db.pragma_update(None, name, value)?;
    }
    db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(db)
}

/// Opens (creating if needed) the SQLite database at `path` in WAL mode and migrates it.
///
/// Both happen while holding an exclusive lock on `<db>.lock`: sqlx takes no migration lock on
/// SQLite, and turning a fresh database into WAL needs SQLite's exclusive lock, so two processes
/// opening a fresh data dir at once (a `run` and a `list` started together) would otherwise
/// both apply the first migration ("table already exists") or meet "database is locked". The
/// second opener waits, then finds nothing to do.
pub async fn open(path: &Path, durability: Durability) -> Result<SqlitePool, DbError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| DbError::Lock(std::io::Error::other(e)))?
    .map_err(DbError::Lock)?;
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::from_str(durability.pragma())?)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .statement_cache_capacity(STATEMENT_CACHE)
        .disable_statement_logging();
    let options = PRAGMAS.iter().fold(options, |o, (name, value)| o.pragma(*name, *value));
    migrate(&options).await?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .min_connections(1)
        // A local file cannot go stale; the default ping costs a round trip per transaction.
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    drop(lock);
    Ok(pool)
}

/// Applies the pending migrations on a connection of their own, with foreign keys off.
///
/// SQLite's way to change a table's constraints is to rebuild it (create, copy, drop, rename),
/// and with foreign keys on, dropping a table that others reference deletes through them or
/// fails. sqlx runs each migration in a transaction, where the pragma cannot be switched, so it
/// is off for the whole connection instead; once something was applied, every reference is
/// checked (`PRAGMA foreign_key_check`) and a violation fails the open. The check reads every
/// referencing table, so a database that was already up to date skips it.
async fn migrate(options: &SqliteConnectOptions) -> Result<(), DbError> {
    let mut conn = options.clone().foreign_keys(false).connect().await?;
    let before = applied(&mut conn).await;
    MIGRATOR.run(&mut conn).await?;
    if applied(&mut conn).await != before {
        let broken: Vec<(String, Option<i64>, String)> =
            sqlx::query_as("PRAGMA foreign_key_check").fetch_all(&mut conn).await?;
        if let Some((table, row, parent)) = broken.first() {
            let row = row.map_or_else(|| "a row".to_owned(), |r| format!("row {r}"));
            return Err(DbError::Schema(format!(
                "after migrating, {row} of `{table}` references a missing row of `{parent}` ({} such references in all)",
                broken.len()
            )));
        }
    }
    conn.close().await?;
    Ok(())
}

/// How many migrations the database records as applied (none before the first).
async fn applied(conn: &mut sqlx::SqliteConnection) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(conn).await.unwrap_or(0)
}
