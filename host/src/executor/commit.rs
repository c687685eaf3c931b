//! Exit transactions: everything a node boundary decided, gathered, then committed at once,
//! in issue order, on a chain that lets the next node run while SQLite commits.

use super::{ExecError, FailPoint};
use crate::db::batch::{Batch, End};
use crate::db::join::Arrival;
use crate::db::{self, DbError, SqlitePool};
use crate::failpoint;
use crate::model::{BlobRecord, Checkpoint, ExecutionId, ExecutionStatus, FileCommit, NodeBoundary, OutboxEvent, Timestamp};
use tokio::task::JoinHandle;

/// The rows of one transaction. Built by the drive; nothing reaches the database until
/// [`Chain::issue`].
#[derive(Default)]
pub(crate) struct ExitTx {
    pub(crate) blobs: Vec<BlobRecord>,
    pub(crate) commits: Vec<FileCommit>,
    pub(crate) checkpoints: Vec<Checkpoint>,
    /// Boundaries closed (their outcome written).
    pub(crate) closed: Vec<NodeBoundary>,
    /// Boundaries opened (with the entry checkpoints in `checkpoints`).
    pub(crate) opened: Vec<NodeBoundary>,
    pub(crate) arrived: Vec<Arrival>,
    pub(crate) consumed: Vec<Arrival>,
    pub(crate) events: Vec<OutboxEvent>,
    /// A new status other than `running` (paused or final), with the failure message.
    pub(crate) end: Option<(ExecutionStatus, Option<String>)>,
}

impl ExitTx {
    /// The statements, in dependency order. `cursor` lists the nodes left open.
    pub(crate) fn into_batch(self, execution: ExecutionId, cursor: Option<String>, now: Timestamp) -> Result<Batch<'static>, ExecError> {
        let mut batch = Batch::new();
        for b in &self.blobs {
            db::blob::insert_into(&mut batch, b);
        }
        for c in &self.commits {
            db::file_commit::insert_into(&mut batch, c)?;
        }
        for c in &self.checkpoints {
            db::checkpoint::insert_into(&mut batch, c);
        }
        for b in &self.closed {
            db::boundary::finish_into(&mut batch, b);
        }
        for b in &self.opened {
            db::boundary::insert_into(&mut batch, b);
        }
        for a in &self.arrived {
            db::join::insert_into(&mut batch, execution, a);
        }
        for a in &self.consumed {
            db::join::set_consumed_into(&mut batch, execution, a, true);
        }
        let (status, error) = self.end.clone().unwrap_or((ExecutionStatus::Running, None));
        db::execution::set_progress_into(&mut batch, execution, status, cursor.as_deref(), error.as_deref(), now);
        if status != ExecutionStatus::Running {
            db::execution::release_into(&mut batch, execution);
        }
        db::outbox::insert_all_into(&mut batch, &self.events);
        Ok(batch)
    }
}

/// An execution's transactions, committed strictly in issue order. The drive runs ahead of
/// the database by the transactions still executing; each waits for its predecessor and a
/// failed one fails every later one, so the database never holds a boundary's effects
/// without those of every boundary issued before it — what a crash at that instant leaves.
pub(crate) struct Chain {
    pool: SqlitePool,
    fail_point: Option<FailPoint>,
    pending: Option<JoinHandle<Result<(), ExecError>>>,
}

impl Chain {
    pub(crate) fn new(pool: SqlitePool, fail_point: Option<FailPoint>) -> Self {
        Self { pool, fail_point, pending: None }
    }

    /// Queues `batch` as one transaction after the ones issued before.
    pub(crate) fn issue(&mut self, batch: Batch<'static>) {
        let (previous, pool) = (self.pending.take(), self.pool.clone());
        let end = match self.fail_point {
            Some(FailPoint::BeforeExitCommit) => End::Rollback,
            None => End::Commit,
        };
        self.pending = Some(tokio::spawn(async move {
            if let Some(previous) = previous {
                join(previous).await?;
            }
            let mut conn = pool.acquire().await.map_err(DbError::from)?;
            if failpoint::is_next("before-commit") {
                batch.execute_atomic(&mut conn, End::Open).await?;
                failpoint::hit("before-commit");
                unreachable!("the failpoint aborts the process");
            }
            failpoint::hit("before-commit");
            batch.execute_atomic(&mut conn, end).await?;
            if end == End::Rollback {
                return Err(ExecError::Injected(FailPoint::BeforeExitCommit));
            }
            failpoint::hit("after-commit");
            Ok(())
        }));
    }

    /// Waits until every transaction issued so far has committed (or one failed).
    pub(crate) async fn settle(&mut self) -> Result<(), ExecError> {
        match self.pending.take() {
            Some(handle) => join(handle).await,
            None => Ok(()),
        }
    }
}

async fn join(handle: JoinHandle<Result<(), ExecError>>) -> Result<(), ExecError> {
    handle.await.map_err(|e| ExecError::Task(e.to_string()))?
}
