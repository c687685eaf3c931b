//! Running a workflow from its first node to its end.

use super::commit::{Cursor, Failure};
use super::{ExecError, Executor, LoadedNode, LoadedWorkflow};
use crate::capture::{CaptureError, Workspace, capture, restore};
use crate::db::{self, DbError};
use crate::model::{
    AttemptStatus, BlobRecord, BoundaryId, Checkpoint, CheckpointId, CheckpointKind, EventKind, Execution, ExecutionId,
    ExecutionStatus, FileCommit, FileCommitId, FileTree, NodeBoundary, TrapKind,
};
use crate::runtime::{NodeCall, Outcome};
use crate::workflow::{merge_update, parse_update};
use cap_std::fs::Dir;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// How a run ended.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    /// The execution.
    pub execution: ExecutionId,
    /// `completed` or `failed`.
    pub status: ExecutionStatus,
    /// Node attempts made.
    pub attempts: usize,
    /// The failure, when the execution failed.
    pub failure: Option<String>,
    /// The final state.
    pub state: Map<String, Value>,
}

impl Executor {
    /// Runs `wf` from its first node, with `overrides` merged over the manifest's state.
    pub async fn run(&self, wf: &LoadedWorkflow, overrides: Map<String, Value>) -> Result<RunSummary, ExecError> {
        let mut state = wf.manifest.state.clone();
        merge_update(&mut state, overrides);
        let (mut cur, ws) = self.start(wf, state).await?;
        let result = self.run_nodes(wf, &mut cur, ws).await;
        // Nothing is reported before the last exit transaction is durable; a failed commit is
        // the more fundamental error when both occurred.
        cur.settle().await?;
        result
    }

    async fn run_nodes(&self, wf: &LoadedWorkflow, cur: &mut Cursor, mut ws: Workspace) -> Result<RunSummary, ExecError> {
        let mut attempts = 0;
        for (i, node) in wf.nodes.iter().enumerate() {
            attempts += 1;
            let next = wf.nodes.get(i + 1).map(|n| n.spec.id.as_str());
            let (back, failure) = self.step(node, next, cur, ws).await?;
            ws = back;
            if let Some(failure) = failure {
                return Ok(RunSummary { execution: cur.execution, status: ExecutionStatus::Failed, attempts, failure: Some(failure), state: cur.state() });
            }
        }
        Ok(RunSummary { execution: cur.execution, status: ExecutionStatus::Completed, attempts, failure: None, state: cur.state() })
    }

    /// The start transaction: execution, empty file commit, first entry checkpoint.
    async fn start(&self, wf: &LoadedWorkflow, state: Map<String, Value>) -> Result<(Cursor, Workspace), ExecError> {
        let now = self.clock.now();
        let execution = ExecutionId::from_uuid(self.ids.next());
        for node in &wf.nodes {
            self.store_component(node.prepared.digest(), node.bytes.clone()).await?;
        }
        let ws = self.create_workspace(execution)?;
        let first = &wf.nodes[0].spec.id;
        let commit = FileCommit {
            id: FileCommitId::from_uuid(self.ids.next()),
            tenant: self.tenant,
            parent: None,
            tree: FileTree::new(),
            changes: Vec::new(),
            depth: 0,
            created_at: now,
        };
        let entry = Checkpoint {
            id: CheckpointId::from_uuid(self.ids.next()),
            execution,
            seq: 1,
            node: first.clone(),
            kind: CheckpointKind::Entry,
            attempt: 1,
            state: Value::Object(state),
            file_commit: commit.id,
            created_at: now,
        };
        let boundary = NodeBoundary::opened(BoundaryId::from_uuid(self.ids.next()), &entry);
        let mut cur = Cursor { execution, entry, boundary, tree: Arc::new(FileTree::new()), commit_depth: 0, event_seq: 0, pending: None };
        let started = self.event(&mut cur, EventKind::ExecutionStarted, json!({
            "workflow": wf.manifest.name, "workflow_digest": wf.digest.to_hex(), "first_node": first,
        }));
        let mut tx = self.pool.begin().await.map_err(DbError::from)?;
        for node in &wf.nodes {
            let digest = node.prepared.digest();
            let size = node.bytes.len() as u64;
            db::component::insert(&mut *tx, &db::component::ComponentRecord { tenant: self.tenant, digest, size, created_at: now }).await?;
            db::blob::insert(&mut *tx, &BlobRecord { tenant: self.tenant, digest, size, inline: None, created_at: now }).await?;
        }
        let workflow = db::workflow::insert_or_get(&mut tx, &self.workflow_record(wf)).await?;
        db::execution::insert(&mut *tx, &Execution {
            id: execution,
            tenant: self.tenant,
            workflow,
            status: ExecutionStatus::Running,
            cursor: Some(first.clone()),
            parent_checkpoint: None,
            variant: None,
            environment: None,
            error: None,
            created_at: now,
            updated_at: now,
        })
        .await?;
        db::file_commit::insert(&mut tx, &commit).await?;
        db::checkpoint::insert(&mut *tx, &cur.entry).await?;
        db::boundary::insert(&mut *tx, &cur.boundary).await?;
        db::outbox::insert_all(&mut tx, &[started]).await?;
        tx.commit().await.map_err(DbError::from)?;
        Ok((cur, ws))
    }

