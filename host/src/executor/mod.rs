//! The execution protocol: entry checkpoint, sandboxed run, capture, ONE exit transaction.
//!
//! ```text
//! start   tx: workflow, execution (running), empty file commit, entry checkpoint of node 1,
//!             its boundary (running), ExecutionStarted
//! node k  1. the workspace equals the entry checkpoint's file commit
//!         2. fresh Store, run(input) under limits
//!         3. capture: lstat walk, hash what changed, new large blobs to the CAS (fsynced)
//!         4. ONE tx: blob rows, file commit + changes, exit checkpoint (merged state), boundary
//!            closed, next entry checkpoint + boundary, execution cursor, outbox events
//! failure tx: exit checkpoint (entry state and files), boundary with guest error or trap,
//!             NodeFailed, ExecutionFailed; then the workspace is restored to the entry commit
//! ```
//! A node's effects — its state update, its files and its emitted events — become visible in
//! one transaction, so they are committed exactly once or not at all.
//!
//! Pipelining: node k+1 starts as soon as node k's exit transaction is *issued*; the
//! transaction executes on SQLite's thread meanwhile. Exit transactions commit strictly in
//! order, each only after its predecessor committed, and the run ends (with the error) at the
//! first that fails — so the database never holds node k+1's effects without node k's, and
//! what the overlap computed is discarded exactly as a crash would discard it.

mod blobs;
mod commit;
mod inspect;
pub mod load;
mod run;

pub use inspect::{CheckpointView, ExecutionReport, NodeView};
pub use load::{LoadError, LoadedNode, LoadedWorkflow};
pub use run::RunSummary;

use crate::capture::CaptureError;
use crate::cas::LocalCas;
use crate::clock::{Clock, IdGen};
use crate::config::{DataDir, RuntimeConfig};
use crate::db::{self, DbError, SqlitePool};
use crate::model::{ExecutionId, TenantId};
use crate::runtime::Runtime;
use cap_std::fs::Dir;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// The initial state is not a JSON object.
    #[error("initial state: {0}")]
    InvalidState(String),
    /// A [`FailPoint`] fired.
    #[error("injected failure at {0:?}")]
    Injected(FailPoint),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// The embedded WTB host: database, blob store, runtime, clock and ids.
pub struct Executor {
    pub(crate) pool: SqlitePool,
    pub(crate) cas: Arc<LocalCas>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGen>,
    pub(crate) config: RuntimeConfig,
    pub(crate) workspaces: Dir,
    pub(crate) workspaces_path: PathBuf,
    pub(crate) tenant: TenantId,
    pub(crate) fail_point: Option<FailPoint>,
}

impl Executor {
    /// Opens the data dir's database (migrating it) and builds the runtime.
    pub async fn open(data: DataDir, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> Result<Self, ExecError> {
        let pool = db::open(&data.db_path, data.config.durability).await?;
        let runtime = Runtime::new(data.cache)
            .map_err(|e| ExecError::Io { what: "starting the wasm engine".into(), source: std::io::Error::other(format!("{e:#}")) })?;
        Ok(Self {
            pool,
            cas: Arc::new(LocalCas::new(data.blobs)),
            runtime: Arc::new(runtime),
            clock,
            ids,
            config: data.config,
            workspaces: data.workspaces,
            workspaces_path: data.workspaces_path,
            tenant: TenantId::DEFAULT,
            fail_point: None,
        })
    }

    /// Arms a [`FailPoint`] (tests only; never set in production paths).
    pub fn with_fail_point(mut self, point: FailPoint) -> Self {
        self.fail_point = Some(point);
        self
    }

    /// The database pool, for inspection.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The runtime, e.g. for its cache counters.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The tenant this executor acts for.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The runtime config in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Closes the database cleanly (checkpointing the WAL).
    pub async fn close(self) {
        self.pool.close().await;
    }
}
