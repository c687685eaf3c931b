//! The drive: one execution's scheduler. It launches ready node activations (bounded by
//! `parallelism`, each branch in its own workspace lane), turns each finished attempt into
//! one exit transaction (see [`super::boundary`]), and stops at a pause, cancel or failure.
//!
//! Invariant: every open boundary in the database is a task in `ready` or in flight, and
//! every row of `join_arrivals` is in `waiting`; so a resume rebuilds exactly this state.

use super::attempt::{Attempted, Context, Task, attempt};
use super::commit::{Chain, ExitTx};
use super::control::{Control, Registration};
use super::flight::InFlight;
use super::lanes::Lane;
use super::{ExecError, Executor, LoadedWorkflow, RunSummary};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use wtb_core::model::{
    AttemptStatus, BoundaryId, Checkpoint, CheckpointId, CheckpointKind, EventId, EventKind, ExecutionId,
    ExecutionStatus, FileCommitId, FileTree, NodeBoundary, OutboxEvent,
};
use wtb_failpoint as failpoint;
use wtb_runtime::{CancelSignal, NodeCall};
use wtb_store::db::Arrival;

/// Nodes that pause the execution when reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Breakpoints {
    /// Pause before these nodes run.
    pub before: Vec<String>,
    /// Pause after these nodes commit.
    pub after: Vec<String>,
}

/// Why the drive stops launching.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Stop {
    Pause(String),
    Cancel,
    Fail(String),
    /// Give the execution back, still running, to whichever worker claims it next.
    Yield,
}

/// A branch waiting at a join: its exit checkpoint and what the join merges from it.
pub(crate) struct Branch {
    pub(crate) arrival: Arrival,
    pub(crate) node: String,
    pub(crate) state: Map<String, Value>,
    pub(crate) file_commit: FileCommitId,
    pub(crate) tree: Arc<FileTree>,
    pub(crate) depth: u32,
    pub(crate) lane: u32,
}

pub(crate) struct Drive<'a> {
    pub(crate) ex: &'a Executor,
    pub(crate) wf: &'a LoadedWorkflow,
    pub(crate) id: ExecutionId,
    pub(crate) seq: u32,
    pub(crate) event_seq: u32,
    pub(crate) steps: u32,
    pub(crate) attempts: usize,
    pub(crate) ready: VecDeque<Task>,
    pub(crate) waiting: BTreeMap<usize, VecDeque<Branch>>,
    pub(crate) fork_bases: HashMap<CheckpointId, (Map<String, Value>, Arc<FileTree>)>,
    pub(crate) stop: Option<Stop>,
    pub(crate) breakpoints: Breakpoints,
    pub(crate) last_state: Arc<Value>,
    pub(crate) chain: Chain,
    pub(crate) parallelism: usize,
    /// Deterministic mode's seed, from the execution's environment.
    pub(crate) seed: Option<u64>,
    /// Deterministic mode's wall-clock start, from the execution's environment.
    pub(crate) clock: Option<u64>,
    /// The tenant's quotas it keeps checking (`max_nodes_per_hour`, `max_stored_bytes`).
    pub(crate) quotas: super::quota::QuotaWatch,
    /// Whether the execution's row is known to say `running` (set by the start transaction or
    /// by this drive's first one).
    pub(crate) status_written: bool,
    /// The fencing token of this drive's lease, carried by every unit it commits.
    pub(crate) fence: Option<u64>,
    running: InFlight,
    pub(super) in_flight: HashMap<BoundaryId, (usize, u32, CancelSignal)>,
    pub(super) lanes: BTreeMap<u32, Lane>,
    registration: Registration,
}

impl<'a> Drive<'a> {
    #[expect(clippy::too_many_arguments, reason = "the counters a resume restores, named")]
    pub(crate) fn new(
        ex: &'a Executor,
        wf: &'a LoadedWorkflow,
        id: ExecutionId,
        seq: u32,
        event_seq: u32,
        steps: u32,
        breakpoints: Breakpoints,
        parallelism: usize,
        registration: Registration,
    ) -> Self {
        Self {
            ex,
            wf,
            id,
            seq,
            event_seq,
            steps,
            attempts: 0,
            ready: VecDeque::new(),
            waiting: BTreeMap::new(),
            fork_bases: HashMap::new(),
            stop: None,
            breakpoints,
            last_state: Arc::new(Value::Object(Map::new())),
            chain: Chain::new(ex.db.clone(), ex.fail_point),
            parallelism: parallelism.max(1),
            seed: None,
            clock: None,
            quotas: Default::default(),
            status_written: false,
            fence: None,
            running: InFlight::default(),
            in_flight: HashMap::new(),
            lanes: BTreeMap::new(),
            registration,
        }
    }

