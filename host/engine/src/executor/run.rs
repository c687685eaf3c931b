//! Starting, resuming and continuing executions.

use super::attempt::Task;
use super::drive::{Breakpoints, Drive};
use super::{ExecError, Executor, LoadedWorkflow};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use wtb_core::model::{
    BoundaryId, Checkpoint, CheckpointId, CheckpointKind, Environment, EventKind, Execution, ExecutionId,
    ExecutionStatus, FileCommit, FileCommitId, FileTree, NodeBoundary, Transition,
};
use wtb_core::workflow::merge_update;
use wtb_store::db::{Lease, UnitOfWork, Write};

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
    pub cell: Option<wtb_core::model::CellTag>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            breakpoints: Breakpoints::default(),
            parallelism: 4,
            deterministic: false,
            seed: None,
            clock: None,
            variant: None,
            cell: None,
        }
    }
}

impl Executor {
    /// Runs `wf` from its entry node, with `overrides` merged over the manifest's state.
    pub async fn run(
        &self,
        wf: &LoadedWorkflow,
        overrides: Map<String, Value>,
    ) -> Result<RunSummary, ExecError> {
        self.run_with(wf, overrides, &RunOptions::default()).await
    }

    /// [`Executor::run`] with breakpoints and a parallelism bound.
    pub async fn run_with(
        &self,
        wf: &LoadedWorkflow,
        overrides: Map<String, Value>,
        opts: &RunOptions,
    ) -> Result<RunSummary, ExecError> {
        // Boxed: the run's state (~10 KiB: the drive and everything it awaits) is allocated
        // when the run is first polled, not carried inline by every future that awaits it. A
        // caller that spawns many runs up front (64 at a time of thousands, as `wtb bench`
        // does) otherwise copied and page-faulted ~10 KiB per task before any of it ran.
        Box::pin(self.run_reporting(wf, overrides, opts, None)).await
    }

