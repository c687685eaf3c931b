//! Executions and the workflows they run.

use super::{CheckpointId, ExecutionId, TenantId, Timestamp, WorkflowId, text_enum};
use crate::model::Digest;

/// Where an execution is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Created, not started.
    Pending,
    /// Nodes are being run (or the host died while they were: resumable).
    Running,
    /// Stopped at a node boundary by request.
    Paused,
    /// Every node completed.
    Completed,
    /// Stopped by a node failure.
    Failed,
    /// Stopped by request.
    Cancelled,
}
text_enum!(ExecutionStatus, "execution status", {
    Pending => "pending",
    Running => "running",
    Paused => "paused",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

/// One run of a workflow.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Execution {
    /// Its id.
    pub id: ExecutionId,
    /// Its owner.
    pub tenant: TenantId,
    /// The validated workflow it runs (stored, so the run can be explained later).
    pub workflow: WorkflowId,
    /// Where it is.
    pub status: ExecutionStatus,
    /// The node to run next (the one whose entry checkpoint is the latest); `None` when done.
    pub cursor: Option<String>,
    /// For a fork: the checkpoint of another execution it started from.
    pub parent_checkpoint: Option<CheckpointId>,
    /// For experiments: the variant this execution runs.
    pub variant: Option<String>,
    /// For experiments: the environment (env vars, seed, clock, limits) as JSON.
    pub environment: Option<serde_json::Value>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its row last changed.
    pub updated_at: Timestamp,
}

/// A validated workflow manifest as stored: content-hashed, so re-registering the same
/// manifest reuses the row and a later edit of the file cannot change what a past run ran.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct WorkflowRecord {
    /// Its id.
    pub id: WorkflowId,
    /// Its owner.
    pub tenant: TenantId,
    /// The manifest's `name`.
    pub name: String,
    /// SHA-256 of `definition`.
    pub digest: Digest,
    /// The validated workflow as canonical JSON (components by digest).
    pub definition: serde_json::Value,
    /// When it was first stored.
    pub created_at: Timestamp,
}
