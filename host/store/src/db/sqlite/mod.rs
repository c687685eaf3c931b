//! The embedded backend: one SQLite file in WAL mode, read through a small sqlx pool and
//! written by the group-commit writer's thread, which owns every transaction a
//! [`UnitOfWork`] becomes.

pub mod batch;
pub mod blob;
pub mod boundary;
pub mod checkpoint;
mod compile;
pub mod component;
mod connect;
mod decode;
pub mod delivery;
pub mod execution;
pub mod experiment;
pub mod file_commit;
pub mod join;
pub mod metrics;
pub mod outbox;
mod reads;
pub mod retention;
pub mod tenant;
pub mod workflow;
pub mod writer;

use super::port::{
    Blobs, Boundaries, Checkpoints, Components, Database, Deliveries, Events, Executions, Experiments,
    FileCommits, Joins, Retention, Submission, Tenants, Workflows, WriteError,
};
use super::{DbError, Durability};
use std::path::Path;
use std::sync::atomic::Ordering;
use writer::{GroupCommitter, Job};

pub use compile::compile;
pub use connect::{MIGRATOR, open, open_direct};
pub use sqlx::SqlitePool;

/// The SQLite implementation of [`Database`].
pub struct Sqlite {
    pool: SqlitePool,
    committer: GroupCommitter,
}

impl Sqlite {
    /// Opens (creating and migrating) the database at `path` and starts its writer.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        let pool = open(path, durability).await?;
        let committer = GroupCommitter::start(path, durability)?;
        Ok(Self { pool, committer })
    }

    /// The read pool: for SQLite-specific tools and tests that look at the rows themselves.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Database for Sqlite {
    fn executions(&self) -> &dyn Executions {
        self
    }
    fn checkpoints(&self) -> &dyn Checkpoints {
        self
    }
    fn boundaries(&self) -> &dyn Boundaries {
        self
    }
    fn joins(&self) -> &dyn Joins {
        self
    }
    fn file_commits(&self) -> &dyn FileCommits {
        self
    }
    fn blobs(&self) -> &dyn Blobs {
        self
    }
    fn components(&self) -> &dyn Components {
        self
    }
    fn workflows(&self) -> &dyn Workflows {
        self
    }
    fn events(&self) -> &dyn Events {
        self
    }
    fn deliveries(&self) -> &dyn Deliveries {
        self
    }
    fn tenants(&self) -> &dyn Tenants {
        self
    }
    fn experiments(&self) -> &dyn Experiments {
        self
    }
    fn retention(&self) -> &dyn Retention {
        self
    }

    fn submit(&self, s: Submission) {
        match compile(s.work) {
            Ok(batch) => self.committer.submit(Job {
                batch,
                roll_back: s.roll_back,
                exit: s.exit,
                poisoned: s.poisoned,
                reply: s.reply,
            }),
            Err(e) => {
                // Later units of the chain must not commit without this one.
                s.poisoned.store(true, Ordering::Release);
                let _ = s.reply.send(Err(WriteError::Db(e)));
            }
        }
    }

    async fn metrics(&self) -> Result<super::Snapshot, DbError> {
        metrics::snapshot(&mut *self.pool.acquire().await?).await
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
