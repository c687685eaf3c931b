//! What a finished attempt decides, as one exit transaction: the exit checkpoint and its file
//! commit, the next entries (routing, fan-out, joins, retries) and, when it is the end, the
//! execution's new status.

use super::ExecError;
use super::attempt::{Failure, Result_, Task};
use super::commit::ExitTx;
use super::drive::{Branch, Drive, Stop};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use wtb_core::model::{
    AttemptStatus, BlobRecord, BoundaryId, Checkpoint, CheckpointId, CheckpointKind, EventKind, FileCommit,
    FileCommitId, FileTree, NodeBoundary,
};
use wtb_core::workflow::plan_update;
use wtb_runtime::AttemptReport;
use wtb_store::capture::Captured;
use wtb_store::db::Arrival;

impl Drive<'_> {
    pub(crate) async fn conclude(
        &mut self,
        task: Task,
        report: AttemptReport,
        result: Result_,
    ) -> Result<(), ExecError> {
        match result {
            Result_::Returned { update, route, captured } => {
                self.succeed(task, update, route, captured, report).await
            }
            Result_::Failed(f) => self.failed(task, f, report).await,
            Result_::Cancelled => {
                let failure = Failure {
                    status: AttemptStatus::Cancelled,
                    trap: None,
                    error: "cancelled".into(),
                    retryable: false,
                };
                self.failed(task, failure, report).await
            }
        }
    }

    pub(super) fn closed(
        &self,
        task: &Task,
        exit: CheckpointId,
        status: AttemptStatus,
        report: &AttemptReport,
    ) -> NodeBoundary {
        NodeBoundary {
            exit_checkpoint: Some(exit),
            status,
            finished_at: Some(self.ex.clock.now()),
            guest_micros: Some(report.guest_time.as_micros() as u64),
            peak_memory_bytes: Some(report.peak_memory_bytes),
            fuel_used: report.fuel_consumed,
            disk_bytes: Some(report.disk_bytes),
            files_created: Some(report.files_created),
            stdout: report.stdout.clone(),
            stderr: report.stderr.clone(),
            ..task.boundary.clone()
        }
    }

    async fn succeed(
        &mut self,
        mut task: Task,
        update: Map<String, Value>,
        route: Option<String>,
        captured: Captured,
        report: AttemptReport,
    ) -> Result<(), ExecError> {
        let reducers = &self.wf.manifest.reducers;
        let planned = match task.entry.state.as_object() {
            Some(entry) => plan_update(entry, update, reducers),
            None => plan_update(&Map::new(), update, reducers),
        };
        let planned = match planned {
            Ok(planned) => planned,
            Err(e) => {
                let failure = Failure {
                    status: AttemptStatus::InvalidOutput,
                    trap: None,
                    error: e.to_string(),
                    retryable: false,
                };
                return self.failed(task, failure, report).await;
            }
        };
        let patch = planned.patch();
        // The entry's state becomes the exit's: moved, not copied, when nothing else holds it
        // (along a chain of nodes, once the transactions before this one have committed), so
        // a growing state costs its change per node, not its size.
        let placeholder = Arc::new(Value::Null);
        let taken = std::mem::replace(&mut task.entry.state, placeholder.clone());
        self.last_state = placeholder;
        let mut state = owned_object(taken);
        let undo = planned.apply(&mut state);
        let now = self.ex.clock.now();
        let state = Arc::new(Value::Object(state));
        let commit_id = (!captured.changes.is_empty()).then(|| FileCommitId::from_uuid(self.ex.ids.next()));
        let mut exit = Checkpoint {
            id: CheckpointId::from_uuid(self.ex.ids.next()),
            execution: task.entry.execution,
            seq: self.seq + 1,
            node: task.entry.node.clone(),
            kind: CheckpointKind::Exit,
            attempt: task.entry.attempt,
            state: state.clone(),
            file_commit: commit_id.unwrap_or(task.entry.file_commit),
            lane: task.entry.lane,
            forks: task.entry.forks.clone(),
            parents: vec![task.entry.id],
            created_at: now,
            state_link: Default::default(),
        };
        exit.link_with_patch(Some(&task.entry), &patch);
        // Past the tenant's storage quota, nothing of the attempt is committed: the execution
        // pauses with the node still open (it re-runs on resume, as after a crash), its entry
        // holding the state it had.
        if let Some(q) = &mut self.quotas.stored {
            let state_len = exit.stored_state().0.text().len() as u64;
            if let Err(why) = q.charge(super::quota::exit_bytes(state_len, &captured, &report)) {
                drop(exit);
                let mut state = owned_object(state);
                undo.revert(&mut state);
                task.entry.state = Arc::new(Value::Object(state));
                self.last_state = task.entry.state.clone();
                self.ready.push_front(task);
                self.stop.get_or_insert(Stop::Pause(why));
                return Ok(());
            }
        }
        drop(undo);
        let seq = self.next_seq();
        debug_assert_eq!(seq, exit.seq);
        let mut tx = ExitTx::default();
        let commit = commit_id.map(|id| FileCommit {
            id,
            tenant: self.ex.tenant,
            parent: Some(task.entry.file_commit),
            tree: captured.tree,
            changes: captured.changes,
            depth: task.depth + 1,
            created_at: now,
        });
        let boundary = self.closed(&task, exit.id, AttemptStatus::Succeeded, &report);
        let node = exit.node.clone();
        let completed = self.event(
            EventKind::NodeCompleted,
            json!({
                "node": node, "attempt": exit.attempt, "checkpoint": exit.id, "seq": exit.seq,
                "route": route, "guest_micros": boundary.guest_micros,
            }),
        );
        tx.events.push(completed);
        if let Some(c) = &commit {
            let changes: Vec<Value> = c
                .changes
                .iter()
                .map(|ch| {
                    json!({
                        "path": ch.path, "change": ch.change,
                        "size": ch.entry.as_ref().map(|e| e.size),
                        "digest": ch.entry.as_ref().and_then(|e| e.digest),
                    })
                })
                .collect();
            let files = self.event(
                EventKind::FilesCommitted,
                json!({ "node": node, "commit": c.id, "changes": changes }),
            );
            tx.events.push(files);
        }
        for e in &report.events {
            let guest =
                self.event(EventKind::Guest(e.kind.clone()), json!({ "node": node, "data": e.data() }));
            tx.events.push(guest);
        }
        tx.blobs = captured
            .blobs
            .into_iter()
            .map(|b| BlobRecord {
                tenant: self.ex.tenant,
                digest: b.digest,
                size: b.size,
                inline: b.inline,
                created_at: now,
            })
            .collect();
        let (tree, depth) = match commit {
            Some(c) => {
                let depth = c.depth;
                let tree = c.tree.clone();
                tx.commits.push(c);
                (tree, depth)
            }
            None => (task.tree.clone(), task.depth),
        };
        self.set_lane_commit(exit.lane, Some(exit.file_commit));
        self.last_state = state.clone();
        tx.closed.push(boundary);
        // The exit goes in before the entries `follow` opens, moved rather than copied.
        let at = tx.checkpoints.len();
        let routed = self.wf.manifest.graph.route(task.node, route.as_deref()).map_err(|e| e.to_string());
        let followed = match routed {
            Ok(edges) => self.follow(&mut tx, &exit, state, tree, depth, edges).await?,
            Err(e) => Err(e),
        };
        tx.checkpoints.insert(at, exit);
        match followed {
            Err(why) => self.decide_fail(&mut tx, why),
            Ok(()) if self.stop.is_none() && self.breakpoints.after.contains(&node) => {
                self.stop = Some(Stop::Pause(format!("breakpoint after `{node}`")));
            }
            Ok(()) => {}
        }
        self.maybe_complete(&mut tx);
        self.issue(tx);
        Ok(())
    }

    /// Opens the entries `edges` lead to, or records arrivals at joins (firing those whose
    /// inputs are all there). `Err` is a reason for the execution to fail.
    async fn follow(
        &mut self,
        tx: &mut ExitTx,
        exit: &Checkpoint,
        state: Arc<Value>,
        tree: Arc<FileTree>,
        depth: u32,
        edges: Vec<usize>,
    ) -> Result<Result<(), String>, ExecError> {
        let mut forks = exit.forks.clone();
        if edges.len() > 1 {
            forks.push(exit.id);
            self.fork_bases.insert(exit.id, (state.as_object().cloned().unwrap_or_default(), tree.clone()));
        }
        let mut own_lane = Some(exit.lane);
        for e in edges {
            let to = self.wf.manifest.graph.edge(e).to;
            if self.wf.manifest.graph.is_join(to) {
                let arrival =
                    Arrival { edge: e as u32, seq: exit.seq, checkpoint: exit.id, forks: forks.clone() };
                tx.arrived.push(arrival.clone());
                self.waiting.entry(e).or_default().push_back(Branch {
                    arrival,
                    node: exit.node.clone(),
                    state: state.as_object().cloned().unwrap_or_default(),
                    file_commit: exit.file_commit,
                    tree: tree.clone(),
                    depth,
                    lane: exit.lane,
                });
                if let Err(why) = self.try_join(tx, to).await? {
                    return Ok(Err(why));
                }
            } else {
                let lane = own_lane.take().unwrap_or_else(|| self.free_lane(&[]));
                let entry = Entry {
                    node: to,
                    state: state.clone(),
                    file_commit: exit.file_commit,
                    tree: tree.clone(),
                    depth,
                    lane,
                    forks: forks.clone(),
                    parents: vec![exit.id],
                    attempt: 1,
                    delay: Duration::ZERO,
                };
                if let Err(why) = self.open(tx, entry, Some(exit)) {
                    return Ok(Err(why));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Opens an entry checkpoint and its boundary, and queues the task. Refuses past
    /// `max_steps`. Its state is stored as a patch on `after` (the checkpoint it follows)
    /// where [`Checkpoint::link_to`] allows.
    pub(super) fn open(
        &mut self,
        tx: &mut ExitTx,
        e: Entry,
        after: Option<&Checkpoint>,
    ) -> Result<(), String> {
        let name = self.wf.manifest.graph.name(e.node).to_owned();
        if self.steps >= self.wf.manifest.max_steps {
            return Err(format!(
                "max_steps ({}) reached: node `{name}` would be attempt {} of this execution",
                self.wf.manifest.max_steps,
                self.steps + 1
            ));
        }
        self.steps += 1;
        let mut entry = Checkpoint {
            id: CheckpointId::from_uuid(self.ex.ids.next()),
            execution: self.id,
            seq: self.next_seq(),
            node: name,
            kind: CheckpointKind::Entry,
            attempt: e.attempt,
            state: e.state,
            file_commit: e.file_commit,
            lane: e.lane,
            forks: e.forks,
            parents: e.parents,
            created_at: self.ex.clock.now(),
            state_link: Default::default(),
        };
        entry.link_to(after);
        let boundary = NodeBoundary::opened(BoundaryId::from_uuid(self.ex.ids.next()), &entry);
        tx.checkpoints.push(entry.clone());
        tx.opened.push(boundary.clone());
        self.ready.push_back(Task {
            node: e.node,
            entry,
            boundary,
            tree: e.tree,
            depth: e.depth,
            fresh: true,
            delay: e.delay,
        });
        Ok(())
    }
}

/// The state's object, without a copy when `state` is its only holder.
fn owned_object(state: Arc<Value>) -> Map<String, Value> {
    match Arc::unwrap_or_clone(state) {
        Value::Object(state) => state,
        _ => Map::new(),
    }
}

/// An entry checkpoint to open.
pub(super) struct Entry {
    pub(super) node: usize,
    /// Shared with the checkpoint it follows when unchanged (see [`Checkpoint::link_to`]).
    pub(super) state: Arc<Value>,
    pub(super) file_commit: FileCommitId,
    pub(super) tree: Arc<FileTree>,
    pub(super) depth: u32,
    pub(super) lane: u32,
    pub(super) forks: Vec<CheckpointId>,
    pub(super) parents: Vec<CheckpointId>,
    pub(super) attempt: u32,
    pub(super) delay: Duration,
}
