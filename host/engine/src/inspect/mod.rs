//! Reading back what executions did, without changing anything: `wtb show`'s report, the
//! timeline and listing, files and diffs at checkpoints (`history.rs`), the events a stream
//! follows and the host's counters. A handle on the executor, apart from the protocol.

pub(crate) mod history;

pub use history::{CheckpointDiff, History, HistoryEntry, Page};

use crate::executor::{ExecError, Executor};
use serde::Serialize;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use wtb_core::model::{
    Checkpoint, Execution, ExecutionId, FileChange, FileCommit, FileCommitId, FileTree, NodeBoundary,
};
use wtb_store::db;

/// One node attempt, for display.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    /// The attempt's boundary row.
    #[serde(flatten)]
    pub boundary: NodeBoundary,
}

/// One checkpoint with the files of its commit.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointView {
    /// The checkpoint.
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    /// Every file at this instant, by path.
    #[schema(value_type = std::collections::BTreeMap<String, wtb_core::model::FileEntry>)]
    pub files: FileTree,
    /// What the commit changed from its parent (empty if the checkpoint shares its
    /// predecessor's commit).
    pub changes: Vec<FileChange>,
}

/// One outbox event, for display.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// Position in the execution.
    pub seq: u32,
    /// Stored kind (`node.completed`, `guest.report.ready`, ...).
    pub kind: String,
    /// Idempotency key.
    pub key: String,
    /// Payload.
    pub payload: serde_json::Value,
}

impl From<wtb_core::model::OutboxEvent> for EventView {
    fn from(e: wtb_core::model::OutboxEvent) -> Self {
        Self { seq: e.seq, kind: e.kind.as_string(), key: e.idempotency_key, payload: e.payload }
    }
}

/// Everything recorded about an execution.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionReport {
    /// The execution row.
    pub execution: Execution,
    /// The workflow's name.
    pub workflow: String,
    /// Node attempts in order.
    pub nodes: Vec<NodeView>,
    /// Checkpoints in order.
    pub checkpoints: Vec<CheckpointView>,
    /// Outbox events in order.
    pub events: Vec<EventView>,
}

/// Read-only queries for one host and tenant; from [`Executor::inspect`].
pub struct Inspect<'a> {
    exec: &'a Executor,
}

impl Executor {
    /// What executions did: reports, timelines, files, diffs, events (see [`crate::inspect`]).
    pub fn inspect(&self) -> Inspect<'_> {
        Inspect { exec: self }
    }
}

impl Inspect<'_> {
    /// What `/metrics` shows, for the whole host (every tenant), read in one snapshot.
    pub async fn metrics_snapshot(&self) -> Result<db::Snapshot, ExecError> {
        Ok(self.exec.db.metrics().await?)
    }

    /// This tenant's stored contents: count and bytes, inline and in the blob store.
    pub async fn blob_totals(&self) -> Result<db::BlobTotals, ExecError> {
        Ok(self.exec.db.blobs().totals(self.exec.tenant).await?)
    }

    /// Everything about execution `id`, or [`ExecError::UnknownExecution`].
    pub async fn describe(&self, id: ExecutionId) -> Result<ExecutionReport, ExecError> {
        let execution = self.exec.execution_of_tenant(id).await?;
        let workflow = self
            .exec
            .db
            .workflows()
            .get_one(self.exec.tenant, execution.workflow)
            .await?
            .map(|w| w.name)
            .unwrap_or_default();
        let nodes = self
            .exec
            .db
            .boundaries()
            .list_for_execution(self.exec.tenant, id)
            .await?
            .into_iter()
            .map(|boundary| NodeView { boundary })
            .collect();
        let mut commits: HashMap<FileCommitId, FileCommit> = HashMap::new();
        let mut checkpoints = Vec::new();
        let mut previous: Option<FileCommitId> = None;
        for cp in self.exec.db.checkpoints().list_for_execution(self.exec.tenant, id).await? {
            if let Entry::Vacant(slot) = commits.entry(cp.file_commit) {
                let c = self.exec.commit_of(&cp).await?;
                slot.insert(c);
            }
            let c = &commits[&cp.file_commit];
            let changes = if previous == Some(cp.file_commit) { Vec::new() } else { c.changes.clone() };
            previous = Some(cp.file_commit);
            checkpoints.push(CheckpointView { files: FileTree::clone(&c.tree), changes, checkpoint: cp });
        }
        let events = self
            .exec
            .db
            .events()
            .list_for_execution(self.exec.tenant, id)
            .await?
            .into_iter()
            .map(EventView::from)
            .collect();
        Ok(ExecutionReport { execution, workflow, nodes, checkpoints, events })
    }

    /// Execution `id`'s status and its events after `after` (a live stream's next batch).
    pub async fn events_after(
        &self,
        id: ExecutionId,
        after: u32,
    ) -> Result<(wtb_core::model::ExecutionStatus, Vec<EventView>), ExecError> {
        // Status first: events committed before a final status are then always in the batch.
        let status = self.exec.execution_of_tenant(id).await?.status;
        let events = self
            .exec
            .db
            .events()
            .list_after(self.exec.tenant, id, after)
            .await?
            .into_iter()
            .map(EventView::from)
            .collect();
        Ok((status, events))
    }

    /// The tenant's most recent executions.
    pub async fn recent(&self, limit: u32) -> Result<Vec<Execution>, ExecError> {
        Ok(self.exec.db.executions().list(self.exec.tenant, &db::ListFilter::default(), None, limit).await?)
    }
}
