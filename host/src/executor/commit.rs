//! The exit transactions: everything a node attempt decided, committed at once.

use super::{ExecError, Executor, FailPoint};
use crate::capture::Captured;
use crate::db::batch::{Batch, End};
use crate::db::{self, DbError};
use crate::model::{
    AttemptStatus, BlobRecord, BoundaryId, Checkpoint, CheckpointId, CheckpointKind, EventId, EventKind, ExecutionId,
    ExecutionStatus, FileCommit, FileCommitId, FileTree, NodeBoundary, OutboxEvent, TrapKind,
};
use crate::runtime::AttemptReport;
use crate::workflow::{NodeSpec, merge_update};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Where an execution stands: its latest entry checkpoint, the open boundary, the tree of the
/// entry's file commit and the last event number. Held in memory between transactions.
///
/// The cursor runs ahead of the database by at most one exit transaction (`pending`): node
/// k+1 starts while node k's commit is still executing on SQLite's thread. Commits stay in
/// order (each waits for its predecessor) and a failed one stops the run, so node k+1's
/// effects can only ever commit after node k's — exactly as if the host had crashed and
/// resumed at node k otherwise.
pub(crate) struct Cursor {
    pub(crate) execution: ExecutionId,
    pub(crate) entry: Checkpoint,
    pub(crate) boundary: NodeBoundary,
    pub(crate) tree: Arc<FileTree>,
    /// Depth of the entry's file commit in its chain (see [`FileCommit::depth`]).
    pub(crate) commit_depth: u32,
    pub(crate) event_seq: u32,
    /// The last exit transaction, possibly still executing.
    pub(crate) pending: Option<JoinHandle<Result<(), ExecError>>>,
}

impl Cursor {
    pub(crate) fn state(&self) -> Map<String, Value> {
        self.entry.state.as_object().cloned().unwrap_or_default()
    }

    /// Waits until every exit transaction issued so far has committed (or failed).
    pub(crate) async fn settle(&mut self) -> Result<(), ExecError> {
        match self.pending.take() {
            Some(handle) => join(handle).await,
            None => Ok(()),
        }
    }
}

async fn join(handle: JoinHandle<Result<(), ExecError>>) -> Result<(), ExecError> {
    handle.await.map_err(|e| ExecError::Task(e.to_string()))?
}

/// How an attempt failed.
pub(crate) struct Failure {
    pub(crate) status: AttemptStatus,
    pub(crate) trap: Option<TrapKind>,
    pub(crate) error: String,
}

impl Failure {
    pub(crate) fn describe(&self) -> String {
        match (self.status, self.trap) {
            (AttemptStatus::Trapped, Some(kind)) => format!("trapped ({kind}): {}", self.error),
            (AttemptStatus::GuestError, _) => format!("returned an error: {}", self.error),
            (AttemptStatus::InvalidOutput, _) => format!("returned invalid output: {}", self.error),
            _ => self.error.clone(),
        }
    }
}

impl Executor {
    /// The next outbox event of the cursor's execution.
    pub(crate) fn event(&self, cur: &mut Cursor, kind: EventKind, payload: Value) -> OutboxEvent {
        cur.event_seq += 1;
        OutboxEvent {
            id: EventId::from_uuid(self.ids.next()),
            tenant: self.tenant,
            execution: cur.execution,
            seq: cur.event_seq,
            kind,
            payload,
            idempotency_key: OutboxEvent::key_for(cur.execution, cur.event_seq),
            created_at: self.clock.now(),
        }
    }

    fn closed_boundary(&self, cur: &Cursor, exit: CheckpointId, status: AttemptStatus, report: &AttemptReport) -> NodeBoundary {
        NodeBoundary {
            exit_checkpoint: Some(exit),
            status,
            finished_at: Some(self.clock.now()),
            guest_micros: Some(report.guest_time.as_micros() as u64),
            peak_memory_bytes: Some(report.peak_memory_bytes),
            stdout: report.stdout.clone(),
            stderr: report.stderr.clone(),
            ..cur.boundary.clone()
        }
    }

