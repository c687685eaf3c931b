//! Forks: a new execution that starts where another stood at a checkpoint, optionally with a
//! patched state, other node configs or other components. The history up to the checkpoint
//! is copied (rows, not files: file commits and blobs are shared by reference), so the fork
//! explains itself and resumes like any paused execution; the original is not touched.

use super::{Travel, TravelError};
use crate::executor::ExecError;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use wtb_core::history::{AttemptFate, Rewind};
use wtb_core::model::{
    BoundaryId, Checkpoint, CheckpointId, Digest, Environment, EventId, EventKind, Execution, ExecutionId,
    ExecutionStatus, NodeBoundary, OutboxEvent, WorkflowId, WorkflowRecord,
};
use wtb_core::workflow::{Definition, Overrides, Schema};
use wtb_store::db::Arrival;
use wtb_store::db::{DbError, UnitOfWork, Write};

/// A component a fork brings in: node, digest, bytes (read and checked already).
pub type NewComponent = (String, Digest, Arc<[u8]>);

/// How a fork differs from the execution it comes from.
#[derive(Clone, Debug, Default)]
pub struct ForkOptions {
    /// A JSON merge patch (RFC 7396: `null` removes a key) applied to the state of every
    /// attempt the fork starts with.
    pub state_patch: Option<Value>,
    /// New configs, by node id.
    pub node_config: Vec<(String, Value)>,
    /// New components (paths to `.wasm` files), by node id.
    pub components: Vec<(String, PathBuf)>,
    /// Further changes: per node, and env vars, limits and fixtures for every node (an
    /// experiment cell's variant and environment).
    pub overrides: Overrides,
    /// Components already read and checked (node, digest, bytes), named in
    /// `overrides.node_component`.
    pub prepared: Vec<NewComponent>,
    /// The fork's environment (default: the parent's).
    pub environment: Option<Environment>,
    /// The fork's variant (default: the parent's).
    pub variant: Option<String>,
}

/// A new fork.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Forked {
    /// The new execution (paused: `resume` runs it).
    pub execution: ExecutionId,
    /// The checkpoint it was forked from.
    pub from: CheckpointId,
    /// The execution that checkpoint belongs to.
    pub parent: ExecutionId,
    /// The nodes a resume will run first.
    pub open: Vec<String>,
    /// The digest of the workflow it runs (differs from the parent's when configs or
    /// components changed).
    pub workflow_digest: Digest,
}

