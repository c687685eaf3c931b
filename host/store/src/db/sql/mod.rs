//! What the two SQL backends share: the aggregates' SQL (one text per statement, written with
//! SQLite's `?` parameters and rewritten to `$n` for PostgreSQL), the stored row shapes and
//! their decoding, the [`Batch`] a [`UnitOfWork`](super::UnitOfWork) compiles to, and the
//! trait implementations the engine reads through ([`Reads`]).
//!
//! A statement is sent through [`Conn`], a connection of either backend; the few statements
//! whose text must differ between them ask [`Conn::dialect`]. So there is one implementation
//! of every aggregate, and a second backend costs its connection and writer, not a copy.

pub mod batch;
pub mod blob;
pub mod boundary;
pub mod checkpoint;
mod checkpoint_state;
mod compile;
pub mod component;
mod decode;
pub mod delivery;
pub mod execution;
pub mod experiment;
pub mod file_commit;
pub mod group;
pub mod join;
pub mod lease;
pub mod many;
pub mod merge;
pub mod metrics;
pub mod outbox;
mod params;
pub mod prepared;
mod reads;
pub mod resume;
pub mod retention;
pub mod tenant;
pub mod workflow;

pub use batch::Batch;
pub use compile::compile;
pub use params::{Query, Value, query};
pub use reads::Reads;

use super::DbError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{PgPool, SqlitePool};

/// What the two SQL backends' [`Database`](crate::db::Database) implementations share: the
/// aggregate accessors, each handing out the backend's [`Reads`] (the field `$reads`), the
/// submission of a unit to the backend's writer (the field `$committer`, its statements
/// compiled for `$dialect`). (`metrics` stays in
/// each impl: `async_trait` does not see into a macro.)
macro_rules! shared_database_parts {
    ($reads:ident, $committer:ident, $dialect:expr) => {
        fn submit(&self, s: $crate::db::port::Submission) {
            if let Some(job) = $crate::db::sql::group::job_of(s, $dialect) {
                self.$committer.submit(job);
            }
        }

        fn executions(&self) -> &dyn $crate::db::port::Executions {
            &self.$reads
        }
        fn leases(&self) -> &dyn $crate::db::port::Leases {
            &self.$reads
        }
        fn checkpoints(&self) -> &dyn $crate::db::port::Checkpoints {
            &self.$reads
        }
        fn boundaries(&self) -> &dyn $crate::db::port::Boundaries {
            &self.$reads
        }
        fn joins(&self) -> &dyn $crate::db::port::Joins {
            &self.$reads
        }
        fn file_commits(&self) -> &dyn $crate::db::port::FileCommits {
            &self.$reads
        }
        fn blobs(&self) -> &dyn $crate::db::port::Blobs {
            &self.$reads
        }
        fn components(&self) -> &dyn $crate::db::port::Components {
            &self.$reads
        }
        fn workflows(&self) -> &dyn $crate::db::port::Workflows {
            &self.$reads
        }
        fn events(&self) -> &dyn $crate::db::port::Events {
            &self.$reads
        }
        fn deliveries(&self) -> &dyn $crate::db::port::Deliveries {
            &self.$reads
        }
        fn tenants(&self) -> &dyn $crate::db::port::Tenants {
            &self.$reads
        }
        fn experiments(&self) -> &dyn $crate::db::port::Experiments {
            &self.$reads
        }
        fn retention(&self) -> &dyn $crate::db::port::Retention {
            &self.$reads
        }
    };
}
pub(crate) use shared_database_parts;

/// Which SQL a connection speaks, for the statements whose text differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A row type both backends decode (every `#[derive(sqlx_macros::FromRow)]` struct and tuple of
/// plain column types is one).
pub trait Decoded:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Decoded for T where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

/// A connection of either backend, borrowed from a pool or a transaction.
pub enum Conn<'c> {
    /// SQLite.
    Sqlite(&'c mut SqliteConnection),
    /// PostgreSQL.
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    /// The SQL this connection speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A pool of either backend: the read side of [`Reads`].
#[derive(Clone, Debug)]
pub enum Pool {
    /// SQLite's read pool.
    Sqlite(SqlitePool),
    /// PostgreSQL's pool.
    Postgres(PgPool),
}

/// A connection taken from a [`Pool`], returned to it on drop.
pub enum Pooled {
    /// SQLite.
    Sqlite(PoolConnection<sqlx::Sqlite>),
    /// PostgreSQL.
    Postgres(PoolConnection<sqlx::Postgres>),
}

impl Pooled {
    /// The connection, to run statements on.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// An open transaction of either backend; rolled back if dropped without [`Tx::commit`].
pub enum Tx {
    /// SQLite.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// The transaction's connection.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Undoes everything it did.
    pub async fn rollback(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

impl Pool {
    /// A connection for a few statements.
    pub async fn acquire(&self) -> Result<Pooled, DbError> {
        Ok(match self {
            Pool::Sqlite(p) => Pooled::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Pooled::Postgres(p.acquire().await?),
        })
    }

    /// A transaction that writes: on SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so reading first and writing later cannot fail on a lock upgrade.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A read-only transaction whose statements all see one snapshot.
    pub async fn snapshot(&self) -> Result<Tx, DbError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => {
                Tx::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?)
            }
        })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}
