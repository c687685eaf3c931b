//! Outbox events: written in the same transaction as the state change they describe.

use super::{EventId, ExecutionId, TenantId, Timestamp};

/// What happened. Host events have fixed kinds; a guest's `emit` carries its own.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EventKind {
    /// An execution was created and its first entry checkpoint written.
    ExecutionStarted,
    /// A node attempt succeeded and its exit checkpoint committed.
    NodeCompleted,
    /// A node attempt failed (guest error, trap or invalid output).
    NodeFailed,
    /// A node changed files; the payload lists the file commit and its changes.
    FilesCommitted,
    /// The last node completed.
    ExecutionCompleted,
    /// The execution stopped on a failure.
    ExecutionFailed,
    /// The execution paused at a node boundary (request or breakpoint).
    ExecutionPaused,
    /// A paused or interrupted execution continued.
    ExecutionResumed,
    /// The execution was cancelled.
    ExecutionCancelled,
    /// The execution was rolled back to a checkpoint (and paused there).
    ExecutionRolledBack,
    /// The execution was created as a fork of another's checkpoint.
    ExecutionForked,
    /// An event a guest emitted; the string is the guest's kind.
    Guest(String),
}

impl EventKind {
    /// The stored form: host kinds are `execution.started`, ...; guest kinds are prefixed
    /// `guest.` so a guest can never forge a host event.
    pub fn as_string(&self) -> String {
        match self {
            Self::ExecutionStarted => "execution.started".into(),
            Self::NodeCompleted => "node.completed".into(),
            Self::NodeFailed => "node.failed".into(),
            Self::FilesCommitted => "files.committed".into(),
            Self::ExecutionCompleted => "execution.completed".into(),
            Self::ExecutionFailed => "execution.failed".into(),
            Self::ExecutionPaused => "execution.paused".into(),
            Self::ExecutionResumed => "execution.resumed".into(),
            Self::ExecutionCancelled => "execution.cancelled".into(),
            Self::ExecutionRolledBack => "execution.rolled_back".into(),
            Self::ExecutionForked => "execution.forked".into(),
            Self::Guest(kind) => format!("guest.{kind}"),
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "execution.started" => Self::ExecutionStarted,
            "node.completed" => Self::NodeCompleted,
            "node.failed" => Self::NodeFailed,
            "files.committed" => Self::FilesCommitted,
            "execution.completed" => Self::ExecutionCompleted,
            "execution.failed" => Self::ExecutionFailed,
            "execution.paused" => Self::ExecutionPaused,
            "execution.resumed" => Self::ExecutionResumed,
            "execution.cancelled" => Self::ExecutionCancelled,
            "execution.rolled_back" => Self::ExecutionRolledBack,
            "execution.forked" => Self::ExecutionForked,
            other => Self::Guest(other.strip_prefix("guest.")?.to_owned()),
        })
    }
}

/// One event in the outbox, delivered later to every sink at least once.
#[derive(Clone, PartialEq, Debug)]
pub struct OutboxEvent {
    /// Its id.
    pub id: EventId,
    /// Its owner.
    pub tenant: TenantId,
    /// The aggregate it belongs to; events of one execution are delivered in `seq` order.
    pub execution: ExecutionId,
    /// Position among the execution's events, from 1.
    pub seq: u32,
    /// What happened.
    pub kind: EventKind,
    /// Details, as JSON.
    pub payload: serde_json::Value,
    /// Stable across redeliveries, so a sink can drop duplicates: `<execution>:<seq>`.
    pub idempotency_key: String,
    /// When the transaction that wrote it ran.
    pub created_at: Timestamp,
}

impl OutboxEvent {
    /// The idempotency key of an execution's `seq`-th event.
    pub fn key_for(execution: ExecutionId, seq: u32) -> String {
        format!("{execution}:{seq}")
    }
}