impl Travel<'_> {
    /// Creates a paused execution whose parent is checkpoint `from` (see the module doc).
    pub async fn fork(&self, from: CheckpointId, opts: &ForkOptions) -> Result<Forked, TravelError> {
        let (target, parent) = self.exec.checkpoint_of_tenant(from).await?;
        self.exec.require_live(from).await?;
        let record = self
            .exec
            .db
            .workflows()
            .get_one(self.exec.tenant, parent.workflow)
            .await?
            .ok_or(DbError::Corrupt { what: "workflow", detail: parent.workflow.to_string() })?;
        let (definition, components) = self.changed_definition(&record, opts).await?;
        let state_schema = match &definition.state_schema {
            Some(s) => Some(Schema::compile(s).map_err(ExecError::StoredWorkflow)?),
            None => None,
        };
        let definition_json =
            serde_json::to_value(&definition).map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
        let digest = Digest::of(definition_json.to_string().as_bytes());
        let live = self.exec.db.checkpoints().list_for_execution(self.exec.tenant, parent.id).await?;
        let boundaries = self.exec.db.boundaries().list_for_execution(self.exec.tenant, parent.id).await?;
        let arrivals = self.exec.db.joins().list_all(self.exec.tenant, parent.id).await?;
        let plan = Rewind::to(&live, &target);
        let open_ids: Vec<CheckpointId> = plan.open_entries(&live).iter().map(|c| c.id).collect();
        let waiting: Vec<(&Arrival, bool)> =
            arrivals.iter().filter_map(|a| plan.still_waiting(a.checkpoint, &live).map(|w| (a, w))).collect();
        if open_ids.is_empty() && !waiting.iter().any(|(_, w)| *w) {
            return Err(TravelError::NothingAfter { checkpoint: from, execution: parent.id });
        }

        let now = self.exec.clock.now();
        let fork = ExecutionId::from_uuid(self.exec.ids.next());
        let ids: HashMap<CheckpointId, CheckpointId> = live
            .iter()
            .filter(|c| plan.keep.contains(&c.id))
            .map(|c| (c.id, CheckpointId::from_uuid(self.exec.ids.next())))
            .collect();
        let remap = |v: &[CheckpointId]| -> Vec<CheckpointId> {
            v.iter().map(|c| ids.get(c).copied().unwrap_or(*c)).collect()
        };
        let mut copies: HashMap<CheckpointId, Checkpoint> = HashMap::new();
        let mut work = UnitOfWork::new();
        for c in live.iter().filter(|c| plan.keep.contains(&c.id)) {
            let mut state = c.state.clone();
            if open_ids.contains(&c.id) {
                if let Some(patch) = &opts.state_patch {
                    json_patch::merge(std::sync::Arc::make_mut(&mut state), patch);
                }
                if let Some(schema) = &state_schema {
                    schema.check(&state).map_err(|v| {
                        ExecError::InvalidState(format!(
                            "the patched state of `{}` does not match the workflow's `state_schema`: {v}",
                            c.node
                        ))
                    })?;
                }
            }
            let mut copy = Checkpoint {
                id: ids[&c.id],
                execution: fork,
                state,
                forks: remap(&c.forks),
                parents: remap(&c.parents),
                ..c.clone()
            };
            // Its state as a patch on the copy of the checkpoint it follows, as in the original.
            copy.link_to(c.parents.first().and_then(|p| copies.get(p)));
            work.push(Write::Checkpoint(copy.clone()));
            copies.insert(c.id, copy);
        }
        let mut open = Vec::new();
        for b in &boundaries {
            let fate = plan.attempt(b);
            if fate == AttemptFate::Supersede {
                continue;
            }
            let entry = copies.get(&b.entry_checkpoint).ok_or(DbError::Corrupt {
                what: "entry checkpoint",
                detail: b.entry_checkpoint.to_string(),
            })?;
            let id = BoundaryId::from_uuid(self.exec.ids.next());
            let copy = match (fate, b.exit_checkpoint) {
                (AttemptFate::Keep, Some(exit)) => NodeBoundary {
                    id,
                    execution: fork,
                    entry_checkpoint: entry.id,
                    exit_checkpoint: ids.get(&exit).copied(),
                    ..b.clone()
                },
                _ => {
                    open.push(b.node.clone());
                    NodeBoundary { started_at: now, ..NodeBoundary::opened(id, entry) }
                }
            };
            work.push(Write::Boundary(copy));
        }
        for (a, still) in waiting {
            let copy = Arrival {
                checkpoint: ids.get(&a.checkpoint).copied().unwrap_or(a.checkpoint),
                forks: remap(&a.forks),
                ..a.clone()
            };
            work.push(Write::Arrive(fork, copy.clone())).push(Write::Consume(fork, copy, !still));
        }
        let event = OutboxEvent {
            id: EventId::from_uuid(self.exec.ids.next()),
            tenant: self.exec.tenant,
            execution: fork,
            seq: 1,
            kind: EventKind::ExecutionForked,
            payload: json!({
                "from": from, "parent": parent.id, "open": open, "workflow_digest": digest.to_hex(),
                "state_patch": opts.state_patch, "node_config": opts.node_config.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                "components": components.iter().map(|(n, d, _)| json!({ "node": n, "digest": d.to_hex() })).collect::<Vec<_>>(),
            }),
            idempotency_key: OutboxEvent::key_for(fork, 1),
            created_at: now,
        };
        work.push(Write::Events(vec![event]));

        let stored: Vec<_> = components.iter().map(|(_, d, bytes)| (*d, bytes.clone())).collect();
        let record = WorkflowRecord {
            id: WorkflowId::from_uuid(self.exec.ids.next()),
            tenant: self.exec.tenant,
            name: definition.name.clone(),
            digest,
            definition: definition_json,
            created_at: now,
        };
        let workflow = self.exec.store_definition(&stored, &record).await?;
        // The execution's row first: the copied rows refer to it.
        let mut rows = UnitOfWork::new();
        rows.push(Write::Execution(
            Execution {
                id: fork,
                tenant: self.exec.tenant,
                workflow,
                status: ExecutionStatus::Paused,
                cursor: (!open.is_empty()).then(|| open.join(",")),
                parent_checkpoint: Some(from),
                parent_execution: Some(parent.id),
                variant: opts.variant.clone().or_else(|| parent.variant.clone()),
                // A fork keeps its parent's seed and clock, but is not that experiment cell.
                environment: opts
                    .environment
                    .clone()
                    .unwrap_or_else(|| Environment { cell: None, ..parent.environment.clone() }),
                error: None,
                created_at: now,
                updated_at: now,
            },
            None,
        ));
        rows.append(work);
        self.exec.write_alone(rows).await?;
        Ok(Forked { execution: fork, from, parent: parent.id, open, workflow_digest: digest })
    }

    /// The parent's stored definition with the fork's node configs and components, and the
    /// new components (node, digest, bytes), each checked against the node world.
    async fn changed_definition(
        &self,
        record: &WorkflowRecord,
        opts: &ForkOptions,
    ) -> Result<(Definition, Vec<NewComponent>), TravelError> {
        let def: Definition = serde_json::from_value(record.definition.clone())
            .map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
        let no_node = |node: &str| {
            let flag = if opts.node_config.iter().any(|(n, _)| n == node) {
                "--node-config"
            } else if opts.components.iter().any(|(n, _)| n == node) {
                "--component"
            } else {
                "a change to node"
            };
            TravelError::NoSuchNode { flag, node: node.to_owned(), workflow: record.name.clone() }
        };
        let mut overrides = opts.overrides.clone();
        overrides.node_config.extend(opts.node_config.iter().cloned());
        let mut components = opts.prepared.clone();
        for (node, path) in &opts.components {
            let n = def.nodes.iter().find(|n| n.id == *node).ok_or_else(|| no_node(node))?;
            let bytes: Arc<[u8]> = tokio::fs::read(path)
                .await
                .map_err(|source| ExecError::Io {
                    what: format!("--component {node}: reading `{}`", path.display()),
                    source,
                })?
                .into();
            let prepared = self.exec.runtime.prepare(bytes.clone(), n.network).await.map_err(|e| {
                TravelError::Component { node: node.clone(), path: path.clone(), problem: e.to_string() }
            })?;
            overrides.node_component.push((node.clone(), prepared.digest().to_hex()));
            components.push((node.clone(), prepared.digest(), bytes));
        }
        let def = def.with_overrides(&overrides).map_err(|node| no_node(&node))?;
        for node in &def.nodes {
            self.exec
                .config
                .check_ceilings(&node.limits)
                .map_err(|p| TravelError::Ceiling { node: node.id.clone(), problem: p.to_string() })?;
        }
        Ok((def, components))
    }
}