    /// Issues the exit transaction of a successful attempt (after the previous one, see
    /// [`Cursor`]) and advances the cursor to the next node's entry.
    #[expect(clippy::too_many_arguments, reason = "the parts of one exit transaction, named")]
    pub(crate) async fn commit_success(
        &self,
        cur: &mut Cursor,
        spec: &NodeSpec,
        next: Option<&str>,
        update: Map<String, Value>,
        route: Option<String>,
        captured: Captured,
        report: &AttemptReport,
    ) -> Result<(), ExecError> {
        let now = self.clock.now();
        let mut state = cur.state();
        merge_update(&mut state, update);
        let state = Value::Object(state);
        let commit = (!captured.changes.is_empty()).then(|| FileCommit {
            id: FileCommitId::from_uuid(self.ids.next()),
            tenant: self.tenant,
            parent: Some(cur.entry.file_commit),
            tree: captured.tree,
            changes: captured.changes,
            depth: cur.commit_depth + 1,
            created_at: now,
        });
        let file_commit = commit.as_ref().map_or(cur.entry.file_commit, |c| c.id);
        let exit = Checkpoint {
            id: CheckpointId::from_uuid(self.ids.next()),
            execution: cur.execution,
            seq: cur.entry.seq + 1,
            node: spec.id.clone(),
            kind: CheckpointKind::Exit,
            attempt: cur.entry.attempt,
            state: state.clone(),
            file_commit,
            created_at: now,
        };
        let boundary = self.closed_boundary(cur, exit.id, AttemptStatus::Succeeded, report);
        let next_entry = next.map(|node| Checkpoint {
            id: CheckpointId::from_uuid(self.ids.next()),
            seq: exit.seq + 1,
            node: node.to_owned(),
            kind: CheckpointKind::Entry,
            attempt: 1,
            ..exit.clone()
        });
        let next_boundary = next_entry.as_ref().map(|e| NodeBoundary::opened(BoundaryId::from_uuid(self.ids.next()), e));
        let mut events = vec![self.event(cur, EventKind::NodeCompleted, json!({
            "node": spec.id, "attempt": exit.attempt, "checkpoint": exit.id, "seq": exit.seq,
            "route": route, "guest_micros": boundary.guest_micros,
        }))];
        if let Some(c) = &commit {
            let changes: Vec<Value> = c.changes.iter().map(|ch| json!({
                "path": ch.path, "change": ch.change,
                "size": ch.entry.as_ref().map(|e| e.size),
                "digest": ch.entry.as_ref().and_then(|e| e.digest),
            })).collect();
            events.push(self.event(cur, EventKind::FilesCommitted, json!({ "node": spec.id, "commit": c.id, "changes": changes })));
        }
        for e in &report.events {
            events.push(self.event(cur, EventKind::Guest(e.kind.clone()), json!({ "node": spec.id, "data": e.payload })));
        }
        if next.is_none() {
            events.push(self.event(cur, EventKind::ExecutionCompleted, json!({ "checkpoint": exit.id })));
        }
        let (status, cursor) = match next {
            Some(n) => (ExecutionStatus::Running, Some(n)),
            None => (ExecutionStatus::Completed, None),
        };

        let blobs: Vec<BlobRecord> = captured
            .blobs
            .into_iter()
            .map(|b| BlobRecord { tenant: self.tenant, digest: b.digest, size: b.size, inline: b.inline, created_at: now })
            .collect();
        let mut batch = Batch::new();
        for b in &blobs {
            db::blob::insert_into(&mut batch, b);
        }
        if let Some(c) = &commit {
            db::file_commit::insert_into(&mut batch, c)?;
        }
        db::checkpoint::insert_into(&mut batch, &exit);
        db::boundary::finish_into(&mut batch, &boundary);
        if let (Some(e), Some(b)) = (&next_entry, &next_boundary) {
            db::checkpoint::insert_into(&mut batch, e);
            db::boundary::insert_into(&mut batch, b);
        }
        db::execution::set_progress_into(&mut batch, cur.execution, status, cursor, None, now);
        db::outbox::insert_all_into(&mut batch, &events);

        let end = match self.fail_point {
            Some(FailPoint::BeforeExitCommit) => End::Rollback,
            None => End::Commit,
        };
        let (previous, pool) = (cur.pending.take(), self.pool.clone());
        cur.pending = Some(tokio::spawn(async move {
            if let Some(previous) = previous {
                join(previous).await?;
            }
            let mut conn = pool.acquire().await.map_err(DbError::from)?;
            batch.execute_atomic(&mut conn, end).await?;
            match end {
                End::Commit => Ok(()),
                End::Rollback => Err(ExecError::Injected(FailPoint::BeforeExitCommit)),
            }
        }));

        if let Some(c) = commit {
            cur.tree = Arc::new(c.tree);
            cur.commit_depth = c.depth;
        }
        match (next_entry, next_boundary) {
            (Some(e), Some(b)) => {
                cur.entry = e;
                cur.boundary = b;
            }
            _ => {
                cur.entry = exit;
                cur.boundary = boundary;
            }
        }
        Ok(())
    }

    /// Commits a failed attempt: exit checkpoint with the entry's state and files, the
    /// boundary's status and cause, `NodeFailed` and `ExecutionFailed`.
    pub(crate) async fn commit_failure(&self, cur: &mut Cursor, spec: &NodeSpec, failure: &Failure, report: &AttemptReport) -> Result<(), ExecError> {
        let now = self.clock.now();
        let exit = Checkpoint {
            id: CheckpointId::from_uuid(self.ids.next()),
            seq: cur.entry.seq + 1,
            kind: CheckpointKind::Exit,
            created_at: now,
            ..cur.entry.clone()
        };
        let boundary = NodeBoundary {
            trap: failure.trap,
            error: Some(failure.error.clone()),
            ..self.closed_boundary(cur, exit.id, failure.status, report)
        };
        let message = format!("node `{}` {}", spec.id, failure.describe());
        let events = [
            self.event(cur, EventKind::NodeFailed, json!({
                "node": spec.id, "attempt": exit.attempt, "checkpoint": exit.id, "status": failure.status,
                "trap": failure.trap, "error": failure.error,
            })),
            self.event(cur, EventKind::ExecutionFailed, json!({ "node": spec.id, "error": message })),
        ];
        let mut batch = Batch::new();
        db::checkpoint::insert_into(&mut batch, &exit);
        db::boundary::finish_into(&mut batch, &boundary);
        db::execution::set_progress_into(&mut batch, cur.execution, ExecutionStatus::Failed, Some(&spec.id), Some(&message), now);
        db::outbox::insert_all_into(&mut batch, &events);
        cur.settle().await?;
        let mut conn = self.pool.acquire().await.map_err(DbError::from)?;
        batch.execute_atomic(&mut conn, End::Commit).await?;
        cur.entry = exit;
        cur.boundary = boundary;
        Ok(())
    }
}
