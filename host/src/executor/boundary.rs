//! What a finished attempt decides, as one exit transaction: the exit checkpoint and its file
//! commit, the next entries (routing, fan-out, joins, retries) and, when it is the end, the
//! execution's new status.

use super::ExecError;
use super::attempt::{Failure, Result_, Task};
use super::commit::ExitTx;
use super::drive::{Branch, Drive, Stop};
use crate::capture::{Captured, diff_trees, merge_trees};
use crate::db::join::Arrival;
use crate::db::{self, DbError};
use crate::failpoint;
use crate::model::{
    AttemptStatus, BlobRecord, BoundaryId, Checkpoint, CheckpointId, CheckpointKind, EventKind, ExecutionStatus, FileCommit,
    FileCommitId, FileTree, NodeBoundary,
};
use crate::runtime::AttemptReport;
use crate::workflow::{apply_update, merge_branches};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::collections::VecDeque;
use std::time::Duration;

impl Drive<'_> {
    pub(crate) async fn conclude(&mut self, task: Task, report: AttemptReport, result: Result_) -> Result<(), ExecError> {
        match result {
            Result_::Returned { update, route, captured } => self.succeed(task, update, route, captured, report).await,
            Result_::Failed(f) => self.failed(task, f, report).await,
            Result_::Cancelled => {
                let failure = Failure { status: AttemptStatus::Cancelled, trap: None, error: "cancelled".into(), retryable: false };
                self.failed(task, failure, report).await
            }
        }
    }

    fn closed(&self, task: &Task, exit: CheckpointId, status: AttemptStatus, report: &AttemptReport) -> NodeBoundary {
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

    async fn succeed(&mut self, task: Task, update: Map<String, Value>, route: Option<String>, captured: Captured, report: AttemptReport) -> Result<(), ExecError> {
        let mut state = task.entry.state.as_object().cloned().unwrap_or_default();
        if let Err(e) = apply_update(&mut state, update, &self.wf.manifest.reducers) {
            let failure = Failure { status: AttemptStatus::InvalidOutput, trap: None, error: e.to_string(), retryable: false };
            return self.failed(task, failure, report).await;
        }
        // Past the tenant's storage quota, nothing of the attempt is committed: the execution
        // pauses with the node still open (it re-runs on resume, as after a crash).
        if let Some(q) = &mut self.quotas.stored
            && let Err(why) = q.charge(super::tenancy::exit_bytes(&state, &captured, &report))
        {
            self.ready.push_front(task);
            self.stop.get_or_insert(Stop::Pause(why));
            return Ok(());
        }
        let now = self.ex.clock.now();
        let mut tx = ExitTx::default();
        let commit = (!captured.changes.is_empty()).then(|| FileCommit {
            id: FileCommitId::from_uuid(self.ex.ids.next()),
            tenant: self.ex.tenant,
            parent: Some(task.entry.file_commit),
            tree: Arc::new(captured.tree),
            changes: captured.changes,
            depth: task.depth + 1,
            created_at: now,
        });
        let exit = Checkpoint {
            id: CheckpointId::from_uuid(self.ex.ids.next()),
            seq: self.next_seq(),
            kind: CheckpointKind::Exit,
            state: Value::Object(state.clone()),
            file_commit: commit.as_ref().map_or(task.entry.file_commit, |c| c.id),
            parents: vec![task.entry.id],
            created_at: now,
            ..task.entry.clone()
        };
        let boundary = self.closed(&task, exit.id, AttemptStatus::Succeeded, &report);
        let node = exit.node.clone();
        let completed = self.event(EventKind::NodeCompleted, json!({
            "node": node, "attempt": exit.attempt, "checkpoint": exit.id, "seq": exit.seq,
            "route": route, "guest_micros": boundary.guest_micros,
        }));
        tx.events.push(completed);
        if let Some(c) = &commit {
            let changes: Vec<Value> = c.changes.iter().map(|ch| json!({
                "path": ch.path, "change": ch.change,
                "size": ch.entry.as_ref().map(|e| e.size),
                "digest": ch.entry.as_ref().and_then(|e| e.digest),
            })).collect();
            let files = self.event(EventKind::FilesCommitted, json!({ "node": node, "commit": c.id, "changes": changes }));
            tx.events.push(files);
        }
        for e in &report.events {
            let guest = self.event(EventKind::Guest(e.kind.clone()), json!({ "node": node, "data": e.data() }));
            tx.events.push(guest);
        }
        tx.blobs = captured.blobs.into_iter().map(|b| BlobRecord { tenant: self.ex.tenant, digest: b.digest, size: b.size, inline: b.inline, created_at: now }).collect();
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
        tx.checkpoints.push(exit.clone());
        let routed = self.wf.manifest.graph.route(task.node, route.as_deref()).map_err(|e| e.to_string());
        let followed = match routed {
            Ok(edges) => self.follow(&mut tx, &exit, state, tree, depth, edges).await?,
            Err(e) => Err(e),
        };
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
    async fn follow(&mut self, tx: &mut ExitTx, exit: &Checkpoint, state: Map<String, Value>, tree: Arc<FileTree>, depth: u32, edges: Vec<usize>) -> Result<Result<(), String>, ExecError> {
        let mut forks = exit.forks.clone();
        if edges.len() > 1 {
            forks.push(exit.id);
            self.fork_bases.insert(exit.id, (state.clone(), tree.clone()));
        }
        let mut own_lane = Some(exit.lane);
        for e in edges {
            let to = self.wf.manifest.graph.edge(e).to;
            if self.wf.manifest.graph.is_join(to) {
                let arrival = Arrival { edge: e as u32, seq: exit.seq, checkpoint: exit.id, forks: forks.clone() };
                tx.arrived.push(arrival.clone());
                self.waiting.entry(e).or_default().push_back(Branch {
                    arrival,
                    node: exit.node.clone(),
                    state: state.clone(),
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
                let entry = Entry { node: to, state: state.clone(), file_commit: exit.file_commit, tree: tree.clone(), depth, lane, forks: forks.clone(), parents: vec![exit.id], attempt: 1, delay: Duration::ZERO };
                if let Err(why) = self.open(tx, entry) {
                    return Ok(Err(why));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Opens an entry checkpoint and its boundary, and queues the task. Refuses past
    /// `max_steps`.
    fn open(&mut self, tx: &mut ExitTx, e: Entry) -> Result<(), String> {
        let name = self.wf.manifest.graph.name(e.node).to_owned();
        if self.steps >= self.wf.manifest.max_steps {
            return Err(format!("max_steps ({}) reached: node `{name}` would be attempt {} of this execution", self.wf.manifest.max_steps, self.steps + 1));
        }
        self.steps += 1;
        let entry = Checkpoint {
            id: CheckpointId::from_uuid(self.ex.ids.next()),
            execution: self.id,
            seq: self.next_seq(),
            node: name,
            kind: CheckpointKind::Entry,
            attempt: e.attempt,
            state: Value::Object(e.state),
            file_commit: e.file_commit,
            lane: e.lane,
            forks: e.forks,
            parents: e.parents,
            created_at: self.ex.clock.now(),
        };
        let boundary = NodeBoundary::opened(BoundaryId::from_uuid(self.ex.ids.next()), &entry);
        tx.checkpoints.push(entry.clone());
        tx.opened.push(boundary.clone());
        self.ready.push_back(Task { node: e.node, entry, boundary, tree: e.tree, depth: e.depth, fresh: true, delay: e.delay });
        Ok(())
    }

    /// Fires join `j` if every input edge has a branch waiting: merges their states through
    /// the reducers and their files three-way against the fork they share.
    async fn try_join(&mut self, tx: &mut ExitTx, j: usize) -> Result<Result<(), String>, ExecError> {
        let inputs = self.wf.manifest.graph.inputs(j).to_vec();
        if !inputs.iter().all(|e| self.waiting.get(e).is_some_and(|q| !q.is_empty())) {
            return Ok(Ok(()));
        }
        failpoint::hit("join");
        let branches: Vec<Branch> = inputs.iter().filter_map(|e| self.waiting.get_mut(e).and_then(VecDeque::pop_front)).collect();
        tx.consumed.extend(branches.iter().map(|b| b.arrival.clone()));
        let name = self.wf.manifest.graph.name(j).to_owned();
        let shared = common_prefix(branches.iter().map(|b| b.arrival.forks.as_slice()));
        let Some((&base_id, outer)) = shared.split_last() else {
            return Ok(Err(format!("join `{name}`: its inputs share no fork point to merge against")));
        };
        let (base_state, base_tree) = self.fork_base(base_id).await?;
        let states: Vec<(&str, &Map<String, Value>)> = branches.iter().map(|b| (b.node.as_str(), &b.state)).collect();
        let state = match merge_branches(&base_state, &states, &self.wf.manifest.reducers) {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("join `{name}`: {e}"))),
        };
        let trees: Vec<(&str, &FileTree)> = branches.iter().map(|b| (b.node.as_str(), b.tree.as_ref())).collect();
        let tree = match merge_trees(&base_tree, &trees) {
            Ok(t) => t,
            Err(e) => return Ok(Err(format!("join `{name}`: {e}"))),
        };
        let first = &branches[0];
        let (file_commit, depth, tree) = if tree == *first.tree {
            (first.file_commit, first.depth, first.tree.clone())
        } else {
            let commit = FileCommit {
                id: FileCommitId::from_uuid(self.ex.ids.next()),
                tenant: self.ex.tenant,
                parent: Some(first.file_commit),
                changes: diff_trees(&first.tree, &tree),
                tree: Arc::new(tree),
                depth: first.depth + 1,
                created_at: self.ex.clock.now(),
            };
            let out = (commit.id, commit.depth, commit.tree.clone());
            tx.commits.push(commit);
            out
        };
        let lane = if self.lane_is_free(first.lane) { first.lane } else { self.free_lane(&[]) };
        let parents = branches.iter().map(|b| b.arrival.checkpoint).collect();
        let entry = Entry { node: j, state, file_commit, tree, depth, lane, forks: outer.to_vec(), parents, attempt: 1, delay: Duration::ZERO };
        Ok(self.open(tx, entry))
    }

    async fn fork_base(&mut self, id: CheckpointId) -> Result<(Map<String, Value>, Arc<FileTree>), ExecError> {
        if let Some(base) = self.fork_bases.get(&id) {
            return Ok(base.clone());
        }
        let mut conn = self.ex.pool.acquire().await.map_err(DbError::from)?;
        let cp = db::checkpoint::get_one(&mut *conn, id).await?.ok_or(DbError::Corrupt { what: "fork checkpoint", detail: id.to_string() })?;
        let commit = db::file_commit::get_one(&mut conn, self.ex.tenant, cp.file_commit).await?.ok_or(DbError::Corrupt { what: "fork file commit", detail: cp.file_commit.to_string() })?;
        let base = (cp.state.as_object().cloned().unwrap_or_default(), commit.tree);
        self.fork_bases.insert(id, base.clone());
        Ok(base)
    }

    async fn failed(&mut self, task: Task, failure: Failure, report: AttemptReport) -> Result<(), ExecError> {
        let mut tx = ExitTx::default();
        let exit = self.unchanged_exit(&task.entry);
        let boundary = NodeBoundary { trap: failure.trap, error: Some(failure.error.clone()), ..self.closed(&task, exit.id, failure.status, &report) };
        let spec = &self.wf.nodes[task.node].spec;
        let attempt = task.boundary.attempt;
        let retry = failure.retryable && attempt < spec.retry.max_attempts && !matches!(self.stop, Some(Stop::Cancel | Stop::Fail(_)));
        let delay = spec.retry.backoff(attempt);
        let message = format!("node `{}` {}", spec.id, failure.describe());
        let event = self.event(EventKind::NodeFailed, json!({
            "node": spec.id, "attempt": attempt, "checkpoint": exit.id, "status": failure.status,
            "trap": failure.trap, "error": failure.error,
            "retry_in_ms": retry.then_some(delay.as_millis() as u64),
        }));
        tx.events.push(event);
        tx.closed.push(boundary);
        tx.checkpoints.push(exit.clone());
        let (lane, entry_commit, tree) = (task.entry.lane, task.entry.file_commit, task.tree.clone());
        if retry {
            let state = task.entry.state.as_object().cloned().unwrap_or_default();
            let again = Entry { node: task.node, state, file_commit: entry_commit, tree: task.tree, depth: task.depth, lane, forks: task.entry.forks, parents: vec![exit.id], attempt: attempt + 1, delay };
            if let Err(why) = self.open(&mut tx, again) {
                self.decide_fail(&mut tx, why);
            }
        } else if failure.status != AttemptStatus::Cancelled || self.stop.is_none() {
            self.decide_fail(&mut tx, message);
        }
        self.maybe_complete(&mut tx);
        self.issue(tx);
        if !retry {
            self.restore_lane(lane, entry_commit, tree).await?;
        }
        Ok(())
    }

    /// The execution fails: status and event in `tx`, every other branch stopped.
    pub(crate) fn decide_fail(&mut self, tx: &mut ExitTx, why: String) {
        if matches!(self.stop, Some(Stop::Fail(_))) {
            return;
        }
        self.close_ready(tx, "stopped: another branch failed");
        let event = self.event(EventKind::ExecutionFailed, json!({ "error": why }));
        tx.events.push(event);
        tx.end = Some((ExecutionStatus::Failed, Some(why.clone())));
        self.stop = Some(Stop::Fail(why));
        self.cancel_running();
    }

    /// When nothing is left to run and no stop is pending, the execution ends here: completed,
    /// or failed if a join still waits for inputs that can no longer come.
    pub(crate) fn maybe_complete(&mut self, tx: &mut ExitTx) {
        if self.stop.is_some() || !self.idle() || tx.end.is_some() {
            return;
        }
        let stuck: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(e, q)| format!("`{}` (from `{}`)", self.wf.manifest.graph.name(self.wf.manifest.graph.edge(*e).to), q[0].node))
            .collect();
        if !stuck.is_empty() {
            self.decide_fail(tx, format!("every branch ended, but joins still wait for their other inputs: {}", stuck.join(", ")));
            return;
        }
        let last = tx.checkpoints.iter().rev().find(|c| c.kind == CheckpointKind::Exit).map(|c| c.id);
        let event = self.event(EventKind::ExecutionCompleted, json!({ "checkpoint": last }));
        tx.events.push(event);
        tx.end = Some((ExecutionStatus::Completed, None));
    }
}

/// An entry checkpoint to open.
struct Entry {
    node: usize,
    state: Map<String, Value>,
    file_commit: FileCommitId,
    tree: Arc<FileTree>,
    depth: u32,
    lane: u32,
    forks: Vec<CheckpointId>,
    parents: Vec<CheckpointId>,
    attempt: u32,
    delay: Duration,
}

fn common_prefix<'a>(mut lists: impl Iterator<Item = &'a [CheckpointId]>) -> Vec<CheckpointId> {
    let Some(first) = lists.next() else { return Vec::new() };
    let mut len = first.len();
    for l in lists {
        len = len.min(first.iter().zip(l).take_while(|(a, b)| a == b).count());
    }
    first[..len].to_vec()
}
