//! One trait per aggregate: its reads, and the few operations that are a single conditional
//! statement whose answer the caller needs (claiming a lease, revoking a token), which a
//! [`super::UnitOfWork`] cannot answer.
//!
//! Every read of a tenant's data takes the tenant, and a row of another tenant is as absent
//! as one that does not exist. The lease and control operations act by execution id for the
//! host's own processes, across tenants by design (a process renews all its leases).

use super::rows::{
    Arrival, BlobTotals, ClaimSpec, Claimed, ComponentRecord, DeliveryFilter, DeliveryRow, ExperimentRecord,
    ListFilter, ResumeFacts, SinkCounts, Swept, Taken, Usage,
};
use crate::db::DbError;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use wtb_core::model::{
    ApiToken, BlobRecord, Checkpoint, CheckpointId, Digest, EventId, Execution, ExecutionId, ExperimentId,
    FileCommit, FileCommitId, NodeBoundary, OutboxEvent, Quotas, Tenant, TenantId, Timestamp, TokenId,
    WorkflowId, WorkflowRecord,
};
use wtb_core::retention::ExecutionFacts;

/// Executions: rows, leases and control requests.
#[async_trait]
pub trait Executions: Send + Sync {
    /// The tenant's execution `id`.
    async fn get_one(&self, tenant: TenantId, id: ExecutionId) -> Result<Option<Execution>, DbError>;
    /// The tenant's executions matching `filter`, newest first, after the cursor `after`.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &ListFilter,
        after: Option<ExecutionId>,
        limit: u32,
    ) -> Result<Vec<Execution>, DbError>;
    /// What a drive needs to pick up each of `which` (executions named with their tenants) again,
    /// in a few statements for all of them (a worker picks up a claimed batch at once); another
    /// tenant's or an unknown execution is left out.
    async fn resume_facts(&self, which: &[(TenantId, ExecutionId)]) -> Result<Vec<ResumeFacts>, DbError>;
    /// The tenant's executions with status `running`.
    async fn list_running(&self, tenant: TenantId) -> Result<Vec<ExecutionId>, DbError>;
    /// Records a control request (`pause`, `cancel`) on a running execution; false if none.
    async fn request(&self, tenant: TenantId, id: ExecutionId, control: &str) -> Result<bool, DbError>;
    /// Every pending control request: execution, request, whether a driver saw it.
    async fn requests(&self) -> Result<Vec<(ExecutionId, String, bool)>, DbError>;
    /// Records that `owner`, the execution's driver, saw `control`.
    async fn mark_seen(&self, id: ExecutionId, control: &str, owner: &str) -> Result<(), DbError>;
    /// Which process saw the pending request of the tenant's execution, if one did.
    async fn control_seen_by(&self, tenant: TenantId, id: ExecutionId) -> Result<Option<String>, DbError>;
}

/// Leases of executions: who drives each, until when, under which fencing token (see the
/// store's `sql::lease`). By execution id, across tenants: a process drives any tenant's.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease of `id` for `owner` if it is free, expired, or held by `stale` (a dead
    /// process of this host); the new fencing token, or `None` if someone else holds it.
    async fn claim(
        &self,
        id: ExecutionId,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
        stale: Option<&str>,
    ) -> Result<Option<u64>, DbError>;
    /// Takes up to `limit` runnable executions (running, unleased or expired) for `owner`,
    /// skipping rows other claimers are taking.
    async fn claim_runnable(
        &self,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Taken>, DbError>;
    /// Who holds the lease of `id`, until when.
    async fn lease(&self, id: ExecutionId) -> Result<Option<(String, Timestamp)>, DbError>;
    /// Every process holding a lease of a running execution.
    async fn holders(&self) -> Result<Vec<String>, DbError>;
    /// Ends every lease of `owner` now (a process known to be dead).
    async fn expire(&self, owner: &str) -> Result<u64, DbError>;
    /// Extends every lease `owner` holds.
    async fn renew(&self, owner: &str, until: Timestamp) -> Result<(), DbError>;
    /// A stream of wake-ups for a worker, or `None` where the backend has none (SQLite: poll).
    async fn listen(&self) -> Result<Option<Box<dyn WorkSignals>>, DbError>;
}

/// Wake-ups from units with [`Write::Wake`](super::Write::Wake), as a worker receives them.
#[async_trait]
pub trait WorkSignals: Send {
    /// Waits for the next wake-up. An error means the connection was lost; the next call
    /// reconnects (wake-ups sent meanwhile are lost, which is why workers also poll).
    async fn next(&mut self) -> Result<(), DbError>;
}

