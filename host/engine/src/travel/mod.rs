//! Time travel that changes things: rolling an execution back to a checkpoint, and forking a
//! new execution from one. Both keep the history that was durable right after the
//! checkpoint's transaction ([`wtb_core::history::Rewind`]); a resume then carries on exactly
//! as after a crash there.
//!
//! A sibling of the execution protocol: it reads the history, writes one transaction through
//! the executor's writer and restores a lane, through the executor's own operations, and its
//! refusals are its own [`TravelError`] variants (a caller matches "running, pause it first"
//! without parsing a message). Read-only travel (history, files, diffs) stays with the
//! executor's queries.

mod fork;
mod rollback;

pub use fork::{ForkOptions, Forked, NewComponent};
pub use rollback::RolledBack;

use crate::executor::{ExecError, Executor};
use std::path::PathBuf;
use wtb_core::model::{CheckpointId, ExecutionId, IllegalTransition};
use wtb_store::db::DbError;

/// Why a rollback or fork was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TravelError {
    /// The checkpoint is another execution's.
    #[error("checkpoint {checkpoint} belongs to execution {owner}, not {execution}")]
    OtherExecution {
        /// The checkpoint asked for.
        checkpoint: CheckpointId,
        /// Its execution.
        owner: ExecutionId,
        /// The execution to roll back.
        execution: ExecutionId,
    },
    /// A running execution must be paused before it is rolled back.
    #[error("execution {0} is running: pause it first (`wtb pause {0} --wait`)")]
    Running(ExecutionId),
    /// Nothing would run in the fork: the execution ended at that checkpoint.
    #[error(
        "nothing runs after checkpoint {checkpoint}: execution {execution} ended there; fork from an earlier checkpoint"
    )]
    NothingAfter {
        /// The checkpoint asked for.
        checkpoint: CheckpointId,
        /// Its execution.
        execution: ExecutionId,
    },
    /// A change names a node the workflow does not have.
    #[error("{flag} {node}: the workflow `{workflow}` has no node `{node}`")]
    NoSuchNode {
        /// Which change (`--node-config`, `--component`, ...).
        flag: &'static str,
        /// The node named.
        node: String,
        /// The workflow's name.
        workflow: String,
    },
    /// A replacement component is not a node (or not usable by that node).
    #[error("--component {node}: `{}` {problem}", path.display())]
    Component {
        /// The node.
        node: String,
        /// The file given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A node's limits after the change pass an operator ceiling.
    #[error("node `{node}`: {problem}")]
    Ceiling {
        /// The node.
        node: String,
        /// Which limit, its value and the ceiling.
        problem: String,
    },
    /// Anything the executor reports (unknown or superseded checkpoint, busy, storage).
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl From<DbError> for TravelError {
    fn from(e: DbError) -> Self {
        Self::Exec(e.into())
    }
}

impl From<IllegalTransition> for TravelError {
    fn from(e: IllegalTransition) -> Self {
        Self::Exec(e.into())
    }
}

/// Rollback and fork for one host and tenant; from [`Executor::travel`].
pub struct Travel<'a> {
    exec: &'a Executor,
}

impl Executor {
    /// Rollback and fork (see [`crate::travel`]).
    pub fn travel(&self) -> Travel<'_> {
        Travel { exec: self }
    }
}
