//! Node boundaries: one node attempt, from its entry checkpoint to its exit checkpoint.

use super::{BoundaryId, CheckpointId, ExecutionId, Timestamp, text_enum};

/// How a node attempt ended. A guest's own error and a trap are never the same status.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// Started, no exit checkpoint yet (or the host died during it).
    Running,
    /// Returned an update; its effects are committed.
    Succeeded,
    /// The guest returned a `node-error`: its own verdict.
    GuestError,
    /// The host stopped the guest (see [`TrapKind`]).
    Trapped,
    /// The guest returned, but its output broke the contract (not JSON, not an object, ...).
    InvalidOutput,
    /// Stopped by `wtb cancel` (or because another branch failed) before it could finish.
    Cancelled,
}
text_enum!(AttemptStatus, "attempt status", {
    Running => "running",
    Succeeded => "succeeded",
    GuestError => "guest_error",
    Trapped => "trapped",
    InvalidOutput => "invalid_output",
    Cancelled => "cancelled",
});

/// Why the host stopped a guest.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrapKind {
    /// Tried to grow memory past its limit.
    OutOfMemory,
    /// Ran past its wall-time limit.
    Timeout,
    /// Used up its fuel budget.
    OutOfFuel,
    /// Wrote more than its disk quota.
    DiskQuotaExceeded,
    /// Wrote more to stdout/stderr than allowed.
    OutputTooLarge,
    /// Exhausted its call stack.
    StackOverflow,
    /// Panicked or aborted (`unreachable` executed).
    GuestPanic,
    /// Broke a sandbox rule, e.g. passed bad data to a host call.
    SandboxViolation,
    /// Any other trap (out-of-bounds access, bad indirect call, ...).
    Other,
}
text_enum!(TrapKind, "trap kind", {
    OutOfMemory => "out_of_memory",
    Timeout => "timeout",
    OutOfFuel => "out_of_fuel",
    DiskQuotaExceeded => "disk_quota_exceeded",
    OutputTooLarge => "output_too_large",
    StackOverflow => "stack_overflow",
    GuestPanic => "guest_panic",
    SandboxViolation => "sandbox_violation",
    Other => "other",
});

/// One node attempt and how it went.
///
/// Opened (status `running`) in the transaction that writes its entry checkpoint, closed in
/// the one that writes its exit checkpoint; a `running` boundary after a crash marks the
/// attempt to resume.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NodeBoundary {
    /// Its id.
    pub id: BoundaryId,
    /// The execution.
    pub execution: ExecutionId,
    /// The node's id in the manifest.
    pub node: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The checkpoint the node started from.
    pub entry_checkpoint: CheckpointId,
    /// The checkpoint it ended at; `None` while running.
    pub exit_checkpoint: Option<CheckpointId>,
    /// How it ended.
    pub status: AttemptStatus,
    /// Set when `status` is [`AttemptStatus::Trapped`].
    pub trap: Option<TrapKind>,
    /// The guest's error message, the trap's description or the contract violation.
    pub error: Option<String>,
    /// When the attempt started: its entry checkpoint's time while it waits to run, the time
    /// it was launched once it has (a pause before it is not the node's time).
    pub started_at: Timestamp,
    /// When its exit checkpoint was written.
    pub finished_at: Option<Timestamp>,
    /// Time spent inside the guest, in microseconds.
    pub guest_micros: Option<u64>,
    /// Largest linear memory the guest reached, in bytes.
    pub peak_memory_bytes: Option<u64>,
    /// Fuel consumed, when fuel metering is on.
    pub fuel_used: Option<u64>,
    /// Bytes by which it grew its workspace (what the disk quota charged).
    pub disk_bytes: Option<u64>,
    /// New files, directories and links it created.
    pub files_created: Option<u64>,
    /// What the guest printed to stdout (capped, lossy UTF-8).
    pub stdout: String,
    /// What the guest printed to stderr (capped, lossy UTF-8).
    pub stderr: String,
}

impl NodeBoundary {
    /// A new, running boundary starting at `entry`.
    pub fn opened(id: BoundaryId, entry: &super::Checkpoint) -> Self {
        Self {
            id,
            execution: entry.execution,
            node: entry.node.clone(),
            attempt: entry.attempt,
            entry_checkpoint: entry.id,
            exit_checkpoint: None,
            status: AttemptStatus::Running,
            trap: None,
            error: None,
            started_at: entry.created_at,
            finished_at: None,
            guest_micros: None,
            peak_memory_bytes: None,
            fuel_used: None,
            disk_bytes: None,
            files_created: None,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}