    /// Starts `wf` and returns the execution's id once its start transaction is durable; the
    /// run goes on in a task of its own (the HTTP API's `POST /executions`). Refusals (bad
    /// state, quotas) come back as errors, before anything is stored.
    pub async fn start_detached(
        self,
        wf: LoadedWorkflow,
        overrides: Map<String, Value>,
        opts: RunOptions,
    ) -> Result<ExecutionId, ExecError> {
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

    async fn run_reporting(
        &self,
        wf: &LoadedWorkflow,
        overrides: Map<String, Value>,
        opts: &RunOptions,
        started: Option<tokio::sync::oneshot::Sender<ExecutionId>>,
    ) -> Result<RunSummary, ExecError> {
        for id in opts.breakpoints.before.iter().chain(&opts.breakpoints.after) {
            if wf.manifest.graph.node(id).is_none() {
                return Err(ExecError::InvalidState(format!(
                    "breakpoint on `{id}`: the workflow has no such node"
                )));
            }
        }
        let mut state = wf.manifest.state.clone();
        merge_update(&mut state, overrides);
        if let Some(schema) = &wf.state_schema {
            schema.check(&Value::Object(state.clone())).map_err(|v| {
                ExecError::InvalidState(format!(
                    "the initial state does not match the workflow's `state_schema`: {v}"
                ))
            })?;
        }
        let hand_off = self.config.workers.hand_off;
        let state = Arc::new(Value::Object(state));
        let assumed = self.assumes_no_quotas();
        let mut quotas = match assumed {
            true => super::quota::QuotaWatch::default(),
            false => self.check_quotas(true).await?,
        };
        let mut drive = match self.start(wf, state.clone(), opts, hand_off, assumed).await {
            // A quota was set since this host last read the tenant; nothing was stored.
            Err(ExecError::Db(e)) if assumed && e.is_quotas_set() => {
                quotas = self.check_quotas(true).await?;
                self.start(wf, state, opts, hand_off, false).await?
            }
            started => started?,
        };
        let id = drive.id;
        if hand_off {
            drop(drive);
            return match started {
                // Detached (the HTTP API): nobody waits here for the end.
                Some(tx) => {
                    let _ = tx.send(id);
                    Ok(RunSummary {
                        execution: id,
                        status: ExecutionStatus::Running,
                        attempts: 0,
                        failure: None,
                        paused: None,
                        state: Map::new(),
                    })
                }
                None => self.await_end(id).await,
            };
        }
        if let Some(tx) = started {
            let _ = tx.send(id);
        }
        drive.quotas = quotas;
        drive.run().await
    }

    /// The start transaction (the first on the execution's chain): execution, empty file
    /// commit, entry checkpoint of the entry node, `ExecutionStarted`. With `hand_off`, the
    /// execution is stored unleased, for a worker, and the drive returned is not to be run.
    /// With `no_quotas`, the unit fails unless the tenant still has no quota.
    async fn start<'a>(
        &'a self,
        wf: &'a LoadedWorkflow,
        state: Arc<Value>,
        opts: &RunOptions,
        hand_off: bool,
        no_quotas: bool,
    ) -> Result<Drive<'a>, ExecError> {
        let now = self.clock.now();
        let execution = ExecutionId::from_uuid(self.ids.next());
        let ws = if hand_off { None } else { Some(self.open_workspace(execution, 0)?) };
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
        let mut entry = Checkpoint {
            id: CheckpointId::from_uuid(self.ids.next()),
            execution,
            seq: 1,
            node: first.clone(),
            kind: CheckpointKind::Entry,
            attempt: 1,
            state,
            file_commit: commit.id,
            lane: 0,
            forks: Vec::new(),
            parents: Vec::new(),
            created_at: now,
            state_link: Default::default(),
        };
        entry.link_to(None);
        let boundary = NodeBoundary::opened(BoundaryId::from_uuid(self.ids.next()), &entry);
        let registration = self.controls.register(execution, None, &self.db, &self.clock);
        let deterministic =
            opts.deterministic || opts.seed.is_some() || opts.clock.is_some() || wf.manifest.deterministic;
        let seed = deterministic
            .then(|| opts.seed.or(wf.manifest.seed).unwrap_or_else(|| self.ids.next().as_u64_pair().1));
        let mut drive = Drive::new(
            self,
            wf,
            execution,
            1,
            0,
            1,
            opts.breakpoints.clone(),
            opts.parallelism,
            registration,
        );
        drive.seed = seed;
        drive.clock = opts.clock;
        let started = drive.event(
            EventKind::ExecutionStarted,
            json!({
                "workflow": wf.manifest.name, "workflow_digest": wf.digest.to_hex(), "entry": first,
            }),
        );
        let workflow = self.register(wf, now).await?;
        let breakpoints = serde_json::to_value(&opts.breakpoints)
            .map_err(|e| ExecError::InvalidState(format!("breakpoints: {e}")))?;
        let owner = (!hand_off).then(|| self.controls.owner.clone());
        let lease = Lease { owner, until: self.controls.lease_until(now), breakpoints };
        let mut work = UnitOfWork::new();
        if no_quotas {
            work.push(Write::NoQuotas(self.tenant));
        }
        work.push(Write::Execution(
            Execution {
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
            },
            Some(lease),
        ));
        work.push(Write::FileCommit(commit.clone()))
            .push(Write::Checkpoint(entry.clone()))
            .push(Write::Boundary(boundary.clone()))
            .push(Write::Events(vec![started]));
        if hand_off {
            work.push(Write::Wake);
        }
        // Through the group writer (sharing a commit with other executions' exits, and no
        // second writer waiting on SQLite's lock); durable before the entry node runs, so a
        // crash from here on always leaves a resumable execution.
        drive.chain.issue_start(work);
        drive.status_written = true;
        drive.chain.settle().await?;
        tracing::info!(%execution, workflow = %wf.manifest.name, "execution started");
        drive.fence = Some(1);
        if let Some(ws) = ws {
            drive.adopt_lane(0, ws, Some(commit.id));
        }
        drive.ready.push_back(Task {
            node: entry_node,
            entry,
            boundary,
            tree: Arc::new(FileTree::new()),
            depth: 0,
            fresh: true,
            delay: Duration::ZERO,
        });
        Ok(drive)
    }

    /// Stores the workflow's components (CAS objects and rows) and its definition once per
    /// executor: they are content-addressed, so later runs of the same workflow find them.
    pub async fn register(
        &self,
        wf: &LoadedWorkflow,
        now: wtb_core::model::Timestamp,
    ) -> Result<wtb_core::model::WorkflowId, ExecError> {
        if let Some(id) = self.registered.lock().ok().and_then(|r| r.get(&(self.tenant, wf.digest)).copied())
        {
            return Ok(id);
        }
        let components: Vec<_> = wf.nodes.iter().map(|n| (n.prepared.digest(), n.bytes.clone())).collect();
        let id = self
            .store_definition(
                &components,
                &wtb_core::model::WorkflowRecord { created_at: now, ..self.workflow_record(wf) },
            )
            .await?;
        if let Ok(mut registered) = self.registered.lock() {
            registered.insert((self.tenant, wf.digest), id);
        }
        Ok(id)
    }
}
