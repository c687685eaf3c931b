//! What a long-running `wtb` process (`wtb outbox relay`, `wtb run --follow`, later `wtb
//! serve`) runs beside its main work: the outbox relay, the orphan cleaner and retention GC,
//! each on its own schedule, until told to stop.

use crate::executor::Executor;
use crate::gc::{clean_orphans, collect_garbage};
use crate::outbox::{Relay, RelayReport};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// What the background work did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Maintenance {
    /// The relay's deliveries.
    pub relay: RelayReport,
    /// Orphan cleaner runs.
    pub orphan_runs: u32,
    /// Retention GC runs.
    pub gc_runs: u32,
}

/// Runs the relay continuously and the cleaners every `orphan_interval_seconds` /
/// `retention.interval_seconds` (0: never; retention also needs a rule), until `stop` turns
/// true. Failures of a cleaner are logged; the next run tries again.
pub async fn maintain(exec: &Executor, relay: &Relay, stop: watch::Receiver<bool>) -> Maintenance {
    let config = exec.config();
    let grace = Duration::from_secs(config.orphan_grace_seconds);
    let orphans = every(config.orphan_interval_seconds, stop.clone(), || async move {
        // Every tenant's part of the store: the relay and GC also serve them all.
        let tenants = match exec.database().tenants().list().await {
            Ok(t) => t,
            Err(e) => return tracing::warn!("orphan cleaner: listing tenants: {e}"),
        };
        for t in tenants {
            if let Err(e) = clean_orphans(&exec.for_tenant(t.id), grace, false).await {
                tracing::warn!("orphan cleaner, tenant `{}`: {e}", t.name);
            }
        }
    });
    let policy = &config.retention;
    let gc_interval =
        if policy.keep_days.is_some() || policy.keep_last.is_some() { policy.interval_seconds } else { 0 };
    let sinks = relay.sink_names();
    let gc = every(gc_interval, stop.clone(), || {
        let sinks = sinks.clone();
        async move {
            if let Err(e) = collect_garbage(exec, policy, &sinks, grace, false).await {
                tracing::warn!("retention gc: {e}");
            }
        }
    });
    let (relay, orphan_runs, gc_runs) = tokio::join!(relay.run(stop), orphans, gc);
    Maintenance { relay, orphan_runs, gc_runs }
}

/// Calls `work` every `seconds` until `stop`; returns how often it ran.
async fn every<F: Future<Output = ()>>(
    seconds: u64,
    mut stop: watch::Receiver<bool>,
    mut work: impl FnMut() -> F,
) -> u32 {
    let mut runs = 0;
    if seconds == 0 {
        return runs;
    }
    loop {
        let gone = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(seconds)) => false,
            changed = stop.changed() => changed.is_err(),
        };
        if gone || *stop.borrow() {
            return runs;
        }
        work().await;
        runs += 1;
    }
}
