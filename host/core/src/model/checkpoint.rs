//! Checkpoints: the workflow state and the workspace's file commit at a node's entry or exit.

use super::{CheckpointId, ExecutionId, FileCommitId, Timestamp, text_enum};

/// Which side of a node attempt a checkpoint records.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointKind {
    /// Before the node ran: the state and files it was given.
    Entry,
    /// After the node ran: the merged state and the files it left (or, on failure, the entry's).
    Exit,
}
text_enum!(CheckpointKind, "checkpoint kind", { Entry => "entry", Exit => "exit" });

/// An immutable record of state and files at one instant of an execution.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Its id.
    pub id: CheckpointId,
    /// The execution it belongs to.
    pub execution: ExecutionId,
    /// Position in the execution's history, from 1, without gaps.
    pub seq: u32,
    /// The node whose entry or exit this is.
    pub node: String,
    /// Entry or exit.
    pub kind: CheckpointKind,
    /// The node attempt (1 for the first).
    pub attempt: u32,
    /// The whole workflow state: a JSON object. Shared, not copied: an exit's state is also
    /// the next entry's, the drive's and the transaction's, and may be large.
    #[schema(value_type = Object)]
    pub state: std::sync::Arc<serde_json::Value>,
    /// The workspace's files at this instant.
    pub file_commit: FileCommitId,
    /// The workspace clone (branch) the node ran in: 0 for the main line.
    pub lane: u32,
    /// The fan-out exit checkpoints this branch descends from, innermost last; a join merges
    /// its inputs against the innermost one they share.
    pub forks: Vec<CheckpointId>,
    /// What this checkpoint follows: an exit its entry, an entry the exit(s) that led to it.
    pub parents: Vec<CheckpointId>,
    /// When it was written.
    pub created_at: Timestamp,
    /// How its state is stored (see [`super::state_chain`]); not part of its value.
    #[serde(skip)]
    pub state_link: super::StateLink,
}
