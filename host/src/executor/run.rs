//! Starting, resuming and continuing executions.

use super::attempt::Task;
use super::commit::ExitTx;
use super::control::{self, Control};
use super::drive::{Branch, Breakpoints, Drive};
use super::{ExecError, Executor, LoadedWorkflow};
use crate::capture::Workspace;
use crate::db::batch::Batch;
use crate::db::{self, DbError};
use crate::model::{
    BoundaryId, Checkpoint, CheckpointId, CheckpointKind, Environment, EventKind, Execution, ExecutionId, ExecutionStatus, FileCommit,
    FileCommitId, FileTree, NodeBoundary, Transition,
};
use crate::workflow::merge_update;
use cap_std::fs::Dir;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How a drive ended (for now: it may be resumed later if paused).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    /// The execution.
    pub execution: ExecutionId,
    /// `completed`, `failed`, `paused` or `cancelled`.
    pub status: ExecutionStatus,
    /// Node attempts made by this drive.
    pub attempts: usize,
    /// The failure, when the execution failed or was cancelled.
    pub failure: Option<String>,
    /// Why it paused, when it did.
    pub paused: Option<String>,
    /// The state after the last node that completed.
    pub state: Map<String, Value>,
}

/// How to drive an execution.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Pause before/after these nodes.
    pub breakpoints: Breakpoints,
    /// Most attempts of this execution running at once (parallel branches).
    pub parallelism: usize,
    /// Deterministic mode even if the workflow does not ask for it.
    pub deterministic: bool,
    /// The deterministic-mode seed (implies `deterministic`; unset: the workflow's `seed`,
    /// else a fresh one, recorded on the execution).
    pub seed: Option<u64>,
    /// Deterministic mode with the wall clock starting here (seconds since the epoch).
    pub clock: Option<u64>,
    /// The variant the execution runs (an experiment's cell).
    pub variant: Option<String>,
    /// The experiment cell the execution is.
    pub cell: Option<crate::model::CellTag>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { breakpoints: Breakpoints::default(), parallelism: 4, deterministic: false, seed: None, clock: None, variant: None, cell: None }
    }
}

impl Executor {
    /// Runs `wf` from its entry node, with `overrides` merged over the manifest's state.
    pub async fn run(&self, wf: &LoadedWorkflow, overrides: Map<String, Value>) -> Result<RunSummary, ExecError> {
        self.run_with(wf, overrides, &RunOptions::default()).await
    }

    /// [`Executor::run`] with breakpoints and a parallelism bound.
    pub async fn run_with(&self, wf: &LoadedWorkflow, overrides: Map<String, Value>, opts: &RunOptions) -> Result<RunSummary, ExecError> {
        self.run_reporting(wf, overrides, opts, None).await
    }