    /// Runs until nothing is left to run or a stop takes effect; then commits the ending.
    pub(crate) async fn run(mut self) -> Result<RunSummary, ExecError> {
        let result = self.run_loop().await;
        if result.is_err() {
            for (_, _, cancel) in self.in_flight.values() {
                cancel.cancel();
            }
            self.running.drain().await;
        }
        // Nothing is reported before the last transaction is durable; a failed commit is the
        // more fundamental error when both occurred.
        self.chain.settle().await?;
        result?;
        let (status, failure, paused) = match &self.stop {
            None => (ExecutionStatus::Completed, None, None),
            Some(Stop::Pause(why)) => (ExecutionStatus::Paused, None, Some(why.clone())),
            Some(Stop::Cancel) => (ExecutionStatus::Cancelled, Some("cancelled".to_owned()), None),
            Some(Stop::Fail(why)) => (ExecutionStatus::Failed, Some(why.clone()), None),
            Some(Stop::Yield) => (ExecutionStatus::Running, None, None),
        };
        Ok(RunSummary {
            execution: self.id,
            status,
            attempts: self.attempts,
            failure,
            paused,
            state: self.last_state.as_object().cloned().unwrap_or_default(),
        })
    }

    async fn run_loop(&mut self) -> Result<(), ExecError> {
        self.take_request();
        if self.stop.is_none() && self.ready.is_empty() && self.running.is_empty() {
            // Resumed after a crash that hit between the last exit and the ending.
            let mut tx = ExitTx::default();
            self.maybe_complete(&mut tx);
            self.issue(tx);
        }
        loop {
            // A request that arrived with an attempt's end is seen before anything launches.
            self.take_request();
            while self.stop.is_none() && self.running.len() < self.parallelism {
                let Some(task) = self.ready.pop_front() else { break };
                let node = self.wf.manifest.graph.name(task.node).to_owned();
                if task.fresh && self.breakpoints.before.contains(&node) {
                    self.ready.push_front(task);
                    self.stop = Some(Stop::Pause(format!("breakpoint before `{node}`")));
                    break;
                }
                // Settled first, so attempts whose exit is still committing are counted.
                if let Some(max) = self.quotas.nodes_per_hour
                    && let Some(why) = async {
                        self.chain.settle().await?;
                        self.ex.node_quota_reached(max, self.running.len() as u64).await
                    }
                    .await?
                {
                    self.ready.push_front(task);
                    self.stop = Some(Stop::Pause(why));
                    break;
                }
                self.launch(task).await?;
            }
            if self.running.is_empty() {
                break;
            }
            let mut requests = self.registration.requests.clone();
            tokio::select! {
                done = self.running.next() => {
                    let attempted = done.ok_or_else(|| ExecError::Task("no attempt in flight".into()))??;
                    self.finish(attempted).await?;
                }
                Ok(()) = requests.changed() => self.take_request(),
            }
            if *self.registration.requests.borrow() == Some(Control::Abandon) {
                // `run` interrupts the guests; nothing more is issued.
                return Err(ExecError::LeaseExpired);
            }
        }
        match self.stop.clone() {
            Some(Stop::Pause(why)) => {
                let mut tx = ExitTx::default();
                let waiting: Vec<&str> = self.ready.iter().map(|t| t.entry.node.as_str()).collect();
                let event =
                    self.event(EventKind::ExecutionPaused, json!({ "reason": why, "before": waiting }));
                tx.events.push(event);
                tx.end = Some((ExecutionStatus::Paused, None));
                self.issue(tx);
            }
            Some(Stop::Cancel) => {
                let mut tx = ExitTx::default();
                self.close_ready(&mut tx, "cancelled before it ran");
                let event = self.event(EventKind::ExecutionCancelled, json!({ "attempts": self.attempts }));
                tx.events.push(event);
                tx.end = Some((ExecutionStatus::Cancelled, Some("cancelled by request".into())));
                self.issue(tx);
            }
            Some(Stop::Yield) => {
                let tx = ExitTx { release: true, ..ExitTx::default() };
                self.issue(tx);
            }
            Some(Stop::Fail(_)) | None => {}
        }
        Ok(())
    }

    fn take_request(&mut self) {
        let request = *self.registration.requests.borrow_and_update();
        match (request, &self.stop) {
            (Some(Control::Pause), None) => self.stop = Some(Stop::Pause("requested by `wtb pause`".into())),
            (Some(Control::Yield), None) => self.stop = Some(Stop::Yield),
            (Some(Control::Cancel), None | Some(Stop::Pause(_))) => {
                self.stop = Some(Stop::Cancel);
                for (_, _, cancel) in self.in_flight.values() {
                    cancel.cancel();
                }
            }
            _ => {}
        }
    }

