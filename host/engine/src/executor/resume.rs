//! Resuming executions: after a pause, after a crash (every open attempt re-runs from its
//! entry checkpoint), or to cancel one whose process is gone; and pausing and cancelling on
//! request.

use super::attempt::Task;
use super::commit::ExitTx;
use super::control::{self, Control};
use super::drive::{Branch, Breakpoints, Drive};
use super::run::RunSummary;
use super::{ExecError, Executor, LoadedWorkflow};
use serde_json::json;
use std::time::Duration;
use wtb_core::model::{EventKind, ExecutionId, ExecutionStatus, Transition};
use wtb_store::db::{DbError, OpenAttempt, ResumeFacts};

impl Executor {
    /// Continues a paused execution, or one whose process died (its open attempts re-run from
    /// their entry checkpoints, workspaces restored first). The workflow is the stored one.
    pub async fn resume(&self, id: ExecutionId, parallelism: usize) -> Result<RunSummary, ExecError> {
        let exec = self.execution_of_tenant(id).await?;
        let recovering = exec.status == ExecutionStatus::Running;
        let transition = if recovering { Transition::Start } else { Transition::Resume };
        exec.status.apply(transition).map_err(ExecError::Illegal)?;
        let quotas = self.check_quotas(!recovering).await?;
        let now = self.clock.now();
        let token = match control::claim(self.db.as_ref(), &self.controls, id, now).await? {
            Ok(token) => token,
            Err(holder) => return Err(ExecError::Busy { execution: id, holder }),
        };
        if self.config.workers.hand_off {
            return self.hand_back(&exec, token).await;
        }
        let facts = self.resume_facts(id).await?;
        self.drive_leased(facts, token, quotas, parallelism, Some(recovering)).await
    }

    /// What a drive needs to pick `id` up again, read once the lease is held.
    pub(crate) async fn resume_facts(&self, id: ExecutionId) -> Result<ResumeFacts, ExecError> {
        let mut facts = self.db.executions().resume_facts(&[(self.tenant, id)]).await?;
        facts.pop().ok_or(ExecError::UnknownExecution(id))
    }

    /// Drives `exec`, whose lease this process holds under `token`, from what the store
    /// holds (workspaces restored from their entry commits). `announce` records
    /// `ExecutionResumed` with whether the previous holder died.
    pub(crate) async fn drive_leased(
        &self,
        facts: ResumeFacts,
        token: u64,
        quotas: super::quota::QuotaWatch,
        parallelism: usize,
        announce: Option<bool>,
    ) -> Result<RunSummary, ExecError> {
        let wf = self.stored_workflow(facts.execution.workflow).await?;
        let recovering = facts.execution.status == ExecutionStatus::Running;
        let mut drive = self.rebuild(&wf, facts, recovering, parallelism, announce).await?;
        drive.fence = Some(token);
        drive.quotas = quotas;
        drive.run().await
    }

    /// The execution's status.
    pub async fn status(&self, id: ExecutionId) -> Result<ExecutionStatus, ExecError> {
        Ok(self.execution_of_tenant(id).await?.status)
    }

    /// Asks the process running `id` to pause it at the next node boundary.
    pub async fn request_pause(&self, id: ExecutionId) -> Result<(), ExecError> {
        if self.db.executions().request(self.tenant, id, Control::Pause.as_str()).await? {
            return Ok(());
        }
        let exec = self.execution_of_tenant(id).await?;
        exec.status.apply(Transition::Pause).map_err(ExecError::Illegal)?;
        Err(ExecError::InvalidState(format!("cannot pause execution {id}: it is {}", exec.status)))
    }

    /// The process whose run of `id` has taken its pending pause or cancel request, if one has
    /// (a request can be recorded before the run notices it: within [`super::control::POLL`]).
    pub async fn request_seen_by(&self, id: ExecutionId) -> Result<Option<String>, ExecError> {
        Ok(self.db.executions().control_seen_by(self.tenant, id).await?)
    }

