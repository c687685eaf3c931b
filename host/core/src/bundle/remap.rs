//! A checked history given fresh ids for the tenant that imports it, so one bundle can be
//! imported any number of times, into any tenant, beside the execution it came from. Ids in
//! event payloads are replaced too; the lineage (fork parent, experiment cell) is dropped, as
//! those rows are not in the bundle.

use super::{BundledArrival, History};
use crate::model::{
    BoundaryId, Checkpoint, CheckpointId, EventId, EventKind, Execution, ExecutionId, FileCommit,
    FileCommitId, FileTree, NodeBoundary, OutboxEvent, TenantId, WorkflowId,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// A history with fresh ids, ready to store for one tenant.
#[derive(Clone, Debug)]
pub struct Remapped {
    /// The execution (its workflow the one given).
    pub execution: Execution,
    /// File commits, parents first.
    pub commits: Vec<FileCommit>,
    /// Checkpoints in seq order, each linked to the one it follows for storage.
    pub checkpoints: Vec<Checkpoint>,
    /// Attempts.
    pub boundaries: Vec<NodeBoundary>,
    /// Join arrivals.
    pub arrivals: Vec<BundledArrival>,
    /// Events in seq order.
    pub events: Vec<OutboxEvent>,
    /// The header's point, under its new id.
    pub point: Option<CheckpointId>,
}

/// Gives `history` (checked, with `trees` from [`History::check`]) fresh ids from `next`,
/// for `tenant` and its stored `workflow`.
pub fn remap(
    history: History,
    trees: Vec<FileTree>,
    point: Option<CheckpointId>,
    tenant: TenantId,
    workflow: WorkflowId,
    next: &mut dyn FnMut() -> Uuid,
) -> Remapped {
    let exec = ExecutionId::from_uuid(next());
    let mut names: HashMap<String, String> = HashMap::new();
    names.insert(history.execution.id.to_string(), exec.to_string());
    let commits_ids: HashMap<FileCommitId, FileCommitId> =
        history.commits.iter().map(|c| (c.id, FileCommitId::from_uuid(next()))).collect();
    let cps: HashMap<CheckpointId, CheckpointId> =
        history.checkpoints.iter().map(|c| (c.id, CheckpointId::from_uuid(next()))).collect();
    names.extend(commits_ids.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    names.extend(cps.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    let cp = |id: &CheckpointId| cps[id];
    let commits = history
        .commits
        .iter()
        .zip(trees)
        .map(|(c, tree)| FileCommit {
            id: commits_ids[&c.id],
            tenant,
            parent: c.parent.map(|p| commits_ids[&p]),
            tree: Arc::new(tree),
            changes: c.changes.clone(),
            depth: c.depth,
            created_at: c.created_at,
        })
        .collect();
    let mut checkpoints: Vec<Checkpoint> = Vec::with_capacity(history.checkpoints.len());
    // Where each new checkpoint is in `checkpoints`: a parent is found in O(1), not by a scan.
    let mut position: HashMap<CheckpointId, usize> = HashMap::with_capacity(history.checkpoints.len());
    let mut sorted = history.checkpoints;
    sorted.sort_by_key(|c| c.seq);
    for c in sorted {
        let mut copy = Checkpoint {
            id: cp(&c.id),
            execution: exec,
            file_commit: commits_ids[&c.file_commit],
            forks: c.forks.iter().map(cp).collect(),
            parents: c.parents.iter().map(cp).collect(),
            ..c
        };
        let parent = copy.parents.first().and_then(|p| position.get(p)).map(|&i| &checkpoints[i]);
        copy.link_to(parent);
        position.insert(copy.id, checkpoints.len());
        checkpoints.push(copy);
    }
    let boundaries = history
        .boundaries
        .into_iter()
        .map(|b| {
            let id = BoundaryId::from_uuid(next());
            names.insert(b.id.to_string(), id.to_string());
            NodeBoundary {
                id,
                execution: exec,
                entry_checkpoint: cp(&b.entry_checkpoint),
                exit_checkpoint: b.exit_checkpoint.as_ref().map(cp),
                ..b
            }
        })
        .collect();
    let arrivals = history
        .arrivals
        .into_iter()
        .map(|a| BundledArrival {
            checkpoint: cp(&a.checkpoint),
            forks: a.forks.iter().map(cp).collect(),
            ..a
        })
        .collect();
    let events = history
        .events
        .into_iter()
        .map(|e| OutboxEvent {
            id: EventId::from_uuid(next()),
            tenant,
            execution: exec,
            seq: e.seq,
            kind: EventKind::parse(&e.kind).unwrap_or(EventKind::Guest(e.kind)),
            payload: renamed(e.payload, &names),
            idempotency_key: OutboxEvent::key_for(exec, e.seq),
            created_at: e.created_at,
        })
        .collect();
    let execution = Execution {
        id: exec,
        tenant,
        workflow,
        parent_checkpoint: None,
        parent_execution: None,
        environment: crate::model::Environment { cell: None, ..history.execution.environment },
        ..history.execution
    };
    Remapped { execution, commits, checkpoints, boundaries, arrivals, events, point: point.map(|p| cp(&p)) }
}

/// `value` with every string that is one of the old ids replaced by its new id.
fn renamed(value: Value, names: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(names.get(&s).cloned().unwrap_or(s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| renamed(v, names)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, renamed(v, names))).collect()),
        other => other,
    }
}
