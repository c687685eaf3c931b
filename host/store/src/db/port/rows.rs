//! The rows and requests the aggregate traits exchange: plain data, the same for every
//! backend.

use wtb_core::experiment::ExperimentSpec;
use wtb_core::model::{
    CheckpointId, Digest, EventId, ExecutionId, ExecutionStatus, ExperimentId, OutboxEvent, TenantId,
    Timestamp,
};

/// Which executions a listing returns; every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<ExecutionStatus>,
    /// Only runs of workflows with this name or definition digest (hex).
    pub workflow: Option<String>,
    /// Only executions created at or after this instant.
    pub created_after: Option<Timestamp>,
    /// Only executions created before this instant.
    pub created_before: Option<Timestamp>,
    /// Only forks of this execution.
    pub parent: Option<ExecutionId>,
    /// Only forks made from this checkpoint.
    pub fork_of: Option<CheckpointId>,
    /// Only this experiment variant.
    pub variant: Option<String>,
}

/// One waiting branch: the edge it arrived on, and its exit checkpoint (and that one's seq).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Index of the edge in the workflow definition.
    pub edge: u32,
    /// The exit checkpoint's seq (FIFO order per edge).
    pub seq: u32,
    /// The branch's exit checkpoint.
    pub checkpoint: CheckpointId,
    /// The fork points the branch descends from, innermost last.
    pub forks: Vec<CheckpointId>,
}

/// A component row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRecord {
    /// Owner.
    pub tenant: TenantId,
    /// SHA-256 of the `.wasm` bytes.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// First seen.
    pub created_at: Timestamp,
}

/// An experiment row.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ExperimentRecord {
    /// Its id.
    pub id: ExperimentId,
    /// Its owner.
    pub tenant: TenantId,
    /// Its name.
    pub name: String,
    /// The validated experiment file.
    pub spec: ExperimentSpec,
    /// The experiment file's path, as given (its relative paths start there).
    pub file: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// What a tenant uses now, measured against its quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Executions running.
    pub running: u64,
    /// Bytes stored: blobs (inline and in the CAS), checkpoint states, outbox payloads and
    /// captured stdout/stderr.
    pub stored_bytes: u64,
    /// Node attempts that ended since `since`.
    pub nodes_since: u64,
}

/// What a sweep removed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Swept {
    /// Checkpoint rows.
    pub checkpoints: u64,
    /// Node attempt rows.
    pub node_attempts: u64,
    /// Outbox events (and their delivery rows).
    pub events: u64,
    /// File commits no kept checkpoint reaches.
    pub file_commits: u64,
    /// Blob rows no kept commit or component references: `(tenant, digest, size, in the CAS)`.
    pub blobs: Vec<(TenantId, Digest, u64, bool)>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet (possibly waiting for its next attempt).
    Pending,
    /// The sink accepted it.
    Delivered,
    /// Given up on: a permanent error or too many attempts. `wtb outbox retry` revives it.
    Dead,
}
wtb_core::model::text_enum!(DeliveryStatus, "delivery status", { Pending => "pending", Delivered => "delivered", Dead => "dead" });

/// What a drive needs to pick an execution up again (`Executions::resume_facts`).
#[derive(Clone, Debug)]
pub struct ResumeFacts {
    /// The execution row.
    pub execution: wtb_core::model::Execution,
    /// The stored breakpoints (`{"before": [..], "after": [..]}`).
    pub breakpoints: serde_json::Value,
    /// The pending control request, if any.
    pub control: Option<String>,
    /// The highest checkpoint seq.
    pub checkpoint_seq: u32,
    /// Live entry checkpoints (node activations so far).
    pub entries: u32,
    /// The highest outbox event seq.
    pub event_seq: u32,
    /// The execution's tenant, with its quotas.
    pub tenant: wtb_core::model::Tenant,
    /// Its attempts without an exit, oldest first: they re-run from their entries.
    pub open: Vec<OpenAttempt>,
}

