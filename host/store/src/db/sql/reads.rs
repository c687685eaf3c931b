//! The aggregate traits over either SQL backend: each method takes a connection from the
//! pool and runs its aggregate module's statements on it.

use super::Pool;
use super::{
    blob, boundary, checkpoint, component, delivery, execution, experiment, file_commit, join, outbox,
    retention, tenant, workflow,
};
use crate::db::DbError;
use crate::db::port::{
    Arrival, BlobTotals, Blobs, Boundaries, Checkpoints, ClaimSpec, Claimed, ComponentRecord, Components,
    Decide, Deliveries, DeliveryFilter, DeliveryRow, Events, Executions, ExperimentRecord, Experiments,
    FileCommits, Joins, ListFilter, Retention, SinkCounts, Swept, Tenants, Usage, Workflows,
};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use wtb_core::model::{
    ApiToken, BlobRecord, Checkpoint, CheckpointId, Digest, EventId, Execution, ExecutionId, ExperimentId,
    FileCommit, FileCommitId, NodeBoundary, OutboxEvent, Quotas, Tenant, TenantId, Timestamp, TokenId,
    WorkflowId, WorkflowRecord,
};

/// The reads and single-row operations of every aggregate, over a pool of either backend:
/// what [`Database`](crate::db::Database)'s accessors hand out.
pub struct Reads {
    pool: Pool,
}

