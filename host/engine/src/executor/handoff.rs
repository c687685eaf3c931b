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
use std::time::Duration;
use wtb_core::model::{Execution, ExecutionId, ExecutionStatus};
use wtb_store::db::{Taken, UnitOfWork, Write};

/// The longest pause between two looks at a handed-off execution's status.
const MOST_PATIENT: Duration = Duration::from_millis(250);

impl Executor {
    /// This process's name as a lease holder (`host:pid:nonce`).
    pub fn owner(&self) -> &str {
        &self.controls.owner
    }

    /// When a lease this process takes now expires.
    pub fn lease_until(&self, now: wtb_core::model::Timestamp) -> wtb_core::model::Timestamp {
        self.controls.lease_until(now)
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
        work.push(Write::Fence { execution: exec.id, token });
        if exec.status != ExecutionStatus::Running {
            work.push(Write::Progress {
                execution: exec.id,
                status: Some(ExecutionStatus::Running),
                cursor: exec.cursor.clone(),
                error: None,
                at: self.clock.now(),
            });
        }
        work.push(Write::Release(exec.id));
        self.write_alone(work).await?;
        self.db.leases().wake().await?;
        self.await_end(exec.id).await
    }

    /// Waits until the execution `id` stops running (a worker completed, failed or paused it)
    /// and reports it as a drive of this process would have.
    pub async fn await_end(&self, id: ExecutionId) -> Result<RunSummary, ExecError> {
        let mut wait = Duration::from_millis(5);
        loop {
            let exec = self.execution_of_tenant(id).await?;
            if exec.status != ExecutionStatus::Running {
                return self.summary_of(exec).await;
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
        let state = match checkpoints.into_iter().last().map(|c| c.state) {
            Some(Value::Object(state)) => state,
            _ => Default::default(),
        };
        let (failure, paused) = match exec.status {
            ExecutionStatus::Paused => (None, Some(exec.error.unwrap_or_default())),
            ExecutionStatus::Failed | ExecutionStatus::Cancelled => (exec.error, None),
            _ => (None, None),
        };
        Ok(RunSummary { execution: exec.id, status: exec.status, attempts, failure, paused, state })
    }

    /// Drives an execution a worker claimed (`self` acting for its tenant). When it cannot be
    /// driven (its row changed meanwhile, a quota, the workflow cannot be loaded), the lease
    /// is given back so that it is not stuck until the lease expires.
    pub async fn drive_claimed(&self, taken: Taken, parallelism: usize) -> Result<RunSummary, ExecError> {
        let prepared = async {
            let exec = self.execution_of_tenant(taken.execution).await?;
            if exec.status != ExecutionStatus::Running {
                return Err(ExecError::InvalidState(format!("execution {} is {}", exec.id, exec.status)));
            }
            Ok((exec, self.check_quotas(false).await?))
        }
        .await;
        let result = match prepared {
            Ok((exec, quotas)) => {
                self.drive_leased(&exec, taken.token, quotas, parallelism, Some(taken.taken_over)).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result
            && !matches!(e, ExecError::LeaseLost)
        {
            let mut work = UnitOfWork::new();
            work.push(Write::Fence { execution: taken.execution, token: taken.token });
            work.push(Write::Release(taken.execution));
            if let Err(release) = self.write_alone(work).await {
                tracing::warn!(execution = %taken.execution, "giving the lease back: {release}");
            }
        }
        result
    }
}
