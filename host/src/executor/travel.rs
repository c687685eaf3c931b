//! Time travel that changes things: rolling an execution back to a checkpoint, and forking a
//! new execution from one. Both keep the history that was durable right after the checkpoint's
//! transaction ([`Rewind`]); a resume then carries on exactly as after a crash there.

use super::{ExecError, Executor, control};
use crate::capture::{RestoreStats, restore};
use crate::db::batch::{Batch, End};
use crate::db::{self, DbError};
use crate::history::{AttemptFate, Rewind};
use crate::model::{
    BoundaryId, Checkpoint, CheckpointId, EventId, EventKind, Execution, ExecutionId, ExecutionStatus, NodeBoundary,
    OutboxEvent, Transition,
};
use serde::Serialize;
use serde_json::json;

/// What a rollback did.
#[derive(Clone, Debug, Serialize)]
pub struct RolledBack {
    /// The execution, now paused.
    pub execution: ExecutionId,
    /// The checkpoint it went back to.
    pub checkpoint: Checkpoint,
    /// How many checkpoints became superseded.
    pub superseded: usize,
    /// The nodes a resume will run (their entry checkpoints are live, their exits are not).
    pub open: Vec<String>,
    /// Files rewritten and removed in the checkpoint's workspace.
    pub written: usize,
    /// Paths removed from the workspace.
    pub removed: usize,
}

impl Executor {
    /// The tenant's checkpoint `id` with its execution, or [`ExecError::UnknownCheckpoint`]
    /// (also for another tenant's: no existence leak).
    pub(crate) async fn checkpoint_of_tenant(&self, id: CheckpointId) -> Result<(Checkpoint, Execution), ExecError> {
        let mut conn = self.pool.acquire().await.map_err(DbError::from)?;
        let cp = db::checkpoint::get_one(&mut *conn, id).await?.ok_or(ExecError::UnknownCheckpoint(id))?;
        let exec = db::execution::get_one(&mut *conn, self.tenant, cp.execution).await?.ok_or(ExecError::UnknownCheckpoint(id))?;
        Ok((cp, exec))
    }

    /// Refuses a superseded checkpoint: only live history can be returned to or forked.
    pub(crate) async fn require_live(&self, id: CheckpointId) -> Result<(), ExecError> {
        match db::checkpoint::superseded_at(&self.pool, id).await? {
            Some(Some(at)) => Err(ExecError::Refused(format!(
                "checkpoint {id} was superseded by a rollback at {at}; use a live checkpoint (see `wtb history`)"
            ))),
            Some(None) => Ok(()),
            None => Err(ExecError::UnknownCheckpoint(id)),
        }
    }