    fn create_workspace(&self, execution: ExecutionId) -> Result<Workspace, ExecError> {
        let name = execution.to_string();
        let io = |source| ExecError::Io { what: format!("creating the workspace of {execution}"), source };
        self.workspaces.create_dir(&name).map_err(io)?;
        let dir: Dir = self.workspaces.open_dir(&name).map_err(io)?;
        Ok(Workspace::new(dir, self.workspaces_path.join(&name)))
    }

    /// One node attempt: run, capture, commit. Returns the workspace and, if the node failed,
    /// why (already recorded).
    async fn step(&self, node: &LoadedNode, next: Option<&str>, cur: &mut Cursor, ws: Workspace) -> Result<(Workspace, Option<String>), ExecError> {
        let spec = &node.spec;
        let limits = self.config.node_limits(spec.limits.memory_mib, spec.limits.timeout_ms);
        let call = NodeCall {
            execution: cur.execution.to_string(),
            node: spec.id.clone(),
            attempt: cur.boundary.attempt,
            state: cur.entry.state.to_string(),
            config: spec.config.to_string(),
            env: spec.env.clone(),
        };
        let started = std::time::Instant::now();
        let report = self.runtime.run(&node.prepared, &call, ws.host_path(), &limits).await;
        tracing::debug!(node = %spec.id, guest_us = report.guest_time.as_micros() as u64, "node returned");
        let failure = match &report.outcome {
            Outcome::Returned { update, route } => match parse_update(update, limits.update_bytes) {
                Err(e) => Failure { status: AttemptStatus::InvalidOutput, trap: None, error: e.to_string() },
                Ok(update) => {
                    let (ws, captured) = self.capture(ws, cur.tree.clone()).await?;
                    let captured_at = started.elapsed();
                    match captured {
                        Ok(captured) => {
                            self.commit_success(cur, spec, next, update, route.clone(), captured, &report).await?;
                            tracing::debug!(
                                node = %spec.id,
                                capture_us = (captured_at - report.guest_time).as_micros() as u64,
                                issue_us = (started.elapsed() - captured_at).as_micros() as u64,
                                "exit transaction issued"
                            );
                            return Ok((ws, None));
                        }
                        Err(e) => match node_fault(&e) {
                            Some(trap) => {
                                let failure = Failure { status: AttemptStatus::Trapped, trap: Some(trap), error: e.to_string() };
                                return self.fail(cur, spec, failure, &report, ws).await;
                            }
                            None => return Err(ExecError::Workspace { execution: cur.execution, source: e }),
                        },
                    }
                }
            },
            Outcome::GuestError { kind, message } => Failure {
                status: AttemptStatus::GuestError,
                trap: None,
                error: format!("{}: {message}", kind.as_str()),
            },
            Outcome::Trapped { kind, detail } => Failure { status: AttemptStatus::Trapped, trap: Some(*kind), error: detail.clone() },
        };
        self.fail(cur, spec, failure, &report, ws).await
    }

    async fn fail(
        &self,
        cur: &mut Cursor,
        spec: &crate::workflow::NodeSpec,
        failure: Failure,
        report: &crate::runtime::AttemptReport,
        ws: Workspace,
    ) -> Result<(Workspace, Option<String>), ExecError> {
        let message = format!("node `{}` {}", spec.id, failure.describe());
        self.commit_failure(cur, spec, &failure, report).await?;
        let ws = self.restore(ws, cur.tree.clone(), cur.execution).await?;
        Ok((ws, Some(message)))
    }

    async fn capture(&self, mut ws: Workspace, base: Arc<FileTree>) -> Result<(Workspace, Result<crate::capture::Captured, CaptureError>), ExecError> {
        let (cas, tenant, limits) = (self.cas.clone(), self.tenant, self.config.capture_limits());
        blocking(move || {
            let r = capture(&mut ws, &base, &cas, tenant, &limits);
            (ws, r)
        })
        .await
    }

    /// Puts the workspace back to `tree` (after a failed attempt).
    async fn restore(&self, mut ws: Workspace, tree: Arc<FileTree>, execution: ExecutionId) -> Result<Workspace, ExecError> {
        let blobs = self.stored_blobs(&tree).await?;
        let limits = self.config.capture_limits();
        let (ws, r) = blocking(move || {
            let r = restore(&mut ws, &tree, &blobs, &limits);
            (ws, r)
        })
        .await?;
        r.map_err(|source| ExecError::Workspace { execution, source })?;
        Ok(ws)
    }
}

/// Runs blocking file work on tokio's blocking pool. (`block_in_place` was measured as no
/// faster per node, and it does not work on a current-thread runtime.)
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ExecError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ExecError::Task(e.to_string()))
}

/// Capture errors that are the node's doing (it wrote something it may not), as a trap kind.
fn node_fault(e: &CaptureError) -> Option<TrapKind> {
    match e {
        CaptureError::FileTooLarge { .. } | CaptureError::TooManyEntries { .. } => Some(TrapKind::DiskQuotaExceeded),
        CaptureError::SpecialFile { .. } | CaptureError::NonUtf8Name { .. } => Some(TrapKind::SandboxViolation),
        CaptureError::Io { .. } => None,
    }
}
