//! Exit transactions: everything a node boundary decided, gathered, then committed at once,
//! in issue order, on a chain that lets the next node run while SQLite commits (grouped with
//! other boundaries' by the backend's writer).

use super::{ExecError, FailPoint};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::oneshot;
use wtb_core::model::{
    BlobRecord, Checkpoint, ExecutionId, ExecutionStatus, FileCommit, NodeBoundary, OutboxEvent, Timestamp,
};
use wtb_store::db::Arrival;
use wtb_store::db::{Database, Submission, UnitOfWork, Write, WriteError};

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
    /// Give the lease back (the execution stays `running`, for another process to claim) and
    /// wake the workers.
    pub(crate) release: bool,
}

impl ExitTx {
    /// The writes, in dependency order. `cursor` lists the nodes left open; `write_status`
    /// says the execution's row may not say `running` yet (a resumed drive's first
    /// transaction); `fence` is the drive's fencing token, checked by the progress write.
    pub(crate) fn into_work(
        self,
        execution: ExecutionId,
        cursor: Option<String>,
        now: Timestamp,
        write_status: bool,
        fence: Option<u64>,
    ) -> UnitOfWork {
        let n = self.blobs.len()
            + self.commits.len()
            + self.checkpoints.len()
            + self.closed.len()
            + self.opened.len()
            + self.arrived.len()
            + self.consumed.len()
            + 2;
        let mut work = UnitOfWork::with_capacity(n);
        let (status, error) = match self.end {
            Some((status, error)) => (Some(status), error),
            None => (write_status.then_some(ExecutionStatus::Running), None),
        };
        let writes = (self.blobs.into_iter().map(Write::Blob))
            .chain(self.commits.into_iter().map(Write::FileCommit))
            .chain(self.checkpoints.into_iter().map(Write::Checkpoint))
            .chain(self.closed.into_iter().map(Write::CloseBoundary))
            .chain(self.opened.into_iter().map(Write::Boundary))
            .chain(self.arrived.into_iter().map(|a| Write::Arrive(execution, a)))
            .chain(self.consumed.into_iter().map(|a| Write::Consume(execution, a, true)))
            .chain([Write::Progress { execution, status, cursor, error, at: now, fence }]);
        for write in writes {
            work.push(write);
        }
        if !self.events.is_empty() {
            work.push(Write::Events(self.events));
        }
        if self.release {
            // Given back: the other workers are woken when it commits.
            work.push(Write::Release(execution)).push(Write::Wake);
        }
        work
    }
}

/// An execution's transactions, committed strictly in issue order through the executor's
/// backend's writer. The drive runs ahead of the database by the transactions not yet
/// committed; a failed one fails every later one, so the database never holds a boundary's
/// effects without those of every boundary issued before it — what a crash at that instant
/// leaves.
pub(crate) struct Chain {
    db: Arc<dyn Database>,
    fail_point: Option<FailPoint>,
    poisoned: Arc<AtomicBool>,
    /// Answers not yet collected, oldest first.
    pending: VecDeque<oneshot::Receiver<Result<(), WriteError>>>,
    /// The first failure collected (later refusals only echo it).
    failed: Option<ExecError>,
}

impl Chain {
    pub(crate) fn new(db: Arc<dyn Database>, fail_point: Option<FailPoint>) -> Self {
        Self { db, fail_point, poisoned: Arc::default(), pending: VecDeque::new(), failed: None }
    }

    /// Queues a node boundary's exit `work` as one transaction after the ones issued before.
    pub(crate) fn issue(&mut self, work: UnitOfWork) {
        let roll_back = self.fail_point == Some(FailPoint::BeforeExitCommit);
        self.submit(work, roll_back, true);
    }

    /// Queues an execution's start transaction (first on its chain; no fault injection).
    pub(crate) fn issue_start(&mut self, work: UnitOfWork) {
        self.submit(work, false, false);
    }

    fn submit(&mut self, work: UnitOfWork, roll_back: bool, exit: bool) {
        let (reply, answer) = oneshot::channel();
        self.db.submit(Submission { work, roll_back, exit, poisoned: self.poisoned.clone(), reply });
        self.pending.push_back(answer);
        // Collect what is already answered, so the queue stays short on long runs.
        while let Some(front) = self.pending.front_mut() {
            match front.try_recv() {
                Ok(result) => self.collect(Ok(result)),
                Err(oneshot::error::TryRecvError::Empty) => break,
                Err(oneshot::error::TryRecvError::Closed) => self.collect(Err(())),
            }
            self.pending.pop_front();
        }
    }

    /// Waits until every transaction issued so far has committed; the first failure (not the
    /// refusals of the execution's later transactions that it caused) is returned.
    pub(crate) async fn settle(&mut self) -> Result<(), ExecError> {
        while let Some(answer) = self.pending.pop_front() {
            let result = answer.await.map_err(|_| ());
            self.collect(result);
        }
        self.failed.take().map_or(Ok(()), Err)
    }

    fn collect(&mut self, answer: Result<Result<(), WriteError>, ()>) {
        if let Err(e) = answered(answer) {
            self.failed.get_or_insert(e);
        }
    }
}

impl super::Executor {
    /// Commits `work` alone (a rollback's, say: not a node's exit) through the writer, the
    /// one place that begins and commits transactions; returns once it is durable.
    pub(crate) async fn write_alone(&self, work: UnitOfWork) -> Result<(), ExecError> {
        answered(Ok(self.db.write(work).await))
    }
}

/// The writer's answer as the engine's error.
fn answered(answer: Result<Result<(), WriteError>, ()>) -> Result<(), ExecError> {
    Err(match answer {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(WriteError::Db(e))) if e.is_fenced() => ExecError::LeaseLost,
        Ok(Err(WriteError::Db(e))) => ExecError::Db(e),
        Ok(Err(WriteError::Undone)) => ExecError::Injected(FailPoint::BeforeExitCommit),
        Ok(Err(e)) => ExecError::Task(e.to_string()),
        Err(()) => ExecError::Task("the commit writer dropped a transaction".into()),
    })
}