/// An attempt without an exit as a drive picks it up: it re-runs from its entry checkpoint,
/// its workspace restored from that checkpoint's file commit.
#[derive(Clone, Debug)]
pub struct OpenAttempt {
    /// The attempt.
    pub boundary: wtb_core::model::NodeBoundary,
    /// Its entry checkpoint.
    pub entry: wtb_core::model::Checkpoint,
    /// The entry's file commit, tree complete.
    pub commit: wtb_core::model::FileCommit,
}

/// An execution a worker claimed: whose, which, and the fencing token its commits carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// The execution's tenant.
    pub tenant: TenantId,
    /// The execution.
    pub execution: ExecutionId,
    /// The claim's fencing token.
    pub token: u64,
    /// Whether another process held the lease before (it expired or its process died), as
    /// opposed to an execution handed to the workers or given back.
    pub taken_over: bool,
}

/// One claimed delivery.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The event.
    pub event: OutboxEvent,
    /// Attempts before this one.
    pub attempts: u32,
}

/// What to claim.
#[derive(Clone, Copy, Debug)]
pub struct ClaimSpec<'a> {
    /// The sink.
    pub sink: &'a str,
    /// Who claims (a relay process).
    pub owner: &'a str,
    /// The time claims are judged at.
    pub now: Timestamp,
    /// Until when the claim holds.
    pub lease_until: Timestamp,
    /// Most events in total.
    pub limit: u32,
    /// Most events of one execution (the oldest undelivered ones, in order).
    pub per_execution: u32,
}

/// How one claimed delivery ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// The sink accepted it.
    Delivered,
    /// It failed; try again at `next_attempt_at`.
    Retry {
        /// The error.
        error: String,
        /// When.
        next_attempt_at: Timestamp,
    },
    /// It failed for good.
    Dead {
        /// The error.
        error: String,
    },
    /// Not attempted (an earlier event of its execution failed): the lease is dropped.
    Released,
}

/// Which deliveries to list.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only this sink.
    pub sink: Option<String>,
    /// Only this execution's.
    pub execution: Option<ExecutionId>,
    /// Only positions after this (oldest first paging).
    pub after_pos: Option<i64>,
}

/// One delivery row with its event's identity, for `wtb outbox list`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeliveryRow {
    /// The event.
    pub event: EventId,
    /// Its execution.
    pub execution: ExecutionId,
    /// Its position in the execution.
    pub seq: u32,
    /// Its kind (stored form).
    pub kind: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The sink.
    pub sink: String,
    /// Where the delivery stands.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it may be tried next (pending ones).
    pub next_attempt_at: Timestamp,
    /// When the sink accepted it.
    pub delivered_at: Option<Timestamp>,
    /// When the event was written.
    pub created_at: Timestamp,
    /// Its commit position: the cursor for the next page.
    pub pos: i64,
}

/// Counts per sink, for `wtb outbox stats`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SinkCounts {
    /// The sink.
    pub sink: String,
    /// Events with no delivery row yet (the relay has not looked at them).
    pub unseen: u64,
    /// Pending deliveries.
    pub pending: u64,
    /// Dead ones.
    pub dead: u64,
    /// Delivered ones.
    pub delivered: u64,
    /// When the oldest event not yet delivered (pending or unseen) was written.
    pub oldest_pending: Option<Timestamp>,
}

/// A tenant's stored contents: how many and how large, inline and in the blob store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlobTotals {
    /// Distinct contents.
    pub count: u64,
    /// Their total size.
    pub bytes: u64,
    /// The part stored as CAS files.
    pub cas_bytes: u64,
}

/// Upper bounds (seconds) of the node-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// One reading of the counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// (tenant name, status, executions).
    pub executions: Vec<(String, String, u64)>,
    /// (outcome: the attempt's status, or its trap kind, count) of ended attempts.
    pub nodes: Vec<(String, u64)>,
    /// Ended attempts at or under each of [`DURATION_BUCKETS`] (cumulative).
    pub duration_buckets: Vec<u64>,
    /// All ended attempts' durations, seconds.
    pub duration_sum: f64,
    /// Ended attempts.
    pub duration_count: u64,
    /// (storage: `inline` or `cas`, bytes) of stored blobs.
    pub blob_bytes: Vec<(String, u64)>,
}
