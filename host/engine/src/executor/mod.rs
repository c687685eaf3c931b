//! The execution protocol: entry checkpoint, sandboxed run, capture, ONE exit transaction.
//!
//! ```text
//! start   tx: workflow, execution (running, leased), empty file commit, entry checkpoint of
//!             the entry node, its boundary (running), ExecutionStarted
//! node k  1. the lane's workspace equals the entry checkpoint's file commit (restored if not)
//!         2. fresh Store, run(input) under limits
//!         3. capture: lstat walk, hash what changed, new large blobs to the CAS (fsynced)
//!         4. ONE tx: blob rows, file commit + changes, exit checkpoint (state merged through
//!            the reducers), boundary closed, the entries the route leads to (or join
//!            arrivals, or the join's merged entry), outbox events, and — when nothing is left
//!            to run — the execution's end
//! failure tx: exit checkpoint (entry state and files), boundary with guest error or trap,
//!             NodeFailed; then a retry entry (with backoff) or the execution's failure
//! resume  every open boundary re-runs from its entry checkpoint; join arrivals wait again
//! ```
//! A node's effects — its state update, its files and its emitted events — become visible in
//! one transaction, so they are committed exactly once or not at all.
//!
//! Parallel branches run at once (each in its own workspace lane) but their transactions
//! commit one after another on the execution's [`commit::Chain`], in the order the drive
//! issued them; the next node starts while the previous transaction executes.

mod attempt;
mod blobs;
mod boundary;
mod commit;
pub mod control;
mod drive;
mod failure;
mod flight;
mod handoff;
mod join;
mod lanes;
pub mod load;
pub mod overridden;
mod quota;
mod resume;
mod run;
mod slots;
mod stored;

pub use crate::experiments::{API_FILE, CellDone, ExperimentError, Experiments, LoadedExperiment};
pub use crate::inspect::{
    CheckpointDiff, CheckpointView, EventView, ExecutionReport, History, HistoryEntry, NodeView, Page,
};
pub use crate::solo::{SoloChange, SoloOptions, SoloReport};
pub use crate::travel::{ForkOptions, Forked, RolledBack};
pub use blobs::StoredBlobs;
pub use control::Control;
pub use drive::Breakpoints;
pub(crate) use lanes::{blocking, mount};
pub use load::{LoadError, LoadedNode, LoadedWorkflow};
pub(crate) use quota::hour_before;
pub use run::{RunOptions, RunSummary};

use crate::config::{DataDir, RuntimeConfig};
use cap_std::fs::Dir;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wtb_core::clock::{Clock, IdGen};
use wtb_core::model::{ExecutionId, TenantId};
use wtb_runtime::{Runtime, Tuning, WorkspaceKind};
use wtb_store::capture::{CaptureError, MemoryWorkspaces, Workspaces};
use wtb_store::cas::{BlobStore, LocalCas, ObjectCas};
use wtb_store::db::{Database, DbError, Postgres, Sqlite};

/// A deliberate failure at a named step of the protocol, for fault-injection tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// After the node's blobs are in the CAS and its exit rows are written inside the
    /// transaction, but before the commit: the transaction is rolled back.
    BeforeExitCommit,
}

