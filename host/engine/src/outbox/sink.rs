//! The one small interface every sink implements (JSONL file and webhook now; NATS later),
//! and the JSON form of an event they all send.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use wtb_core::model::OutboxEvent;

/// A boxed future: sinks are chosen at run time, so the trait must be object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a delivery failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// What went wrong, for `last_error`.
    pub message: String,
    /// Retrying cannot help (e.g. HTTP 400): the event goes dead at once.
    pub permanent: bool,
    /// The sink asked to wait this long (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self { message: message.into(), permanent: false, retry_after: None }
    }

    /// A failure no retry can fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), permanent: true, retry_after: None }
    }
}

/// How a run of one execution's events went: the first `delivered` were accepted; the next
/// one failed with `error` (and the rest were not tried).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Events accepted, from the start of the run.
    pub delivered: usize,
    /// The failure that stopped the run early.
    pub error: Option<DeliveryError>,
}

/// A destination for outbox events.
pub trait Sink: Send + Sync {
    /// The configured name (delivery state is kept per name).
    fn name(&self) -> &str;

    /// The longest one delivery can take: the relay sizes runs so its lease outlasts them.
    fn max_delivery_time(&self) -> Duration;

    /// Delivers one execution's events in order, stopping at the first failure. Each event
    /// carries its idempotency key, so a receiver can drop the redeliveries that
    /// at-least-once delivery implies.
    fn deliver<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, RunOutcome>;

    /// Makes everything accepted so far durable; the relay records deliveries only after it.
    fn flush(&self) -> BoxFuture<'_, Result<(), DeliveryError>>;
}

/// The JSON an event is delivered as (a JSONL line, a webhook body).
pub fn event_json(e: &OutboxEvent) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "idempotency_key": e.idempotency_key,
        "tenant": e.tenant,
        "execution": e.execution,
        "seq": e.seq,
        "kind": e.kind.as_string(),
        "payload": e.payload,
        "created_at": e.created_at.to_string(),
    })
}
