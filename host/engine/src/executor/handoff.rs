//! Executions run by `wtb worker` processes (`[workers] hand_off`): the starting side stores
//! the execution unleased and waits for its end; the worker side drives what it claimed.
//!
//! A claim is a whole execution, not a node attempt: an execution's exits commit in order on
//! one chain, its parallel branches and joins are scheduled by one drive, and its lanes'
//! workspaces stay on the machine that runs them, so a worker rebuilds a workspace from the
//! store only when it takes an execution over. Experiments spread because each cell is an
//! execution of its own.

use super::run::RunSummary;
use super::{ExecError, Executor};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use wtb_core::model::{Execution, ExecutionId, ExecutionStatus};
use wtb_store::db::{ResumeFacts, Taken, UnitOfWork, Write};

/// The longest pause between two looks at a handed-off execution's status.
const MOST_PATIENT: Duration = Duration::from_millis(250);
/// How long a database may stay unreachable before waiting for an end gives up.
const OUTAGE: Duration = Duration::from_secs(120);

impl Executor {
    /// This process's name as a lease holder (`host:pid:nonce`).
    pub fn owner(&self) -> &str {
        &self.controls.owner
    }

    /// When a lease this process takes now expires.
    pub fn lease_until(&self, now: wtb_core::model::Timestamp) -> wtb_core::model::Timestamp {
        self.controls.lease_until(now)
    }

    /// Executions this process drives now.
    pub fn driving(&self) -> usize {
        self.controls.driving()
    }

    /// Asks every drive of this process to commit what it runs and give its execution back
    /// (a worker shutting down).
    pub fn yield_drives(&self) {
        self.controls.yield_all();
    }

    /// Gives `exec`, whose lease this process took under `token`, to the workers: running,
    /// unleased, and the workers woken; then waits for its end.
    pub(crate) async fn hand_back(&self, exec: &Execution, token: u64) -> Result<RunSummary, ExecError> {
        let mut work = UnitOfWork::new();
        work.push(match exec.status {
            ExecutionStatus::Running => Write::Fence { execution: exec.id, token },
            _ => Write::Progress {
                execution: exec.id,
                status: Some(ExecutionStatus::Running),
                cursor: exec.cursor.clone(),
                error: None,
                at: self.clock.now(),
                fence: Some(token),
            },
        });
        work.push(Write::Release(exec.id)).push(Write::Wake);
        self.write_alone(work).await?;
        self.await_end(exec.id).await
    }

    /// Waits until the execution `id` stops running (a worker completed, failed or paused it)
    /// and reports it as a drive of this process would have.
    /// A lost database connection is retried for up to [`OUTAGE`].
    pub async fn await_end(&self, id: ExecutionId) -> Result<RunSummary, ExecError> {
        let mut wait = Duration::from_millis(5);
        let mut failing_since = None;
        loop {
            let looked = async {
                let exec = self.execution_of_tenant(id).await?;
                match exec.status {
                    ExecutionStatus::Running => Ok(None),
                    _ => self.summary_of(exec).await.map(Some),
                }
            };
            match looked.await {
                Ok(Some(summary)) => return Ok(summary),
                Ok(None) => failing_since = None,
                Err(ExecError::Db(e))
                    if failing_since.get_or_insert_with(std::time::Instant::now).elapsed() < OUTAGE =>
                {
                    tracing::warn!(execution = %id, "waiting for the end (retrying): {e}");
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MOST_PATIENT);
        }
    }

    /// A stored execution as a [`RunSummary`]: attempts made by every process, the state of
    /// its last checkpoint.
    async fn summary_of(&self, exec: Execution) -> Result<RunSummary, ExecError> {
        let attempts = self.db.boundaries().list_for_execution(self.tenant, exec.id).await?.len();
        let checkpoints = self.db.checkpoints().list_for_execution(self.tenant, exec.id).await?;
        let state = match checkpoints.last().map(|c| c.state.as_ref()) {
            Some(Value::Object(state)) => state.clone(),
            _ => Default::default(),
        };
        let (failure, paused) = match exec.status {
            ExecutionStatus::Paused => (None, Some(exec.error.unwrap_or_default())),
            ExecutionStatus::Failed | ExecutionStatus::Cancelled => (exec.error, None),
            _ => (None, None),
        };
        Ok(RunSummary { execution: exec.id, status: exec.status, attempts, failure, paused, state })
    }

    /// What the worker needs to drive each execution it claimed, read for the whole batch at
    /// once (a few statements, not a few per execution), by execution.
    pub async fn pick_up(&self, claimed: &[Taken]) -> Result<HashMap<ExecutionId, ResumeFacts>, ExecError> {
        let which: Vec<_> = claimed.iter().map(|t| (t.tenant, t.execution)).collect();
        let facts = self.db.executions().resume_facts(&which).await?;
        Ok(facts.into_iter().map(|f| (f.execution.id, f)).collect())
    }

    /// Drives an execution a worker claimed (`self` acting for its tenant) from its `facts`
    /// ([`Executor::pick_up`]). When that fails on a host error, the worker gives the lease
    /// back ([`Executor::give_back`]).
    pub async fn drive_claimed(
        &self,
        taken: Taken,
        facts: Option<ResumeFacts>,
        parallelism: usize,
    ) -> Result<RunSummary, ExecError> {
        let facts = facts.ok_or(ExecError::UnknownExecution(taken.execution))?;
        let exec = &facts.execution;
        if exec.status != ExecutionStatus::Running {
            return Err(ExecError::InvalidState(format!(
                "cannot drive execution {} handed off: it is {}",
                exec.id, exec.status
            )));
        }
        let quotas = self.check_quotas_of(facts.tenant.clone(), false).await?;
        // A fresh hand-off (only its first entry checkpoint so far) was announced by its
        // `execution.started`; anything else resumes, and says so.
        let fresh = facts.checkpoint_seq == 1 && !taken.taken_over;
        let announce = (!fresh).then_some(taken.taken_over);
        self.drive_leased(facts, taken.token, quotas, parallelism, announce).await
    }

    /// Gives back the lease of an execution this process claimed under `token` and could not
    /// drive, so that another claim retries it now rather than at the lease's expiry (the
    /// process renews its leases while it lives). Refused by the fence if it was taken over.
    pub async fn give_back(&self, execution: ExecutionId, token: u64) -> Result<(), ExecError> {
        let mut work = UnitOfWork::new();
        work.push(Write::Fence { execution, token });
        work.push(Write::Release(execution));
        match self.write_alone(work).await {
            Err(ExecError::LeaseLost) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