/// Why the host (not a node) could not carry on. Node failures are not errors: they are
/// recorded on the execution, which ends `failed`.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Reading or writing a workspace failed for a reason that is not the node's fault.
    #[error("workspace of execution {execution}: {source}")]
    Workspace {
        /// Which execution.
        execution: ExecutionId,
        /// What failed.
        #[source]
        source: CaptureError,
    },
    /// A host-side file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// No execution with this id (for this tenant).
    #[error("no execution {0}")]
    UnknownExecution(ExecutionId),
    /// A request the workflow or the execution's state refuses: an initial or forked state
    /// outside the workflow's `state_schema`, a breakpoint on no node, a pause or hand-off of
    /// an execution whose status does not allow it. The message says which.
    #[error("{0}")]
    InvalidState(String),
    /// A [`FailPoint`] fired.
    #[error("injected failure at {0:?}")]
    Injected(FailPoint),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
    /// The status model forbids this (e.g. resuming a completed execution).
    #[error(transparent)]
    Illegal(#[from] wtb_core::model::IllegalTransition),
    /// Another live process runs this execution.
    #[error("execution {execution} is being run by {holder}")]
    Busy {
        /// Which execution.
        execution: ExecutionId,
        /// Who holds it.
        holder: String,
    },
    /// No checkpoint with this id (for this tenant).
    #[error("no checkpoint {0}")]
    UnknownCheckpoint(wtb_core::model::CheckpointId),
    /// The checkpoint holds no entry at this path.
    #[error("checkpoint {checkpoint} has no file `{path}`")]
    NoFile {
        /// Which checkpoint.
        checkpoint: wtb_core::model::CheckpointId,
        /// The path asked for.
        path: String,
    },
    /// The path names a directory or a symlink, whose content cannot be read as a file.
    #[error("`{path}` at checkpoint {checkpoint} is a {kind}, not a file")]
    NotAFile {
        /// Which checkpoint.
        checkpoint: wtb_core::model::CheckpointId,
        /// The path asked for.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// An export would mix the checkpoint's files with others already there.
    #[error("`{}` is not empty; pass --force to make it hold exactly the checkpoint's files", .0.display())]
    NotEmpty(PathBuf),
    /// Only live history can be returned to or forked.
    #[error(
        "checkpoint {checkpoint} was superseded by a rollback at {at}; use a live checkpoint (see `wtb history`)"
    )]
    Superseded {
        /// Which checkpoint.
        checkpoint: wtb_core::model::CheckpointId,
        /// When the rollback happened.
        at: wtb_core::model::Timestamp,
    },
    /// No outbox event with this id (for this tenant).
    #[error("no event {0}")]
    UnknownEvent(wtb_core::model::EventId),
    /// A revive named an event none of whose deliveries is dead.
    #[error("event {0} has no dead delivery (see `wtb outbox list --status dead`)")]
    NothingDead(wtb_core::model::EventId),
    /// No workflow with this id (for this tenant).
    #[error("no workflow {0} (see GET /workflows)")]
    UnknownWorkflow(wtb_core::model::WorkflowId),
    /// A tenant's quota would be exceeded.
    #[error("tenant `{tenant}` is at its quota: `{quota}` = {limit} (now {current})")]
    Quota {
        /// The tenant's name.
        tenant: String,
        /// Which quota.
        quota: &'static str,
        /// Its value.
        limit: u64,
        /// The usage that reached it.
        current: u64,
    },
    /// Another process claimed the execution's lease (this one's had expired): nothing this
    /// drive issued since was committed, and it stops; the new holder carries on.
    #[error(
        "the lease of this execution was taken over by another process; this run's uncommitted work was dropped"
    )]
    LeaseLost,
    /// This process could not renew its lease for most of its length (the database did not
    /// answer): its guests were stopped, so that no node runs in two processes at once.
    #[error(
        "the lease of this execution could not be renewed (is the database reachable?); its running nodes were stopped and will run again wherever it is claimed next"
    )]
    LeaseExpired,
    /// The stored workflow of an execution cannot be loaded again.
    #[error("the stored workflow: {0}")]
    StoredWorkflow(String),
}

/// The embedded WTB host — database, blob store, runtime, clock and ids — acting for one
/// tenant. [`Executor::for_tenant`] gives another tenant's view of the same host cheaply
/// (one engine and one database with its writer for all), which is how a server serves many.
pub struct Executor {
    inner: Arc<Host>,
    pub(crate) tenant: TenantId,
}

/// What every tenant's [`Executor`] shares.
pub struct Host {
    /// The database (SQLite today), behind the store's per-aggregate traits.
    pub(crate) db: Arc<dyn Database>,
    pub(crate) cas: Arc<dyn BlobStore>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGen>,
    pub(crate) config: RuntimeConfig,
    /// The executions' lane workspaces.
    pub(crate) lanes: Arc<dyn Workspaces>,
    /// The workspaces directory itself, for `wtb node run`'s scratch space.
    pub(crate) workspaces: Dir,
    pub(crate) workspaces_path: PathBuf,
    pub(crate) data_root: PathBuf,
    pub(crate) fail_point: Option<FailPoint>,
    pub(crate) controls: Arc<control::Controls>,
    /// Guest attempts running at once in this process, across executions, shared fairly
    /// between tenants.
    pub(crate) slots: Arc<slots::FairSlots>,
    /// Stored workflows this host has loaded, per tenant (see `Executor::stored_workflow`).
    pub(crate) loaded: std::sync::Mutex<
        std::collections::HashMap<(TenantId, wtb_core::model::WorkflowId), Arc<LoadedWorkflow>>,
    >,
    /// Workflows whose definition and component rows this host has stored, per tenant.
    pub(crate) registered: std::sync::Mutex<
        std::collections::HashMap<(TenantId, wtb_core::model::Digest), wtb_core::model::WorkflowId>,
    >,
    /// Tenants this host last read without any quota: their starts skip reading the tenant
    /// and carry a guard instead (see `Executor::assumes_no_quotas`).
    pub(crate) without_quotas: std::sync::Mutex<std::collections::HashSet<TenantId>>,
}

