//! The database as the engine sees it: one trait per aggregate, reached through [`Database`],
//! and one way to change it, a [`UnitOfWork`] of typed writes that a backend commits
//! atomically.
//!
//! Nothing here names SQL or a driver, so a second backend (PostgreSQL) implements these
//! traits and translates [`Write`]s into its own statements; [`super::sqlite::Sqlite`] is the
//! embedded implementation. The writes are owned values rather than statements so that the
//! backend, not the engine, decides how to batch them (SQLite: one call per chunk on the
//! group-commit writer's thread).

mod aggregates;
mod rows;

pub use aggregates::{
    Blobs, Boundaries, Checkpoints, Components, Decide, Deliveries, Events, Executions, Experiments,
    FileCommits, Joins, Leases, Retention, Tenants, WorkSignals, Workflows,
};
pub use rows::{
    Arrival, BlobTotals, ClaimSpec, Claimed, ComponentRecord, DURATION_BUCKETS, DeliveryFilter, DeliveryRow,
    DeliveryStatus, ExperimentRecord, ListFilter, OpenAttempt, ResumeFacts, Settled, SinkCounts, Snapshot,
    Swept, Taken, Usage,
};

use super::DbError;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::oneshot;
use wtb_core::model::{
    ApiToken, BlobRecord, BoundaryId, Checkpoint, CheckpointId, EventId, Execution, ExecutionId,
    ExecutionStatus, FileCommit, NodeBoundary, OutboxEvent, Tenant, TenantId, Timestamp, WorkflowRecord,
};

/// One typed change. A backend applies a [`UnitOfWork`]'s writes in order, all or none.
#[derive(Clone, Debug)]
pub enum Write {
    /// A content's row (inline bytes or a reference to the blob store); ignored if present.
    Blob(BlobRecord),
    /// A component's row; ignored if present.
    Component(ComponentRecord),
    /// A workflow definition; ignored if the tenant has one with its digest.
    Workflow(WorkflowRecord),
    /// A file commit and its changes (or snapshot tree).
    FileCommit(FileCommit),
    /// A new checkpoint.
    Checkpoint(Checkpoint),
    /// A checkpoint rolled back past: kept for history, no longer live.
    SupersedeCheckpoint(CheckpointId, Timestamp),
    /// A node attempt's row: opened (its entry checkpoint in the same unit), or copied whole by
    /// a fork.
    Boundary(NodeBoundary),
    /// A node attempt's outcome.
    CloseBoundary(NodeBoundary),
    /// An attempt rolled back past.
    SupersedeBoundary(BoundaryId, Timestamp),
    /// A new execution; with a lease, the process that starts it drives it.
    Execution(Execution, Option<Lease>),
    /// An execution's progress: the nodes left open, and a status other than `running` when it
    /// ends or pauses (`None` leaves the stored one).
    Progress {
        /// Which execution.
        execution: ExecutionId,
        /// The new status, if it changes.
        status: Option<ExecutionStatus>,
        /// The open nodes, as stored.
        cursor: Option<String>,
        /// Why it failed or paused.
        error: Option<String>,
        /// When.
        at: Timestamp,
        /// The lease's fence, in the same statement (see [`Write::Fence`]).
        fence: Option<u64>,
    },
    /// An execution rolled back: paused, its requests and error cleared, at `cursor`.
    RolledBack {
        /// Which execution.
        execution: ExecutionId,
        /// The open nodes after the rollback.
        cursor: Option<String>,
        /// When.
        at: Timestamp,
    },
    /// The lease (and pending control request) of an execution given back.
    Release(ExecutionId),
    /// Wakes the workers listening for work once the unit commits (PostgreSQL's `NOTIFY`,
    /// delivered at commit and merged within a transaction; nothing on SQLite).
    Wake,
    /// The lease's fence: the unit fails unless the lease is still held under `token`.
    Fence {
        /// Which execution.
        execution: ExecutionId,
        /// The fencing token the drive's claim received.
        token: u64,
    },
    /// A branch waiting at a join.
    Arrive(ExecutionId, Arrival),
    /// A join arrival used (or, after a rollback, waiting again).
    Consume(ExecutionId, Arrival, bool),
    /// A join arrival rolled back past.
    Depart(ExecutionId, Arrival),
    /// Outbox events, in the same unit as the change they announce.
    Events(Vec<OutboxEvent>),
    /// The unit fails (`DbError::is_quotas_set`) if the tenant has a quota set: how a start
    /// that assumed none, as its process last saw the tenant, stays exact.
    NoQuotas(TenantId),
    /// A new tenant.
    Tenant(Tenant),
    /// A new API token of a tenant, stored as the hash of its secret only.
    Token {
        /// The token.
        token: ApiToken,
        /// SHA-256 of its secret (hex).
        hash: String,
    },
    /// A new experiment.
    Experiment(ExperimentRecord),
    /// Outcomes of a relay's claimed deliveries on a sink.
    Settle {
        /// The sink.
        sink: String,
        /// The relay whose claims these are (another's are left alone).
        owner: String,
        /// When.
        at: Timestamp,
        /// Each event's outcome.
        settled: Vec<(EventId, Settled)>,
    },
}