    /// Starts `wf` and returns the execution's id once its start transaction is durable; the
    /// run goes on in a task of its own (the HTTP API's `POST /executions`). Refusals (bad
    /// state, quotas) come back as errors, before anything is stored.
    pub async fn start_detached(self, wf: LoadedWorkflow, overrides: Map<String, Value>, opts: RunOptions) -> Result<ExecutionId, ExecError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let run = tokio::spawn(async move { self.run_reporting(&wf, overrides, &opts, Some(tx)).await });
        match rx.await {
            Ok(id) => Ok(id),
            Err(_) => match run.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(s)) => Ok(s.execution),
                Err(e) => Err(ExecError::Task(e.to_string())),
            },
        }
    }

    async fn run_reporting(&self, wf: &LoadedWorkflow, overrides: Map<String, Value>, opts: &RunOptions, started: Option<tokio::sync::oneshot::Sender<ExecutionId>>) -> Result<RunSummary, ExecError> {
        for id in opts.breakpoints.before.iter().chain(&opts.breakpoints.after) {
            if wf.manifest.graph.node(id).is_none() {
                return Err(ExecError::InvalidState(format!("breakpoint on `{id}`: the workflow has no such node")));
            }
        }
        let mut state = wf.manifest.state.clone();
        merge_update(&mut state, overrides);
        if let Some(schema) = &wf.state_schema {
            schema.check(&Value::Object(state.clone())).map_err(|v| ExecError::InvalidState(format!("does not match the workflow's `state_schema`: {v}")))?;
        }
        let quotas = self.check_quotas(true).await?;
        let mut drive = self.start(wf, state, opts).await?;
        drive.quotas = quotas;
        if let Some(tx) = started {
            let _ = tx.send(drive.id);
        }
        drive.run().await
    }

    /// The start transaction (the first on the execution's chain): execution, empty file
    /// commit, entry checkpoint of the entry node, `ExecutionStarted`.
    async fn start<'a>(&'a self, wf: &'a LoadedWorkflow, state: Map<String, Value>, opts: &RunOptions) -> Result<Drive<'a>, ExecError> {
        let now = self.clock.now();
        let execution = ExecutionId::from_uuid(self.ids.next());
        let ws = self.open_workspace(execution, 0)?;
        let entry_node = wf.manifest.graph.entry();
        let first = wf.manifest.graph.name(entry_node).to_owned();
        let commit = FileCommit {
            id: FileCommitId::from_uuid(self.ids.next()),
            tenant: self.tenant,
            parent: None,
            tree: Arc::default(),
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
            lane: 0,
            forks: Vec::new(),
            parents: Vec::new(),
            created_at: now,
        };
        let boundary = NodeBoundary::opened(BoundaryId::from_uuid(self.ids.next()), &entry);
        let registration = self.controls.register(execution, None, &self.pool, &self.clock);
        let deterministic = opts.deterministic || opts.seed.is_some() || opts.clock.is_some() || wf.manifest.deterministic;
        let seed = deterministic.then(|| opts.seed.or(wf.manifest.seed).unwrap_or_else(|| self.ids.next().as_u64_pair().1));
        let mut drive = Drive::new(self, wf, execution, 1, 0, 1, opts.breakpoints.clone(), opts.parallelism, registration);
        drive.seed = seed;
        drive.clock = opts.clock;
        let started = drive.event(EventKind::ExecutionStarted, json!({
            "workflow": wf.manifest.name, "workflow_digest": wf.digest.to_hex(), "entry": first,
        }));
        let workflow = self.register(wf, now).await?;
        let breakpoints = serde_json::to_value(&opts.breakpoints).map_err(|e| ExecError::InvalidState(e.to_string()))?;
        let mut batch = Batch::new();
        let driven = db::execution::Driven { owner: &self.controls.owner, lease_until: control::lease_until(now), breakpoints: &breakpoints };
        db::execution::insert_into(&mut batch, &Execution {
            id: execution,
            tenant: self.tenant,
            workflow,
            status: ExecutionStatus::Pending.apply(Transition::Start).map_err(ExecError::Illegal)?,
            cursor: Some(first),
            parent_checkpoint: None,
            parent_execution: None,
            variant: opts.variant.clone(),
            environment: Environment { seed, clock: opts.clock, cell: opts.cell.clone() },
            error: None,
            created_at: now,
            updated_at: now,
        }, Some(&driven));
        db::file_commit::insert_into(&mut batch, &commit)?;
        db::checkpoint::insert_into(&mut batch, &entry);
        db::boundary::insert_into(&mut batch, &boundary);
        db::outbox::insert_all_into(&mut batch, &[started]);
        // Through the group writer (sharing a commit with other executions' exits, and no
        // second writer waiting on SQLite's lock); durable before the entry node runs, so a
        // crash from here on always leaves a resumable execution.
        drive.chain.issue_start(batch);
        drive.status_written = true;
        drive.chain.settle().await?;
        drive.adopt_lane(0, ws, Some(commit.id));
        drive.ready.push_back(Task { node: entry_node, entry, boundary, tree: Arc::new(FileTree::new()), depth: 0, fresh: true, delay: Duration::ZERO });
        Ok(drive)
    }

    /// Stores the workflow's components (CAS objects and rows) and its definition once per
    /// executor: they are content-addressed, so later runs of the same workflow find them.
    pub async fn register(&self, wf: &LoadedWorkflow, now: crate::model::Timestamp) -> Result<crate::model::WorkflowId, ExecError> {
        if let Some(id) = self.registered.lock().ok().and_then(|r| r.get(&(self.tenant, wf.digest)).copied()) {
            return Ok(id);
        }
        for node in &wf.nodes {
            self.store_component(node.prepared.digest(), node.bytes.clone()).await?;
        }
        let mut tx = self.pool.begin().await.map_err(DbError::from)?;
        for node in &wf.nodes {
            self.record_component(&mut tx, node.prepared.digest(), node.bytes.len() as u64, now).await?;
        }
        let id = db::workflow::insert_or_get(&mut tx, &self.workflow_record(wf)).await?;
        tx.commit().await.map_err(DbError::from)?;
        if let Ok(mut registered) = self.registered.lock() {
            registered.insert((self.tenant, wf.digest), id);
        }
        Ok(id)
    }

    /// Continues a paused execution, or one whose process died (its open attempts re-run from
    /// their entry checkpoints, workspaces restored first). The workflow is the stored one.
    pub async fn resume(&self, id: ExecutionId, parallelism: usize) -> Result<RunSummary, ExecError> {
        let exec = db::execution::get_one(&self.pool, self.tenant, id).await?.ok_or(ExecError::UnknownExecution(id))?;
        let recovering = exec.status == ExecutionStatus::Running;
        let transition = if recovering { Transition::Start } else { Transition::Resume };
        exec.status.apply(transition).map_err(ExecError::Illegal)?;
        let quotas = self.check_quotas(!recovering).await?;
        let now = self.clock.now();
        if let Err(holder) = control::claim(&self.pool, &self.controls.owner, id, now).await? {
            return Err(ExecError::Busy { execution: id, holder });
        }
        let record = db::workflow::get_one(&self.pool, self.tenant, exec.workflow).await?.ok_or(DbError::Corrupt { what: "workflow", detail: exec.workflow.to_string() })?;
        let wf = self.load_stored(&record).await?;
        let mut drive = self.rebuild(&wf, &exec, recovering, parallelism, true).await?;
        drive.quotas = quotas;
        drive.run().await
    }

    /// The execution's status.
    pub async fn status(&self, id: ExecutionId) -> Result<ExecutionStatus, ExecError> {
        Ok(db::execution::get_one(&self.pool, self.tenant, id).await?.ok_or(ExecError::UnknownExecution(id))?.status)
    }

    /// Asks the process running `id` to pause it at the next node boundary.
    pub async fn request_pause(&self, id: ExecutionId) -> Result<(), ExecError> {
        if db::execution::request(&self.pool, self.tenant, id, Control::Pause.as_str()).await? {
            return Ok(());
        }
        let exec = db::execution::get_one(&self.pool, self.tenant, id).await?.ok_or(ExecError::UnknownExecution(id))?;
        exec.status.apply(Transition::Pause).map_err(ExecError::Illegal)?;
        Err(ExecError::InvalidState(format!("execution {id} is {}", exec.status)))
    }

    /// Cancels `id`. A running execution whose process is alive is asked to stop (it
    /// interrupts its guests within a few epoch ticks) and `Ok(None)` returned; a paused one,
    /// or one whose process died, is cancelled here and its summary returned.
    pub async fn cancel(&self, id: ExecutionId) -> Result<Option<RunSummary>, ExecError> {
        let exec = db::execution::get_one(&self.pool, self.tenant, id).await?.ok_or(ExecError::UnknownExecution(id))?;
        exec.status.apply(Transition::Cancel).map_err(ExecError::Illegal)?;
        let now = self.clock.now();
        if self.controls.is_driving(id) || control::claim(&self.pool, &self.controls.owner, id, now).await?.is_err() {
            db::execution::request(&self.pool, self.tenant, id, Control::Cancel.as_str()).await?;
            return Ok(None);
        }
        let record = db::workflow::get_one(&self.pool, self.tenant, exec.workflow).await?.ok_or(DbError::Corrupt { what: "workflow", detail: exec.workflow.to_string() })?;
        let wf = self.load_stored(&record).await?;
        let mut drive = self.rebuild(&wf, &exec, false, 1, false).await?;
        drive.stop = Some(super::drive::Stop::Cancel);
        drive.run().await.map(Some)
    }

    /// Resumes every running execution no live process holds (after a crash). Executions
    /// another process is running are skipped; each result is reported.
    pub async fn resume_all(&self, parallelism: usize) -> Result<Vec<(ExecutionId, Result<RunSummary, ExecError>)>, ExecError> {
        let ids = db::execution::list_running(&self.pool, self.tenant).await?;
        let mut out = Vec::new();
        for id in ids {
            match self.resume(id, parallelism).await {
                Err(ExecError::Busy { .. }) => {}
                r => out.push((id, r)),
            }
        }
        Ok(out)
    }

    async fn rebuild<'a>(&'a self, wf: &'a LoadedWorkflow, exec: &Execution, recovering: bool, parallelism: usize, announce: bool) -> Result<Drive<'a>, ExecError> {
        let id = exec.id;
        let mut conn = self.pool.acquire().await.map_err(DbError::from)?;
        let (seq, steps) = db::checkpoint::progress(&mut *conn, id).await?;
        let event_seq = db::outbox::last_seq(&mut conn, id).await?;
        let breakpoints: Breakpoints = serde_json::from_value(db::execution::breakpoints(&mut *conn, id).await?).unwrap_or_default();
        let pending = if recovering { db::execution::control(&mut *conn, id).await? } else { None };
        let registration = self.controls.register(id, pending.as_deref(), &self.pool, &self.clock);
        let mut drive = Drive::new(self, wf, id, seq, event_seq, steps, breakpoints, parallelism, registration);
        drive.seed = exec.environment.seed;
        drive.clock = exec.environment.clock;
        let corrupt = |what: &'static str, detail: String| ExecError::Db(DbError::Corrupt { what, detail });
        for b in db::boundary::list_open(&mut *conn, id).await? {
            let entry = db::checkpoint::get_one(&mut *conn, b.entry_checkpoint).await?.ok_or_else(|| corrupt("entry checkpoint", b.entry_checkpoint.to_string()))?;
            let commit = db::file_commit::get_one(&mut conn, self.tenant, entry.file_commit).await?.ok_or_else(|| corrupt("file commit", entry.file_commit.to_string()))?;
            let node = wf.manifest.graph.node(&entry.node).ok_or_else(|| corrupt("checkpoint node", entry.node.clone()))?;
            drive.ready.push_back(Task { node, entry, boundary: b, tree: commit.tree, depth: commit.depth, fresh: false, delay: Duration::ZERO });
        }
        for arrival in db::join::list_for_execution(&mut *conn, id).await? {
            let cp = db::checkpoint::get_one(&mut *conn, arrival.checkpoint).await?.ok_or_else(|| corrupt("arrival checkpoint", arrival.checkpoint.to_string()))?;
            let commit = db::file_commit::get_one(&mut conn, self.tenant, cp.file_commit).await?.ok_or_else(|| corrupt("file commit", cp.file_commit.to_string()))?;
            drive.waiting.entry(arrival.edge as usize).or_default().push_back(Branch {
                arrival,
                node: cp.node.clone(),
                state: cp.state.as_object().cloned().unwrap_or_default(),
                file_commit: cp.file_commit,
                tree: commit.tree,
                depth: commit.depth,
                lane: cp.lane,
            });
        }
        drop(conn);
        if !announce {
            return Ok(drive);
        }
        let mut tx = ExitTx::default();
        let event = drive.event(EventKind::ExecutionResumed, json!({
            "after_crash": recovering,
            "open": drive.ready.iter().map(|t| t.entry.node.clone()).collect::<Vec<_>>(),
        }));
        tx.events.push(event);
        drive.issue(tx);
        if pending.as_deref() == Some(Control::Cancel.as_str()) {
            tracing::info!(execution = %id, "a cancel request is pending; cancelling");
        }
        Ok(drive)
    }

    /// Deletes every lane workspace of an execution (retention GC, after its rows are gone).
    pub(crate) async fn remove_workspaces(&self, execution: ExecutionId) -> Result<(), ExecError> {
        let root = self.workspaces.try_clone().map_err(|source| ExecError::Io { what: "opening the workspaces dir".into(), source })?;
        let (main, lanes) = (execution.to_string(), format!("{execution}."));
        blocking(move || -> std::io::Result<()> {
            for entry in root.entries()? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if name == main || name.starts_with(&lanes) {
                    match crate::capture::beneath::remove_all(&root, &name) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
            }
            Ok(())
        })
        .await?
        .map_err(|source| ExecError::Io { what: format!("deleting the workspaces of {execution}"), source })
    }

    /// Opens (creating if needed) a lane's workspace.
    pub(crate) fn open_workspace(&self, execution: ExecutionId, lane: u32) -> Result<Workspace, ExecError> {
        let name = lane_dir(execution, lane);
        let io = |source| ExecError::Io { what: format!("opening workspace `{name}`"), source };
        let created = match self.workspaces.create_dir(&name) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io(e)),
        };
        let dir: Dir = self.workspaces.open_dir(&name).map_err(io)?;
        let path = self.workspaces_path.join(&name);
        Ok(if created { Workspace::created(dir, path) } else { Workspace::new(dir, path) })
    }
}

/// Runs blocking file work on tokio's blocking pool. (`block_in_place` was measured as no
/// faster per node, and it does not work on a current-thread runtime.)
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ExecError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ExecError::Task(e.to_string()))
}

/// A lane's workspace directory name: lane 0 (the main line) is `<execution>`, lane n (a
/// parallel branch) `<execution>.<n>`.
pub(super) fn lane_dir(execution: ExecutionId, lane: u32) -> String {
    if lane == 0 { execution.to_string() } else { format!("{execution}.{lane}") }
}

/// Where a lane's workspace lives under a data dir.
pub fn workspace_dir(data_dir: &std::path::Path, execution: ExecutionId, lane: u32) -> PathBuf {
    data_dir.join("workspaces").join(lane_dir(execution, lane))
}