impl std::ops::Deref for Executor {
    type Target = Host;

    fn deref(&self) -> &Host {
        &self.inner
    }
}

/// Most guests running at once in one process (the instance pool has room for 128).
pub const MAX_CONCURRENT_ATTEMPTS: usize = 64;

impl Executor {
    /// Opens the data dir's database (migrating it) and builds the runtime.
    pub async fn open(data: DataDir, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> Result<Self, ExecError> {
        let db: Arc<dyn Database> = match &data.config.database.url {
            Some(url) => Arc::new(Postgres::open(url, data.config.durability).await?),
            None => Arc::new(Sqlite::open(&data.db_path, data.config.durability).await?),
        };
        // Lanes are in-memory trees, so the runtime serves `wasi:filesystem` from them.
        let tuning = Tuning { workspace: WorkspaceKind::Virtual, ..data.config.tuning };
        let workspace_memory = data.config.workspace_memory_mib.saturating_mul(1 << 20);
        let runtime = Runtime::with_tuning(data.cache, tuning).map_err(|e| ExecError::Io {
            what: "starting the wasm engine".into(),
            source: std::io::Error::other(format!("{e:#}")),
        })?;
        let slots = slots::FairSlots::new(MAX_CONCURRENT_ATTEMPTS, data.config.attempt_slots_per_tenant);
        let cas: Arc<dyn BlobStore> = match data.config.blobs.options() {
            Some(options) => {
                // A present object is refreshed by a put once half the grace period old.
                let refresh = Duration::from_secs(data.config.orphan_grace_seconds / 2);
                let store = ObjectCas::open(&options, refresh, clock.clone()).await.map_err(|e| {
                    ExecError::Io { what: format!("opening the blob store at {}", options.url), source: e }
                })?;
                Arc::new(store)
            }
            None => Arc::new(LocalCas::new(data.blobs)),
        };
        let lease = data.config.workers.lease();
        let host = Host {
            db,
            cas,
            runtime: Arc::new(runtime),
            clock,
            config: data.config,
            lanes: Arc::new(MemoryWorkspaces::new(wtb_vfs::Pool::new(workspace_memory))),
            workspaces: data.workspaces,
            workspaces_path: data.workspaces_path,
            data_root: data.root,
            fail_point: None,
            controls: Arc::new(control::Controls::new(control::owner_id(ids.as_ref()), lease)),
            slots,
            registered: std::sync::Mutex::default(),
            loaded: std::sync::Mutex::default(),
            without_quotas: std::sync::Mutex::default(),
            ids,
        };
        Ok(Self { inner: Arc::new(host), tenant: TenantId::DEFAULT })
    }

    /// The same host acting for `tenant` (which must exist: see [`Executor::tenant_named`]).
    pub fn for_tenant(&self, tenant: TenantId) -> Executor {
        Executor { inner: self.inner.clone(), tenant }
    }

    /// Arms a [`FailPoint`] (tests only; never set in production paths).
    pub fn with_fail_point(mut self, point: FailPoint) -> Self {
        Arc::get_mut(&mut self.inner).expect("armed before the executor is shared").fail_point = Some(point);
        self
    }

    /// The blob store, for checks that read it off the executor's thread.
    pub fn cas(&self) -> Arc<dyn BlobStore> {
        self.cas.clone()
    }

    /// The database, for reads outside the engine (the server's views, tools, tests).
    pub fn database(&self) -> &Arc<dyn Database> {
        &self.db
    }

    /// The runtime, e.g. for its cache counters.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The tenant this executor acts for.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The data dir (relative paths of the runtime config start here).
    pub fn data_root(&self) -> &std::path::Path {
        &self.data_root
    }

    /// The clock everything here reads.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The id source.
    pub fn ids(&self) -> Arc<dyn IdGen> {
        self.ids.clone()
    }

    /// The runtime config in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Closes the database cleanly (checkpointing the WAL).
    pub async fn close(self) {
        self.db.close().await;
    }
}