impl Reads {
    /// Reads through `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The pool, for the backend's own statements (metrics, closing).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

#[async_trait]
impl Executions for Reads {
    async fn get_one(&self, tenant: TenantId, id: ExecutionId) -> Result<Option<Execution>, DbError> {
        execution::get_one(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
    async fn list(
        &self,
        tenant: TenantId,
        filter: &ListFilter,
        after: Option<ExecutionId>,
        limit: u32,
    ) -> Result<Vec<Execution>, DbError> {
        execution::list(&mut self.pool.acquire().await?.conn(), tenant, filter, after, limit).await
    }
    async fn resume_facts(
        &self,
        which: &[(TenantId, ExecutionId)],
    ) -> Result<Vec<crate::db::port::ResumeFacts>, DbError> {
        super::resume::resume_facts(&mut self.pool.acquire().await?.conn(), which).await
    }
    async fn list_running(&self, tenant: TenantId) -> Result<Vec<ExecutionId>, DbError> {
        execution::list_running(&mut self.pool.acquire().await?.conn(), tenant).await
    }
    async fn request(&self, tenant: TenantId, id: ExecutionId, control: &str) -> Result<bool, DbError> {
        execution::request(&mut self.pool.acquire().await?.conn(), tenant, id, control).await
    }
    async fn requests(&self) -> Result<Vec<(ExecutionId, String, bool)>, DbError> {
        execution::requests(&mut self.pool.acquire().await?.conn()).await
    }
    async fn mark_seen(&self, id: ExecutionId, control: &str, owner: &str) -> Result<(), DbError> {
        execution::mark_seen(&mut self.pool.acquire().await?.conn(), id, control, owner).await
    }
    async fn control_seen_by(&self, tenant: TenantId, id: ExecutionId) -> Result<Option<String>, DbError> {
        execution::control_seen_by(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
}

#[async_trait]
impl Checkpoints for Reads {
    async fn get_one(&self, tenant: TenantId, id: CheckpointId) -> Result<Option<Checkpoint>, DbError> {
        checkpoint::get_one(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<Checkpoint>, DbError> {
        checkpoint::list_for_execution(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn list_history(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<(Checkpoint, Option<Timestamp>)>, DbError> {
        checkpoint::list_history(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<Checkpoint>, DbError> {
        checkpoint::list_for_tenant(&mut self.pool.acquire().await?.conn(), tenant).await
    }
    async fn superseded_at(
        &self,
        tenant: TenantId,
        id: CheckpointId,
    ) -> Result<Option<Option<Timestamp>>, DbError> {
        checkpoint::superseded_at(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
}

#[async_trait]
impl Boundaries for Reads {
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<NodeBoundary>, DbError> {
        boundary::list_for_execution(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn list_open(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<NodeBoundary>, DbError> {
        boundary::list_open(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn list_history(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<(NodeBoundary, Option<Timestamp>)>, DbError> {
        boundary::list_history(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn latencies(&self) -> Result<Vec<i64>, DbError> {
        boundary::latencies(&mut self.pool.acquire().await?.conn()).await
    }
}

#[async_trait]
impl Joins for Reads {
    async fn list_all(&self, tenant: TenantId, execution: ExecutionId) -> Result<Vec<Arrival>, DbError> {
        join::list_all(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<Arrival>, DbError> {
        join::list_for_execution(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
}

#[async_trait]
impl FileCommits for Reads {
    async fn get_one(&self, tenant: TenantId, id: FileCommitId) -> Result<Option<FileCommit>, DbError> {
        file_commit::get_one(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
    async fn change_count(&self, tenant: TenantId, id: FileCommitId) -> Result<usize, DbError> {
        file_commit::change_count(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
    async fn list_ids(&self, tenant: TenantId) -> Result<Vec<FileCommitId>, DbError> {
        file_commit::list_ids(&mut self.pool.acquire().await?.conn(), tenant).await
    }
}

#[async_trait]
impl Blobs for Reads {
    async fn get_one(&self, tenant: TenantId, digest: &Digest) -> Result<Option<BlobRecord>, DbError> {
        blob::get_one(&mut self.pool.acquire().await?.conn(), tenant, digest).await
    }
    async fn list_all(&self, tenant: TenantId) -> Result<Vec<BlobRecord>, DbError> {
        blob::list_all(&mut self.pool.acquire().await?.conn(), tenant).await
    }
    async fn inline_contents(
        &self,
        tenant: TenantId,
        digests: &[Digest],
    ) -> Result<HashMap<Digest, Vec<u8>>, DbError> {
        blob::inline_contents(&mut self.pool.acquire().await?.conn(), tenant, digests).await
    }
    async fn digests(&self, tenant: TenantId) -> Result<HashSet<Digest>, DbError> {
        blob::digests(&mut self.pool.acquire().await?.conn(), tenant).await
    }
    async fn totals(&self, tenant: TenantId) -> Result<BlobTotals, DbError> {
        blob::totals(&mut self.pool.acquire().await?.conn(), tenant).await
    }
}

#[async_trait]
impl Components for Reads {
    async fn get_one(&self, tenant: TenantId, digest: &Digest) -> Result<Option<ComponentRecord>, DbError> {
        component::get_one(&mut self.pool.acquire().await?.conn(), tenant, digest).await
    }
    async fn list_digests(&self, tenant: TenantId) -> Result<Vec<String>, DbError> {
        component::list_digests(&mut self.pool.acquire().await?.conn(), tenant).await
    }
}

#[async_trait]
impl Workflows for Reads {
    async fn id_by_digest(&self, tenant: TenantId, digest: &Digest) -> Result<Option<WorkflowId>, DbError> {
        workflow::id_by_digest(&mut self.pool.acquire().await?.conn(), tenant, digest).await
    }
    async fn get_one(&self, tenant: TenantId, id: WorkflowId) -> Result<Option<WorkflowRecord>, DbError> {
        workflow::get_one(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
    async fn list(&self, tenant: TenantId, limit: u32) -> Result<Vec<WorkflowRecord>, DbError> {
        workflow::list(&mut self.pool.acquire().await?.conn(), tenant, limit).await
    }
}

#[async_trait]
impl Events for Reads {
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<OutboxEvent>, DbError> {
        outbox::list_for_execution(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn list_after(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
        after: u32,
    ) -> Result<Vec<OutboxEvent>, DbError> {
        outbox::list_after(&mut self.pool.acquire().await?.conn(), tenant, execution, after).await
    }
    async fn last_seq(&self, tenant: TenantId, execution: ExecutionId) -> Result<u32, DbError> {
        outbox::last_seq(&mut self.pool.acquire().await?.conn(), tenant, execution).await
    }
    async fn without_aggregate(&self, tenant: TenantId) -> Result<Vec<(EventId, ExecutionId)>, DbError> {
        outbox::without_aggregate(&mut self.pool.acquire().await?.conn(), tenant).await
    }
}

#[async_trait]
impl Deliveries for Reads {
    async fn sequence(&self) -> Result<u64, DbError> {
        delivery::sequence(&self.pool).await
    }
    async fn max_pos(&self) -> Result<i64, DbError> {
        delivery::max_pos(&mut self.pool.acquire().await?.conn()).await
    }
    async fn cursor(&self, sink: &str) -> Result<i64, DbError> {
        delivery::cursor(&mut self.pool.acquire().await?.conn(), sink).await
    }
    async fn materialize(&self, sink: &str, now: Timestamp) -> Result<u64, DbError> {
        delivery::materialize(&self.pool, sink, now).await
    }
    async fn claim(&self, spec: ClaimSpec<'_>) -> Result<Vec<Claimed>, DbError> {
        delivery::claim(&self.pool, spec).await
    }
    async fn list(
        &self,
        tenant: TenantId,
        filter: &DeliveryFilter,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, DbError> {
        delivery::list(&mut self.pool.acquire().await?.conn(), tenant, filter, limit).await
    }
    async fn revive(&self, tenant: TenantId, event: Option<EventId>, now: Timestamp) -> Result<u64, DbError> {
        delivery::revive(&mut self.pool.acquire().await?.conn(), tenant, event, now).await
    }
    async fn event_exists(&self, tenant: TenantId, event: EventId) -> Result<bool, DbError> {
        delivery::event_exists(&mut self.pool.acquire().await?.conn(), tenant, event).await
    }
    async fn counts(&self, sink: &str) -> Result<SinkCounts, DbError> {
        delivery::counts(&mut self.pool.acquire().await?.conn(), sink).await
    }
    async fn other_sinks(&self, configured: &[String]) -> Result<Vec<String>, DbError> {
        delivery::other_sinks(&mut self.pool.acquire().await?.conn(), configured).await
    }
}

#[async_trait]
impl Tenants for Reads {
    async fn set_quotas(&self, id: TenantId, quotas: &Quotas) -> Result<bool, DbError> {
        tenant::set_quotas(&mut self.pool.acquire().await?.conn(), id, quotas).await
    }
    async fn get_one(&self, id: TenantId) -> Result<Option<Tenant>, DbError> {
        tenant::get_one(&mut self.pool.acquire().await?.conn(), id).await
    }
    async fn get_by_name(&self, name: &str) -> Result<Option<Tenant>, DbError> {
        tenant::get_by_name(&mut self.pool.acquire().await?.conn(), name).await
    }
    async fn list(&self) -> Result<Vec<Tenant>, DbError> {
        tenant::list(&mut self.pool.acquire().await?.conn()).await
    }
    async fn usage(&self, id: TenantId, since: Timestamp) -> Result<Usage, DbError> {
        tenant::usage(&mut self.pool.acquire().await?.conn(), id, since).await
    }
    async fn nodes_since(&self, id: TenantId, since: Timestamp) -> Result<u64, DbError> {
        tenant::nodes_since(&mut self.pool.acquire().await?.conn(), id, since).await
    }
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, DbError> {
        tenant::token_by_hash(&mut self.pool.acquire().await?.conn(), hash).await
    }
    async fn revoke_token(&self, t: TenantId, id: TokenId, now: Timestamp) -> Result<bool, DbError> {
        tenant::revoke_token(&mut self.pool.acquire().await?.conn(), t, id, now).await
    }
    async fn list_tokens(&self, t: TenantId) -> Result<Vec<ApiToken>, DbError> {
        tenant::list_tokens(&mut self.pool.acquire().await?.conn(), t).await
    }
}

#[async_trait]
impl Experiments for Reads {
    async fn get_one(&self, tenant: TenantId, id: ExperimentId) -> Result<Option<ExperimentRecord>, DbError> {
        experiment::get_one(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
    async fn list(&self, tenant: TenantId, limit: u32) -> Result<Vec<ExperimentRecord>, DbError> {
        experiment::list(&mut self.pool.acquire().await?.conn(), tenant, limit).await
    }
    async fn cells(&self, tenant: TenantId, id: ExperimentId) -> Result<Vec<ExecutionId>, DbError> {
        experiment::cells(&mut self.pool.acquire().await?.conn(), tenant, id).await
    }
}

#[async_trait]
impl Retention for Reads {
    async fn collect(
        &self,
        sinks: &[String],
        dry_run: bool,
        decide: &mut Decide<'_>,
    ) -> Result<(Vec<ExecutionId>, Swept), DbError> {
        let (expired, (), swept) = retention::collect(&self.pool, sinks, dry_run, |facts, undelivered| {
            (decide(facts, undelivered), ())
        })
        .await?;
        Ok((expired, swept))
    }
}