    /// Moves `execution` back to checkpoint `to`: later checkpoints and attempts are marked
    /// superseded (never deleted), attempts running at that instant are open again, branches
    /// waiting at a join then wait again, the checkpoint's workspace is restored to its files
    /// (rewriting only what differs) and the execution is paused, all with an
    /// `execution.rolled_back` event in one transaction. `resume` continues from there.
    pub async fn rollback(&self, execution: ExecutionId, to: CheckpointId) -> Result<RolledBack, ExecError> {
        let exec = db::execution::get_one(&self.pool, self.tenant, execution).await?.ok_or(ExecError::UnknownExecution(execution))?;
        let (target, _) = self.checkpoint_of_tenant(to).await?;
        if target.execution != execution {
            return Err(ExecError::Refused(format!("checkpoint {to} belongs to execution {}, not {execution}", target.execution)));
        }
        self.require_live(to).await?;
        if exec.status == ExecutionStatus::Running {
            return Err(ExecError::Refused(format!("execution {execution} is running: pause it first (`wtb pause {execution} --wait`)")));
        }
        exec.status.apply(Transition::RollBack)?;
        let now = self.clock.now();
        if let Err(holder) = control::claim(&self.pool, &self.controls.owner, execution, now).await? {
            return Err(ExecError::Busy { execution, holder });
        }
        let mut conn = self.pool.acquire().await.map_err(DbError::from)?;
        let live = db::checkpoint::list_for_execution(&mut *conn, execution).await?;
        let boundaries = db::boundary::list_for_execution(&mut *conn, execution).await?;
        let arrivals = db::join::list_all(&mut *conn, execution).await?;
        let event_seq = db::outbox::last_seq(&mut conn, execution).await? + 1;
        let plan = Rewind::to(&live, &target);

        let mut batch = Batch::new();
        for id in &plan.supersede {
            db::checkpoint::supersede_into(&mut batch, *id, now);
        }
        let mut open = Vec::new();
        for b in &boundaries {
            match plan.attempt(b) {
                AttemptFate::Keep if b.exit_checkpoint.is_none() => open.push(b.node.clone()),
                AttemptFate::Keep => {}
                AttemptFate::Supersede => db::boundary::supersede_into(&mut batch, b.id, now),
                AttemptFate::Reopen => {
                    db::boundary::supersede_into(&mut batch, b.id, now);
                    let entry = live.iter().find(|c| c.id == b.entry_checkpoint).ok_or(DbError::Corrupt { what: "entry checkpoint", detail: b.entry_checkpoint.to_string() })?;
                    let reopened = NodeBoundary { started_at: now, ..NodeBoundary::opened(BoundaryId::from_uuid(self.ids.next()), entry) };
                    db::boundary::insert_into(&mut batch, &reopened);
                    open.push(b.node.clone());
                }
            }
        }
        for a in &arrivals {
            match plan.still_waiting(a.checkpoint, &live) {
                None => db::join::delete_into(&mut batch, execution, a),
                Some(waiting) => db::join::set_consumed_into(&mut batch, execution, a, !waiting),
            }
        }
        let cursor = (!open.is_empty()).then(|| open.join(","));
        db::execution::rolled_back_into(&mut batch, execution, cursor.as_deref(), now);
        db::execution::release_into(&mut batch, execution);
        let event = OutboxEvent {
            id: EventId::from_uuid(self.ids.next()),
            tenant: self.tenant,
            execution,
            seq: event_seq,
            kind: EventKind::ExecutionRolledBack,
            payload: json!({
                "to": target.id, "seq": target.seq, "node": target.node, "kind": target.kind.as_str(),
                "superseded": plan.supersede.len(), "open": open, "from_status": exec.status.as_str(),
            }),
            idempotency_key: OutboxEvent::key_for(execution, event_seq),
            created_at: now,
        };
        db::outbox::insert_all_into(&mut batch, std::slice::from_ref(&event));
        batch.execute_atomic(&mut conn, End::Commit).await?;
        drop(conn);
        let stats = self.restore_lane(execution, &target).await?;
        Ok(RolledBack { execution, superseded: plan.supersede.len(), open, written: stats.written, removed: stats.removed, checkpoint: target })
    }

    /// Makes the workspace of `cp`'s lane (in `execution`) hold `cp`'s files.
    pub(crate) async fn restore_lane(&self, execution: ExecutionId, cp: &Checkpoint) -> Result<RestoreStats, ExecError> {
        let mut conn = self.pool.acquire().await.map_err(DbError::from)?;
        let commit = db::file_commit::get_one(&mut conn, self.tenant, cp.file_commit).await?.ok_or(DbError::Corrupt { what: "file commit", detail: cp.file_commit.to_string() })?;
        drop(conn);
        let blobs = self.stored_blobs(&commit.tree).await?;
        let mut ws = self.open_workspace(execution, cp.lane)?;
        let limits = self.config.capture_limits();
        super::run::blocking(move || restore(&mut ws, &commit.tree, &blobs, &limits))
            .await?
            .map_err(|source| ExecError::Workspace { execution, source })
    }
}