    /// Cancels `id`. A running execution whose process is alive is asked to stop (it
    /// interrupts its guests within a few epoch ticks) and `Ok(None)` returned; a paused one,
    /// or one whose process died, is cancelled here and its summary returned.
    pub async fn cancel(&self, id: ExecutionId) -> Result<Option<RunSummary>, ExecError> {
        let exec = self.execution_of_tenant(id).await?;
        exec.status.apply(Transition::Cancel).map_err(ExecError::Illegal)?;
        let now = self.clock.now();
        let claimed = match self.controls.is_driving(id) {
            true => None,
            false => control::claim(self.db.as_ref(), &self.controls, id, now).await?.ok(),
        };
        let Some(token) = claimed else {
            self.db.executions().request(self.tenant, id, Control::Cancel.as_str()).await?;
            return Ok(None);
        };
        let facts = self.resume_facts(id).await?;
        let wf = self.stored_workflow(facts.execution.workflow).await?;
        let mut drive = self.rebuild(&wf, facts, false, 1, None).await?;
        drive.fence = Some(token);
        drive.stop = Some(super::drive::Stop::Cancel);
        drive.run().await.map(Some)
    }

    /// Resumes every running execution no live process holds (after a crash). Executions
    /// another process is running are skipped; each result is reported.
    pub async fn resume_all(
        &self,
        parallelism: usize,
    ) -> Result<Vec<(ExecutionId, Result<RunSummary, ExecError>)>, ExecError> {
        let ids = self.db.executions().list_running(self.tenant).await?;
        let mut out = Vec::new();
        if self.config.workers.hand_off {
            // Handed to the workers all at once, then waited for together.
            let ends =
                futures_util::future::join_all(ids.iter().map(|id| self.resume(*id, parallelism))).await;
            for (id, r) in ids.into_iter().zip(ends) {
                if !matches!(r, Err(ExecError::Busy { .. })) {
                    out.push((id, r));
                }
            }
            return Ok(out);
        }
        for id in ids {
            match self.resume(id, parallelism).await {
                Err(ExecError::Busy { .. }) => {}
                r => out.push((id, r)),
            }
        }
        Ok(out)
    }

    async fn rebuild<'a>(
        &'a self,
        wf: &'a LoadedWorkflow,
        facts: ResumeFacts,
        recovering: bool,
        parallelism: usize,
        announce: Option<bool>,
    ) -> Result<Drive<'a>, ExecError> {
        let exec = &facts.execution;
        let id = exec.id;
        let (seq, steps, event_seq) = (facts.checkpoint_seq, facts.entries, facts.event_seq);
        let breakpoints: Breakpoints = serde_json::from_value(facts.breakpoints.clone()).unwrap_or_default();
        let pending = if recovering { facts.control.clone() } else { None };
        let registration = self.controls.register(id, pending.as_deref(), &self.db, &self.clock);
        let mut drive =
            Drive::new(self, wf, id, seq, event_seq, steps, breakpoints, parallelism, registration);
        drive.seed = exec.environment.seed;
        drive.clock = exec.environment.clock;
        let corrupt = |what: &'static str, detail: String| ExecError::Db(DbError::Corrupt { what, detail });
        for OpenAttempt { boundary: b, entry, commit } in facts.open {
            let node = wf
                .manifest
                .graph
                .node(&entry.node)
                .ok_or_else(|| corrupt("checkpoint node", entry.node.clone()))?;
            drive.ready.push_back(Task {
                node,
                entry,
                boundary: b,
                tree: commit.tree,
                depth: commit.depth,
                fresh: false,
                delay: Duration::ZERO,
            });
        }
        // Arrivals come from exits: an execution with only its first checkpoint has none.
        let arrivals = match facts.checkpoint_seq > 1 {
            true => self.db.joins().list_for_execution(self.tenant, id).await?,
            false => Vec::new(),
        };
        for arrival in arrivals {
            let (cp, commit) = self.stored_checkpoint(arrival.checkpoint, "arrival checkpoint").await?;
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
        let Some(after_crash) = announce else { return Ok(drive) };
        let mut tx = ExitTx::default();
        let event = drive.event(
            EventKind::ExecutionResumed,
            json!({
                "after_crash": after_crash,
                "by": self.controls.owner,
                "open": drive.ready.iter().map(|t| t.entry.node.clone()).collect::<Vec<_>>(),
            }),
        );
        tx.events.push(event);
        drive.issue(tx);
        if pending.as_deref() == Some(Control::Cancel.as_str()) {
            tracing::info!(execution = %id, "a cancel request is pending; cancelling");
        }
        Ok(drive)
    }
}
