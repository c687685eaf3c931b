//! What operators do with deliveries, for the CLI (`wtb outbox list|retry|stats`) and the API
//! (`/metrics`) alike: page through them, revive dead ones, count them per sink. The rules
//! (an unknown event is refused, reviving nothing is an error) live here once.

use crate::executor::{ExecError, Executor};
use wtb_core::model::{EventId, Timestamp};
use wtb_store::db::{DeliveryFilter, DeliveryRow, SinkCounts};

/// One page of deliveries, and where the next begins.
#[derive(Debug, serde::Serialize)]
pub struct DeliveryPage {
    /// The deliveries, in outbox order.
    pub deliveries: Vec<DeliveryRow>,
    /// The `after` position of the next page, when this one is full.
    pub next: Option<i64>,
}

/// Delivery counts of every sink: the configured ones, then those that have rows but are no
/// longer configured (their deliveries stay until retention removes the events).
#[derive(Debug, serde::Serialize)]
pub struct OutboxStats {
    /// When they were counted (ages are relative to it).
    pub now: Timestamp,
    /// Per sink.
    pub sinks: Vec<SinkCounts>,
    /// Sinks with deliveries that the configuration no longer names.
    pub unconfigured: Vec<String>,
}

/// The tenant's deliveries matching `filter`, at most `limit`.
pub async fn deliveries(
    exec: &Executor,
    filter: &DeliveryFilter,
    limit: u32,
) -> Result<DeliveryPage, ExecError> {
    let deliveries = exec.database().deliveries().list(exec.tenant(), filter, limit).await?;
    let next = if deliveries.len() == limit as usize { deliveries.last().map(|r| r.pos) } else { None };
    Ok(DeliveryPage { deliveries, next })
}

/// Makes the dead deliveries of `event` (or of every event, when `None`) pending again; returns
/// how many. Naming an event that is not the tenant's, or one without a dead delivery, is
/// refused: the operator asked for something that did not happen.
pub async fn revive(exec: &Executor, event: Option<EventId>) -> Result<u64, ExecError> {
    if let Some(e) = event
        && !exec.database().deliveries().event_exists(exec.tenant(), e).await?
    {
        return Err(ExecError::UnknownEvent(e));
    }
    let n = exec.database().deliveries().revive(exec.tenant(), event, exec.clock().now()).await?;
    if let (Some(e), 0) = (event, n) {
        return Err(ExecError::NothingDead(e));
    }
    Ok(n)
}

/// Counts of every sink, configured or formerly configured.
pub async fn stats(exec: &Executor) -> Result<OutboxStats, ExecError> {
    let mut names: Vec<String> = exec.config().sinks().iter().map(|s| s.name().to_owned()).collect();
    let unconfigured = exec.database().deliveries().other_sinks(&names).await?;
    names.extend(unconfigured.iter().cloned());
    let mut sinks = Vec::with_capacity(names.len());
    for n in &names {
        sinks.push(exec.database().deliveries().counts(n).await?);
    }
    Ok(OutboxStats { now: exec.clock().now(), sinks, unconfigured })
}
