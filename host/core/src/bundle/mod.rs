//! Run bundles: one file that carries a recorded execution to another data dir or tenant —
//! its workflow definition, components, checkpoints (states), file commits, attempts, join
//! arrivals and events, and every blob they name — so a failing run can be attached to a bug
//! report and become a regression case elsewhere.
//!
//! The file is a tar archive: [`HEADER_ENTRY`] first (the format, the digest and size of the
//! history and of every blob), then [`HISTORY_ENTRY`] (a [`History`] as JSON), then one
//! `blobs/<sha256>` entry per blob. Pure here: the format, the checks a bundle from anywhere
//! must pass before anything is imported ([`History::check`]), the file trees rebuilt from the
//! commits' changes, and the fresh ids an import gives every row ([`remap`]). The engine
//! reads and writes the archive.

mod check;
mod cut;
pub mod remap;

use crate::model::{
    Checkpoint, CheckpointId, Digest, Execution, ExecutionId, FileChange, FileCommitId, FileTree,
    NodeBoundary, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub use check::BundleProblem;

/// The bundle format this host writes; it reads this one and older.
pub const FORMAT: u32 = 1;
/// The archive's first entry: the [`Header`].
pub const HEADER_ENTRY: &str = "wtb-bundle.json";
/// The archive's second entry: the [`History`].
pub const HISTORY_ENTRY: &str = "history.json";
/// The prefix of blob entries (`blobs/<sha256 hex>`).
pub const BLOB_PREFIX: &str = "blobs/";
/// Most bytes of a header the importer reads.
pub const MAX_HEADER_BYTES: u64 = 64 << 20;
/// Most bytes of a history the importer reads (it is held in memory while checked).
pub const MAX_HISTORY_BYTES: u64 = 1 << 30;

/// What a bundle holds, written before the rest so an importer can refuse a bundle of a newer
/// format, or one whose entries do not match, before it stores anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The format ([`FORMAT`] when written by this host).
    pub format: u32,
    /// The version of the `wtb` that wrote it (for people; not checked).
    pub wtb_version: String,
    /// When it was written.
    pub created_at: Timestamp,
    /// The execution it holds.
    pub execution: ExecutionId,
    /// The checkpoint it was exported for, if one was named: where a test or a fork starts.
    pub point: Option<CheckpointId>,
    /// SHA-256 of the history entry.
    pub history_digest: Digest,
    /// Every blob entry: digest → size.
    pub blobs: BTreeMap<Digest, u64>,
}

/// An execution's recorded history, ids as in the data dir it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// The workflow definition it ran.
    pub workflow: BundledWorkflow,
    /// The execution row.
    pub execution: Execution,
    /// Its live checkpoints (up to the header's point, when it names one; see `cut.rs`), in
    /// seq order, each with its whole state.
    pub checkpoints: Vec<Checkpoint>,
    /// Every file commit the checkpoints name, with their ancestors, parents first.
    pub commits: Vec<BundledCommit>,
    /// Its attempts.
    pub boundaries: Vec<NodeBoundary>,
    /// Branches that arrived at joins.
    pub arrivals: Vec<BundledArrival>,
    /// Its events, in seq order.
    pub events: Vec<BundledEvent>,
}

/// A workflow definition as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledWorkflow {
    /// The manifest's name.
    pub name: String,
    /// SHA-256 of `definition`'s JSON text.
    pub digest: Digest,
    /// The definition (components by digest).
    pub definition: Value,
}

/// A file commit: its changes from its parent, and its whole tree only when its parent is not
/// in the bundle or the changes do not rebuild it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledCommit {
    /// Its id.
    pub id: FileCommitId,
    /// The commit it was captured against.
    pub parent: Option<FileCommitId>,
    /// Commits between it and the first of its chain.
    pub depth: u32,
    /// When it was captured.
    pub created_at: Timestamp,
    /// What changed from `parent`.
    pub changes: Vec<FileChange>,
    /// The whole tree, when the changes alone do not give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<FileTree>,
}

/// A branch waiting (or having waited) at a join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledArrival {
    /// Index of the edge in the definition.
    pub edge: u32,
    /// The branch's exit checkpoint's seq.
    pub seq: u32,
    /// The branch's exit checkpoint.
    pub checkpoint: CheckpointId,
    /// The fork points it descends from, innermost last.
    pub forks: Vec<CheckpointId>,
    /// Whether the join used it.
    pub consumed: bool,
}

/// One outbox event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledEvent {
    /// Position among the execution's events, from 1.
    pub seq: u32,
    /// Its kind (`node.completed`, `guest.report.ready`, …).
    pub kind: String,
    /// Its payload.
    pub payload: Value,
    /// When it was written.
    pub created_at: Timestamp,
}

impl History {
    /// Every digest the history names: the components of its definition and the contents of
    /// its trees (file bytes and link targets).
    pub fn digests(&self, trees: &[FileTree]) -> Result<Vec<Digest>, BundleProblem> {
        let mut out: Vec<Digest> = self.component_digests()?;
        out.extend(trees.iter().flat_map(|t| t.values().filter_map(|e| e.digest)));
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The components its definition names.
    pub fn component_digests(&self) -> Result<Vec<Digest>, BundleProblem> {
        let nodes = self.workflow.definition["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
        nodes
            .iter()
            .map(|n| {
                let hex = n["component"].as_str().unwrap_or_default();
                hex.parse::<Digest>().map_err(|e| BundleProblem::new(format!("component `{hex}`: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
