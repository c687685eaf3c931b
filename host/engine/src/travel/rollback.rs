//! Rolling an execution back to a checkpoint: the history that was durable right after the
//! checkpoint's transaction is kept ([`Rewind`]), the rest superseded, and a resume carries on
//! exactly as after a crash there.

use super::{Travel, TravelError};
use crate::executor::{ExecError, control};
use serde::Serialize;
use serde_json::json;
use wtb_core::history::{AttemptFate, Rewind};
use wtb_core::model::{
    BoundaryId, Checkpoint, CheckpointId, EventId, EventKind, ExecutionId, ExecutionStatus, NodeBoundary,
    OutboxEvent, Transition,
};
use wtb_store::db::{DbError, UnitOfWork, Write};

/// What a rollback did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RolledBack {
    /// The execution, now paused.
    pub execution: ExecutionId,
    /// The checkpoint it went back to.
    pub checkpoint: Checkpoint,
    /// How many checkpoints became superseded.
    pub superseded: usize,
    /// The nodes a resume will run (their entry checkpoints are live, their exits are not).
    pub open: Vec<String>,
}

impl Travel<'_> {
    /// Moves `execution` back to checkpoint `to`: later checkpoints and attempts are marked
    /// superseded (never deleted), attempts running at that instant are open again, branches
    /// waiting at a join then wait again, the checkpoint's files become the workspace the next
    /// drive builds (nothing is copied) and the execution is paused, all with an
    /// `execution.rolled_back` event in one transaction. `resume` continues from there.
    pub async fn rollback(
        &self,
        execution: ExecutionId,
        to: CheckpointId,
    ) -> Result<RolledBack, TravelError> {
        let exec = self.exec.execution_of_tenant(execution).await?;
        let (target, _) = self.exec.checkpoint_of_tenant(to).await?;
        if target.execution != execution {
            return Err(TravelError::OtherExecution { checkpoint: to, owner: target.execution, execution });
        }
        self.exec.require_live(to).await?;
        if exec.status == ExecutionStatus::Running {
            return Err(TravelError::Running(execution));
        }
        exec.status.apply(Transition::RollBack)?;
        let now = self.exec.clock.now();
        let token = match control::claim(self.exec.db.as_ref(), &self.exec.controls, execution, now).await? {
            Ok(token) => token,
            Err(holder) => return Err(ExecError::Busy { execution, holder }.into()),
        };
        let live = self.exec.db.checkpoints().list_for_execution(self.exec.tenant, execution).await?;
        let boundaries = self.exec.db.boundaries().list_for_execution(self.exec.tenant, execution).await?;
        let arrivals = self.exec.db.joins().list_all(self.exec.tenant, execution).await?;
        let event_seq = self.exec.db.events().last_seq(self.exec.tenant, execution).await? + 1;
        let plan = Rewind::to(&live, &target);

        let mut work = UnitOfWork::new();
        work.push(Write::Fence { execution, token });
        for id in &plan.supersede {
            work.push(Write::SupersedeCheckpoint(*id, now));
        }
        let mut open = Vec::new();
        for b in &boundaries {
            match plan.attempt(b) {
                AttemptFate::Keep if b.exit_checkpoint.is_none() => open.push(b.node.clone()),
                AttemptFate::Keep => {}
                AttemptFate::Supersede => {
                    work.push(Write::SupersedeBoundary(b.id, now));
                }
                AttemptFate::Reopen => {
                    work.push(Write::SupersedeBoundary(b.id, now));
                    let entry = live.iter().find(|c| c.id == b.entry_checkpoint).ok_or(DbError::Corrupt {
                        what: "entry checkpoint",
                        detail: b.entry_checkpoint.to_string(),
                    })?;
                    let reopened = NodeBoundary {
                        started_at: now,
                        ..NodeBoundary::opened(BoundaryId::from_uuid(self.exec.ids.next()), entry)
                    };
                    work.push(Write::Boundary(reopened));
                    open.push(b.node.clone());
                }
            }
        }
        for a in &arrivals {
            match plan.still_waiting(a.checkpoint, &live) {
                None => work.push(Write::Depart(execution, a.clone())),
                Some(waiting) => work.push(Write::Consume(execution, a.clone(), !waiting)),
            };
        }
        let cursor = (!open.is_empty()).then(|| open.join(","));
        work.push(Write::RolledBack { execution, cursor, at: now }).push(Write::Release(execution));
        let event = OutboxEvent {
            id: EventId::from_uuid(self.exec.ids.next()),
            tenant: self.exec.tenant,
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
        work.push(Write::Events(vec![event]));
        self.exec.write_alone(work).await?;
        // No files move: the drive that resumes it builds its workspace from the checkpoint.
        Ok(RolledBack { execution, superseded: plan.supersede.len(), open, checkpoint: target })
    }
}
