//! Why a bundle could not be exported or imported.

use crate::executor::ExecError;
use std::path::PathBuf;
use wtb_core::bundle::BundleProblem;
use wtb_core::model::{CheckpointId, ExecutionId};

/// Why a bundle could not be exported or imported; an import that fails stored nothing in
/// the database (blobs it put in the CAS are orphans the cleaner removes).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle itself is bad: truncated, tampered, of a newer format, inconsistent.
    #[error("bad bundle: {0}")]
    Bad(BundleProblem),
    /// The bundle file cannot be opened.
    #[error("{}: {source}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output exists.
    #[error("{} exists (use --force to replace it)", .0.display())]
    Exists(PathBuf),
    /// A running execution has no settled history to export.
    #[error("execution {0} is running: pause it first (`wtb pause {0} --wait`)")]
    Running(ExecutionId),
    /// The checkpoint named is not one of the execution's live checkpoints.
    #[error("checkpoint {checkpoint} is not a live checkpoint of execution {execution}")]
    NotOfExecution {
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// The execution.
        execution: ExecutionId,
    },
    /// The bundle's workflow mounts host directories, which this host does not trust blindly.
    #[error(
        "node `{node}` of the bundle's workflow mounts the host directory `{host}` at `{guest}`: a bundle from elsewhere must not read this host's files (import with --trust-fixtures if you trust it and that directory is what it should read)"
    )]
    Fixture {
        /// The node.
        node: String,
        /// Its mount point.
        guest: String,
        /// The host directory it names.
        host: String,
    },
    /// The id names no execution or checkpoint of this tenant.
    #[error("{0}")]
    NoSuchId(String),
    /// The tenant's `max_stored_bytes` would be passed.
    #[error("the import would pass a quota: {0}")]
    Quota(String),
    /// Anything the executor reports (unknown execution, quota, storage).
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl From<wtb_store::db::DbError> for BundleError {
    fn from(e: wtb_store::db::DbError) -> Self {
        Self::Exec(e.into())
    }
}