/// Checkpoints of executions.
#[async_trait]
pub trait Checkpoints: Send + Sync {
    /// Checkpoint `id` (its execution tells the tenant).
    async fn get_one(&self, tenant: TenantId, id: CheckpointId) -> Result<Option<Checkpoint>, DbError>;
    /// An execution's live checkpoints, in order.
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<Checkpoint>, DbError>;
    /// Every checkpoint of an execution, with when it was rolled back past.
    async fn list_history(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<(Checkpoint, Option<Timestamp>)>, DbError>;
    /// Every checkpoint of the tenant (fsck).
    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<Checkpoint>, DbError>;
    /// Whether checkpoint `id` exists and, if so, when it was rolled back past.
    async fn superseded_at(
        &self,
        tenant: TenantId,
        id: CheckpointId,
    ) -> Result<Option<Option<Timestamp>>, DbError>;
}

/// Node attempts.
#[async_trait]
pub trait Boundaries: Send + Sync {
    /// An execution's live attempts, in order.
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<NodeBoundary>, DbError>;
    /// An execution's attempts without an outcome.
    async fn list_open(&self, tenant: TenantId, execution: ExecutionId)
    -> Result<Vec<NodeBoundary>, DbError>;
    /// Every attempt of an execution, with when it was rolled back past.
    async fn list_history(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<(NodeBoundary, Option<Timestamp>)>, DbError>;
    /// Every finished attempt's entry-to-exit time, µs (the bench's percentiles).
    async fn latencies(&self) -> Result<Vec<i64>, DbError>;
}

/// Branches waiting at joins.
#[async_trait]
pub trait Joins: Send + Sync {
    /// Every arrival of an execution, consumed or not.
    async fn list_all(&self, tenant: TenantId, execution: ExecutionId) -> Result<Vec<Arrival>, DbError>;
    /// The arrivals still waiting.
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<Arrival>, DbError>;
}

/// File commits.
#[async_trait]
pub trait FileCommits: Send + Sync {
    /// The tenant's commit `id`, its tree rebuilt.
    async fn get_one(&self, tenant: TenantId, id: FileCommitId) -> Result<Option<FileCommit>, DbError>;
    /// How many paths commit `id` changed.
    async fn change_count(&self, tenant: TenantId, id: FileCommitId) -> Result<usize, DbError>;
    /// Every commit of the tenant (fsck).
    async fn list_ids(&self, tenant: TenantId) -> Result<Vec<FileCommitId>, DbError>;
}

/// Content rows.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// The tenant's content `digest`.
    async fn get_one(&self, tenant: TenantId, digest: &Digest) -> Result<Option<BlobRecord>, DbError>;
    /// Every content row of the tenant.
    async fn list_all(&self, tenant: TenantId) -> Result<Vec<BlobRecord>, DbError>;
    /// The bytes of those of `digests` stored inline.
    async fn inline_contents(
        &self,
        tenant: TenantId,
        digests: &[Digest],
    ) -> Result<HashMap<Digest, Vec<u8>>, DbError>;
    /// Every digest the tenant has a row for (the orphan cleaner's live set).
    async fn digests(&self, tenant: TenantId) -> Result<HashSet<Digest>, DbError>;
    /// Counts and sizes, inline and in the blob store.
    async fn totals(&self, tenant: TenantId) -> Result<BlobTotals, DbError>;
}

/// Components.
#[async_trait]
pub trait Components: Send + Sync {
    /// The tenant's component `digest`.
    async fn get_one(&self, tenant: TenantId, digest: &Digest) -> Result<Option<ComponentRecord>, DbError>;
    /// Every component digest of the tenant (hex).
    async fn list_digests(&self, tenant: TenantId) -> Result<Vec<String>, DbError>;
}

/// Workflow definitions.
#[async_trait]
pub trait Workflows: Send + Sync {
    /// The tenant's workflow with this definition digest.
    async fn id_by_digest(&self, tenant: TenantId, digest: &Digest) -> Result<Option<WorkflowId>, DbError>;
    /// The tenant's workflow `id`.
    async fn get_one(&self, tenant: TenantId, id: WorkflowId) -> Result<Option<WorkflowRecord>, DbError>;
    /// The tenant's workflows, newest first.
    async fn list(&self, tenant: TenantId, limit: u32) -> Result<Vec<WorkflowRecord>, DbError>;
}

/// The outbox.
#[async_trait]
pub trait Events: Send + Sync {
    /// An execution's events, in order.
    async fn list_for_execution(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
    ) -> Result<Vec<OutboxEvent>, DbError>;
    /// An execution's events after seq `after`.
    async fn list_after(
        &self,
        tenant: TenantId,
        execution: ExecutionId,
        after: u32,
    ) -> Result<Vec<OutboxEvent>, DbError>;
    /// An execution's last event seq (0 when none).
    async fn last_seq(&self, tenant: TenantId, execution: ExecutionId) -> Result<u32, DbError>;
    /// The tenant's events whose execution is gone (fsck).
    async fn without_aggregate(&self, tenant: TenantId) -> Result<Vec<(EventId, ExecutionId)>, DbError>;
}

/// Deliveries of the outbox to sinks.
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Numbers the committed events that have no outbox position yet (a backend that numbers
    /// them only after they commit); how many.
    async fn sequence(&self) -> Result<u64, DbError>;
    /// The newest outbox position.
    async fn max_pos(&self) -> Result<i64, DbError>;
    /// The outbox position a sink's delivery rows reach.
    async fn cursor(&self, sink: &str) -> Result<i64, DbError>;
    /// Gives every event past the sink's cursor a delivery row; how many.
    async fn materialize(&self, sink: &str, now: Timestamp) -> Result<u64, DbError>;
    /// Leases due deliveries (see `spec`).
    async fn claim(&self, spec: ClaimSpec<'_>) -> Result<Vec<Claimed>, DbError>;
    /// The tenant's deliveries matching `filter`.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &DeliveryFilter,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, DbError>;
    /// Makes the tenant's dead deliveries (or one event's) due again; how many.
    async fn revive(&self, tenant: TenantId, event: Option<EventId>, now: Timestamp) -> Result<u64, DbError>;
    /// Whether the tenant has event `event`.
    async fn event_exists(&self, tenant: TenantId, event: EventId) -> Result<bool, DbError>;
    /// Deliveries of a sink by status.
    async fn counts(&self, sink: &str) -> Result<SinkCounts, DbError>;
    /// Sinks with delivery rows that are not configured.
    async fn other_sinks(&self, configured: &[String]) -> Result<Vec<String>, DbError>;
}

/// Tenants, quotas and API tokens.
#[async_trait]
pub trait Tenants: Send + Sync {
    /// Replaces a tenant's quotas; false if there is no such tenant.
    async fn set_quotas(&self, id: TenantId, quotas: &Quotas) -> Result<bool, DbError>;
    /// Tenant `id`.
    async fn get_one(&self, id: TenantId) -> Result<Option<Tenant>, DbError>;
    /// The tenant called `name`.
    async fn get_by_name(&self, name: &str) -> Result<Option<Tenant>, DbError>;
    /// Every tenant.
    async fn list(&self) -> Result<Vec<Tenant>, DbError>;
    /// What a tenant uses now (running executions, stored bytes, nodes since `since`).
    async fn usage(&self, id: TenantId, since: Timestamp) -> Result<Usage, DbError>;
    /// Nodes the tenant ran since `since`.
    async fn nodes_since(&self, id: TenantId, since: Timestamp) -> Result<u64, DbError>;
    /// The live token with this hash.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, DbError>;
    /// Revokes the tenant's token `id`; false if there is none.
    async fn revoke_token(&self, tenant: TenantId, id: TokenId, now: Timestamp) -> Result<bool, DbError>;
    /// The tenant's tokens.
    async fn list_tokens(&self, tenant: TenantId) -> Result<Vec<ApiToken>, DbError>;
}

/// Experiments.
#[async_trait]
pub trait Experiments: Send + Sync {
    /// The tenant's experiment `id`.
    async fn get_one(&self, tenant: TenantId, id: ExperimentId) -> Result<Option<ExperimentRecord>, DbError>;
    /// The tenant's experiments, newest first.
    async fn list(&self, tenant: TenantId, limit: u32) -> Result<Vec<ExperimentRecord>, DbError>;
    /// The executions of an experiment's cells.
    async fn cells(&self, tenant: TenantId, id: ExperimentId) -> Result<Vec<ExecutionId>, DbError>;
}

/// Chooses the executions to delete from the candidates (the facts, and those with events
/// not yet delivered to a configured sink).
pub type Decide<'a> = dyn FnMut(&[ExecutionFacts], &HashSet<ExecutionId>) -> Vec<ExecutionId> + Send + 'a;

/// Retention.
#[async_trait]
pub trait Retention: Send + Sync {
    /// In one transaction: reads the candidates, lets `decide` choose, deletes the chosen
    /// executions and sweeps what nothing kept references; undone when `dry_run`.
    async fn collect(
        &self,
        sinks: &[String],
        dry_run: bool,
        decide: &mut Decide<'_>,
    ) -> Result<(Vec<ExecutionId>, Swept), DbError>;
}
