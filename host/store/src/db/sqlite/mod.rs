//! The embedded backend: one SQLite file in WAL mode, read through a small sqlx pool and
//! written by the group-commit writer's thread, which owns every transaction a
//! [`UnitOfWork`] becomes.

mod connect;
pub mod writer;

#[cfg(test)]
mod schema_tests;

use super::port::Database;
use super::{DbError, Durability};
use crate::db::sql::{Pool, Reads};
use std::path::Path;
use writer::GroupCommitter;

pub use connect::{MIGRATOR, open, open_direct};
pub use sqlx::SqlitePool;

/// The SQLite implementation of [`Database`]: the shared aggregates over a read pool, and the
/// group-commit writer.
pub struct Sqlite {
    pool: SqlitePool,
    reads: Reads,
    committer: GroupCommitter,
}

impl Sqlite {
    /// Opens (creating and migrating) the database at `path` and starts its writer.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        let pool = open(path, durability).await?;
        let committer = GroupCommitter::start(path, durability)?;
        Ok(Self { reads: Reads::new(Pool::Sqlite(pool.clone())), pool, committer })
    }

    /// The shared aggregates' reads over this database.
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// The read pool: for SQLite-specific tools and tests that look at the rows themselves.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Database for Sqlite {
    crate::db::sql::shared_database_parts!(reads, committer, crate::db::sql::Dialect::Sqlite);

    async fn metrics(&self) -> Result<super::Snapshot, DbError> {
        crate::db::sql::metrics::snapshot(self.reads.pool()).await
    }

    async fn close(&self) {
        // The writer first: its queued groups commit and its connection closes. Then the WAL
        // is folded into the database file and truncated before the readers close: pooled
        // connections closing at once on their own threads can each see another still open,
        // and then none of them removes it.
        if let Some(writer) = self.committer.shut() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
            tracing::warn!("folding the WAL back at close: {e}");
        }
        self.pool.close().await;
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
