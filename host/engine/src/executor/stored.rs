//! Reading back what the protocol stored, for the protocol and its siblings: a checkpoint of
//! the tenant, a checkpoint with its file commit, whether it is still live.

use super::{ExecError, Executor, LoadedWorkflow};
use std::sync::Arc;
use wtb_core::model::{Checkpoint, CheckpointId, Execution, ExecutionId, FileCommit, WorkflowId};
use wtb_store::db::DbError;

/// Stored workflows kept loaded per process, at most (then the cache starts over).
const LOADED_WORKFLOWS: usize = 128;

impl Executor {
    /// The tenant's stored workflow `id`, loaded (components read from the blob store and
    /// prepared). A stored definition never changes, so a process keeps the loaded ones: a
    /// worker resuming thousands of executions of one workflow loads it once.
    pub(crate) async fn stored_workflow(&self, id: WorkflowId) -> Result<Arc<LoadedWorkflow>, ExecError> {
        let key = (self.tenant, id);
        if let Some(wf) = self.loaded.lock().ok().and_then(|l| l.get(&key).cloned()) {
            return Ok(wf);
        }
        let record = self
            .db
            .workflows()
            .get_one(self.tenant, id)
            .await?
            .ok_or(DbError::Corrupt { what: "workflow", detail: id.to_string() })?;
        let wf = Arc::new(self.load_stored(&record).await?);
        if let Ok(mut loaded) = self.loaded.lock() {
            if loaded.len() >= LOADED_WORKFLOWS {
                loaded.clear();
            }
            loaded.insert(key, wf.clone());
        }
        Ok(wf)
    }

    /// The tenant's execution `id`, or [`ExecError::UnknownExecution`] (also for another
    /// tenant's: no existence leak).
    pub(crate) async fn execution_of_tenant(&self, id: ExecutionId) -> Result<Execution, ExecError> {
        self.db.executions().get_one(self.tenant, id).await?.ok_or(ExecError::UnknownExecution(id))
    }

    /// The tenant's checkpoint `id` with its execution, or [`ExecError::UnknownCheckpoint`]
    /// (also for another tenant's: no existence leak).
    pub(crate) async fn checkpoint_of_tenant(
        &self,
        id: CheckpointId,
    ) -> Result<(Checkpoint, Execution), ExecError> {
        let cp =
            self.db.checkpoints().get_one(self.tenant, id).await?.ok_or(ExecError::UnknownCheckpoint(id))?;
        let exec = self
            .db
            .executions()
            .get_one(self.tenant, cp.execution)
            .await?
            .ok_or(ExecError::UnknownCheckpoint(id))?;
        Ok((cp, exec))
    }

    /// The file commit a stored checkpoint names. Both are written in one transaction, so a
    /// missing one is corruption, reported with both ids.
    pub(crate) async fn commit_of(&self, cp: &Checkpoint) -> Result<FileCommit, ExecError> {
        self.db.file_commits().get_one(self.tenant, cp.file_commit).await?.ok_or_else(|| {
            ExecError::Db(DbError::Corrupt {
                what: "file commit",
                detail: format!("checkpoint {} names missing commit {}", cp.id, cp.file_commit),
            })
        })
    }

    /// A checkpoint the protocol itself stored and refers to (an open attempt's entry, a join
    /// arrival, a fork base) with its file commit; `what` names the reference when the
    /// checkpoint is missing.
    pub(crate) async fn stored_checkpoint(
        &self,
        id: CheckpointId,
        what: &'static str,
    ) -> Result<(Checkpoint, FileCommit), ExecError> {
        let cp = self
            .db
            .checkpoints()
            .get_one(self.tenant, id)
            .await?
            .ok_or_else(|| ExecError::Db(DbError::Corrupt { what, detail: id.to_string() }))?;
        let commit = self.commit_of(&cp).await?;
        Ok((cp, commit))
    }

    /// Refuses a superseded checkpoint: only live history can be returned to or forked.
    pub(crate) async fn require_live(&self, id: CheckpointId) -> Result<(), ExecError> {
        match self.db.checkpoints().superseded_at(self.tenant, id).await? {
            Some(Some(at)) => Err(ExecError::Superseded { checkpoint: id, at }),
            Some(None) => Ok(()),
            None => Err(ExecError::UnknownCheckpoint(id)),
        }
    }
}