    async fn launch(&mut self, mut task: Task) -> Result<(), ExecError> {
        // The attempt starts now, not when its entry was written: a pause or a wait for a
        // slot between the two is not the node's time.
        task.boundary.started_at = self.ex.clock.now();
        let lane = task.entry.lane;
        let (ws, known) = self.take_lane(lane)?;
        let restore_from = if known == Some(task.entry.file_commit) {
            None
        } else {
            // The tree's inline blobs may be in a transaction still executing.
            self.chain.settle().await?;
            Some(self.ex.lane_blobs())
        };
        let loaded = &self.wf.nodes[task.node];
        let spec = &loaded.spec;
        let limits = self.ex.config.node_limits(&spec.limits);
        let cx = Context {
            runtime: self.ex.runtime.clone(),
            cas: self.ex.cas.clone(),
            workspaces: self.ex.lanes.clone(),
            tenant: self.ex.tenant,
            capture: self.ex.config.capture_limits(),
            limits,
            node: loaded.prepared.clone(),
            call: NodeCall {
                execution: self.id.to_string(),
                node: spec.id.clone(),
                attempt: task.boundary.attempt,
                state: task.entry.state.to_string(),
                config: spec.config.to_string(),
                env: spec.env.clone(),
                args: spec.args.clone(),
                fixtures: spec.fixtures.clone(),
                seed: self.seed,
                clock: self.clock,
            },
            retry_timeouts: spec.retry.on_timeout,
            update_schema: loaded.update_schema.clone(),
            slots: self.ex.slots.clone(),
            slot_cap: self.quotas.running_attempts,
        };
        let cancel = CancelSignal::default();
        let branch = !task.entry.forks.is_empty() && !self.running.is_empty();
        self.in_flight.insert(task.boundary.id, (task.node, lane, cancel.clone()));
        let alone = self.ready.is_empty();
        self.running.launch(attempt(cx, task, ws, restore_from, cancel), alone);
        if branch {
            failpoint::hit("branch-start");
        }
        Ok(())
    }

    async fn finish(&mut self, a: Attempted) -> Result<(), ExecError> {
        self.in_flight.remove(&a.task.boundary.id);
        self.attempts += 1;
        let lane = a.task.entry.lane;
        self.lanes.entry(lane).or_default().ws = Some(a.ws);
        self.set_lane_commit(lane, None);
        self.conclude(a.task, a.report, a.result).await
    }

    /// Allocates the next checkpoint seq.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// The next outbox event of this execution.
    pub(crate) fn event(&mut self, kind: EventKind, payload: Value) -> OutboxEvent {
        self.event_seq += 1;
        OutboxEvent {
            id: EventId::from_uuid(self.ex.ids.next()),
            tenant: self.ex.tenant,
            execution: self.id,
            seq: self.event_seq,
            kind,
            payload,
            idempotency_key: OutboxEvent::key_for(self.id, self.event_seq),
            created_at: self.ex.clock.now(),
        }
    }

    /// Sends `tx` down the chain with the execution's cursor (the nodes left open).
    pub(crate) fn issue(&mut self, tx: ExitTx) {
        let mut open: Vec<&str> = self.ready.iter().map(|t| t.entry.node.as_str()).collect();
        open.extend(self.in_flight.values().map(|(n, _, _)| self.wf.manifest.graph.name(*n)));
        open.sort_unstable();
        open.dedup();
        let cursor = (!open.is_empty()).then(|| open.join(","));
        let work = tx.into_work(self.id, cursor, self.ex.clock.now(), !self.status_written, self.fence);
        self.status_written = true;
        self.chain.issue(work);
    }

    /// The exit checkpoint of an attempt that changed nothing (failed, cancelled, never
    /// started): the entry's state and files.
    pub(crate) fn unchanged_exit(&mut self, entry: &Checkpoint) -> Checkpoint {
        let mut exit = Checkpoint {
            id: CheckpointId::from_uuid(self.ex.ids.next()),
            seq: self.next_seq(),
            kind: CheckpointKind::Exit,
            parents: vec![entry.id],
            created_at: self.ex.clock.now(),
            ..entry.clone()
        };
        exit.link_to(Some(entry));
        exit
    }

    /// Closes every ready (not started) task as cancelled: exit checkpoint + boundary.
    pub(crate) fn close_ready(&mut self, tx: &mut ExitTx, why: &str) {
        let now = self.ex.clock.now();
        while let Some(task) = self.ready.pop_front() {
            let exit = self.unchanged_exit(&task.entry);
            tx.closed.push(NodeBoundary {
                exit_checkpoint: Some(exit.id),
                status: AttemptStatus::Cancelled,
                error: Some(why.to_owned()),
                finished_at: Some(now),
                ..task.boundary.clone()
            });
            tx.checkpoints.push(exit);
        }
    }

    /// Interrupts every running attempt (after a failure decided the execution's end).
    pub(crate) fn cancel_running(&self) {
        for (_, _, cancel) in self.in_flight.values() {
            cancel.cancel();
        }
    }

    /// Whether anything is still in flight besides the attempt being concluded.
    pub(crate) fn idle(&self) -> bool {
        self.ready.is_empty() && self.running.is_empty()
    }
}