/// Who drives a new execution, written with its row.
#[derive(Clone, Debug)]
pub struct Lease {
    /// The process holding the lease (its fencing token is 1); `None` leaves the execution
    /// unleased, for a `wtb worker` to claim.
    pub owner: Option<String>,
    /// When the lease runs out unless renewed.
    pub until: Timestamp,
    /// The breakpoints, as stored (`{"before": [..], "after": [..]}`).
    pub breakpoints: serde_json::Value,
}

/// Writes that commit together or not at all: the only way the engine changes the database.
#[derive(Clone, Debug, Default)]
pub struct UnitOfWork {
    writes: Vec<Write>,
}

impl UnitOfWork {
    /// An empty unit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty unit with room for `n` writes (an exit knows how many it has).
    pub fn with_capacity(n: usize) -> Self {
        Self { writes: Vec::with_capacity(n) }
    }

    /// A unit of one write.
    pub fn one(write: Write) -> Self {
        Self { writes: vec![write] }
    }

    /// Adds a write after the ones already added.
    pub fn push(&mut self, write: Write) -> &mut Self {
        self.writes.push(write);
        self
    }

    /// Adds every write of `other` after this unit's own (rows `other` refers to may be known
    /// only after it was built).
    pub fn append(&mut self, other: UnitOfWork) {
        self.writes.extend(other.writes);
    }

    /// Whether nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes, in order (for a backend to translate).
    pub fn into_writes(self) -> Vec<Write> {
        self.writes
    }
}

/// Why a unit of work was not committed. Each submission is answered exactly once.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// One of the unit's own writes failed; the unit was undone alone.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The transaction it was part of did not commit (it was lost, or `COMMIT` failed).
    #[error("committing: {0}")]
    NotCommitted(String),
    /// An earlier unit of the same chain failed, so this one was not run.
    #[error("an earlier transaction of this execution failed")]
    Refused,
    /// The unit asked to be undone after running ([`Submission::roll_back`]) and was.
    #[error("undone on request")]
    Undone,
    /// The writer has stopped.
    #[error("the commit writer has stopped")]
    Stopped,
}

/// A unit of work handed to the backend's writer, which may commit it together with others
/// (group commit) but never before the units of its chain submitted earlier.
pub struct Submission {
    /// What to write.
    pub work: UnitOfWork,
    /// Undo it after running it (the `BeforeExitCommit` fault injection).
    pub roll_back: bool,
    /// A node's exit transaction (the commit failpoints count these), not a start.
    pub exit: bool,
    /// The chain's flag: set when one of its units failed, so its later ones are refused.
    pub poisoned: Arc<AtomicBool>,
    /// Told once the unit committed (or why not).
    pub reply: oneshot::Sender<Result<(), WriteError>>,
}

/// A backend: the aggregates' reads and single-row operations, and the writer that commits
/// units of work. Shared by every tenant's executor of a host.
#[async_trait::async_trait]
pub trait Database: Send + Sync + 'static {
    /// Executions: rows and control requests.
    fn executions(&self) -> &dyn Executions;
    /// Leases: who drives which execution.
    fn leases(&self) -> &dyn Leases;
    /// Checkpoints: entry and exit states with their file commits.
    fn checkpoints(&self) -> &dyn Checkpoints;
    /// Node attempts.
    fn boundaries(&self) -> &dyn Boundaries;
    /// Branches waiting at joins.
    fn joins(&self) -> &dyn Joins;
    /// File commits and their trees.
    fn file_commits(&self) -> &dyn FileCommits;
    /// Content rows (inline bytes, or references to the blob store).
    fn blobs(&self) -> &dyn Blobs;
    /// Component rows.
    fn components(&self) -> &dyn Components;
    /// Workflow definitions.
    fn workflows(&self) -> &dyn Workflows;
    /// The outbox.
    fn events(&self) -> &dyn Events;
    /// Deliveries of the outbox to sinks.
    fn deliveries(&self) -> &dyn Deliveries;
    /// Tenants, quotas and API tokens.
    fn tenants(&self) -> &dyn Tenants;
    /// Experiments.
    fn experiments(&self) -> &dyn Experiments;
    /// Retention: deleting expired executions and what only they use.
    fn retention(&self) -> &dyn Retention;

    /// Queues `submission` on the writer. Units are committed in submission order per chain.
    fn submit(&self, submission: Submission);
    /// Counters for `/metrics`.
    async fn metrics(&self) -> Result<Snapshot, DbError>;
    /// Stops taking units (later ones are answered [`WriteError::Stopped`]), waits for the
    /// queued ones to commit, and closes every connection (SQLite: checkpointing the WAL), even
    /// while other holders of the handle (a relay, the control watcher) still have it.
    async fn close(&self);
    /// The backend itself, for tools and tests that inspect its own representation.
    fn as_any(&self) -> &dyn std::any::Any;

    /// Commits `work` alone (outside any chain) and returns once it is durable.
    async fn write(&self, work: UnitOfWork) -> Result<(), WriteError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Submission { work, roll_back: false, exit: false, poisoned: Arc::default(), reply });
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}
