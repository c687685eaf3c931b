//! The relay: turns new outbox events into per-sink deliveries, claims due ones with a lease,
//! hands each execution's run to the sink in order, and records what happened.

use super::retry::RetryPolicy;
use super::sink::{DeliveryError, RunOutcome, Sink};
use crate::config::OutboxConfig;
use futures_util::StreamExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use wtb_core::clock::Clock;
use wtb_core::model::{EventId, OutboxEvent, Timestamp};
use wtb_store::db::{ClaimSpec, Claimed, Settled};
use wtb_store::db::{Database, UnitOfWork, Write, WriteError};

/// How a relay works (from `[outbox]` in `wtb.toml`).
#[derive(Clone, Copy, Debug)]
pub struct RelayOptions {
    /// Backoff and attempts.
    pub policy: RetryPolicy,
    /// How long a claim holds.
    pub lease: Duration,
    /// Idle wait between looks for new events.
    pub poll: Duration,
    /// Most events claimed per sink per round.
    pub batch: u32,
    /// Most events of one execution per round.
    pub per_execution: u32,
    /// Executions delivered at once per sink.
    pub concurrency: usize,
}

impl RelayOptions {
    /// The options a config asks for (zeros raised to the least that works).
    pub fn from_config(c: &OutboxConfig) -> Self {
        Self {
            policy: RetryPolicy {
                max_attempts: c.max_attempts.max(1),
                initial: Duration::from_millis(c.backoff_initial_ms.max(1)),
                max: Duration::from_millis(c.backoff_max_ms.max(c.backoff_initial_ms).max(1)),
            },
            lease: Duration::from_secs(c.lease_seconds.max(1)),
            poll: Duration::from_millis(c.poll_interval_ms.max(1)),
            batch: c.batch.max(1),
            per_execution: c.per_execution.max(1),
            concurrency: c.concurrency.max(1),
        }
    }
}

/// What a relay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    /// Deliveries claimed.
    pub claimed: u64,
    /// Accepted by their sink.
    pub delivered: u64,
    /// Failed, to be tried again.
    pub retried: u64,
    /// Failed for good.
    pub dead: u64,
}

impl std::ops::AddAssign for RelayReport {
    fn add_assign(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.delivered += o.delivered;
        self.retried += o.retried;
        self.dead += o.dead;
    }
}

/// Delivers the outbox of every tenant to every sink.
pub struct Relay {
    db: Arc<dyn Database>,
    sinks: Vec<Arc<dyn Sink>>,
    opts: RelayOptions,
    clock: Arc<dyn Clock>,
    owner: String,
}

impl Relay {
    /// A relay named `owner` (unique per process: it is the lease holder).
    pub fn new(
        db: Arc<dyn Database>,
        sinks: Vec<Arc<dyn Sink>>,
        opts: RelayOptions,
        clock: Arc<dyn Clock>,
        owner: String,
    ) -> Self {
        Self { db, sinks, opts, clock, owner }
    }

    /// The sinks' names.
    pub fn sink_names(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.name().to_owned()).collect()
    }

    /// Delivers everything due now (each sink until a round claims nothing), then returns.
    pub async fn drain(&self) -> Result<RelayReport, WriteError> {
        let mut total = RelayReport::default();
        loop {
            let r = self.step().await?;
            total += r;
            if r.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// Delivers until `stop` turns true (or its sender is gone), waiting `poll` whenever nothing is due. A failing
    /// database (busy, disk full) is logged and retried, never the end of the relay.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> RelayReport {
        let mut total = RelayReport::default();
        while !*stop.borrow() {
            let idle = match self.step().await {
                Ok(r) => {
                    total += r;
                    r.claimed == 0
                }
                Err(e) => {
                    tracing::warn!("outbox relay: {e}");
                    true
                }
            };
            if idle {
                let gone = tokio::select! {
                    _ = tokio::time::sleep(self.opts.poll) => false,
                    changed = stop.changed() => changed.is_err(),
                };
                if gone {
                    break;
                }
            }
        }
        total
    }

    /// One round: new events get delivery rows, then every sink (concurrently) claims, delivers
    /// and records one batch.
    pub async fn step(&self) -> Result<RelayReport, WriteError> {
        self.materialize().await?;
        let rounds = futures_util::future::join_all(self.sinks.iter().map(|s| self.round(s.as_ref()))).await;
        let mut total = RelayReport::default();
        for r in rounds {
            total += r?;
        }
        Ok(total)
    }

    async fn materialize(&self) -> Result<(), WriteError> {
        self.db.deliveries().sequence().await?;
        let max = self.db.deliveries().max_pos().await?;
        for sink in &self.sinks {
            if self.db.deliveries().cursor(sink.name()).await? < max {
                self.db.deliveries().materialize(sink.name(), self.clock.now()).await?;
            }
        }
        Ok(())
    }

    async fn round(&self, sink: &dyn Sink) -> Result<RelayReport, WriteError> {
        let now = self.clock.now();
        // A run must end well inside the lease, or another relay could take it over midway;
        // the lease is stretched to fit one delivery at least.
        let lease = self.opts.lease.max(sink.max_delivery_time().saturating_mul(2));
        let per_run = (lease.as_micros() / (2 * sink.max_delivery_time().as_micros().max(1))).max(1);
        let spec = ClaimSpec {
            sink: sink.name(),
            owner: &self.owner,
            now,
            lease_until: after(now, lease),
            limit: self.opts.batch,
            per_execution: self.opts.per_execution.min(u32::try_from(per_run).unwrap_or(u32::MAX)),
        };
        let claimed = self.db.deliveries().claim(spec).await?;
        if claimed.is_empty() {
            return Ok(RelayReport::default());
        }
        let runs = runs_of(claimed);
        let outcomes: Vec<(Vec<Claimed>, RunOutcome)> = futures_util::stream::iter(runs)
            .map(|run| async move {
                // A run that might not end inside the lease is not started (its claim is
                // released): once the lease is over another relay may take those events.
                let worst =
                    sink.max_delivery_time().saturating_mul(u32::try_from(run.len()).unwrap_or(u32::MAX));
                if after(self.clock.now(), worst) >= spec.lease_until {
                    return (run, RunOutcome { delivered: 0, error: None });
                }
                let events: Vec<OutboxEvent> = run.iter().map(|c| c.event.clone()).collect();
                let outcome = sink.deliver(&events).await;
                (run, outcome)
            })
            .buffer_unordered(self.opts.concurrency)
            .collect()
            .await;
        let flushed = sink.flush().await;
        let now = self.clock.now();
        let mut report = RelayReport::default();
        let mut settled: Vec<(EventId, Settled)> = Vec::new();
        for (run, outcome) in outcomes {
            for (i, c) in run.iter().enumerate() {
                let s = match (i.cmp(&outcome.delivered), &flushed, &outcome.error) {
                    (std::cmp::Ordering::Less, Ok(()), _) => Settled::Delivered,
                    (std::cmp::Ordering::Less, Err(e), _) | (std::cmp::Ordering::Equal, _, Some(e)) => {
                        self.failed(c, e, now)
                    }
                    _ => Settled::Released,
                };
                report.claimed += 1;
                match s {
                    Settled::Delivered => report.delivered += 1,
                    Settled::Retry { .. } => report.retried += 1,
                    Settled::Dead { .. } => report.dead += 1,
                    Settled::Released => {}
                }
                settled.push((c.event.id, s));
            }
        }
        // Failures are logged once their outcome is committed; they are few, so only they are
        // kept back while the outcomes move into the write.
        let failures: Vec<(EventId, Settled)> = settled
            .iter()
            .filter(|(_, s)| matches!(s, Settled::Retry { .. } | Settled::Dead { .. }))
            .cloned()
            .collect();
        let (sink_name, owner) = (sink.name().to_owned(), self.owner.clone());
        self.db.write(UnitOfWork::one(Write::Settle { sink: sink_name, owner, at: now, settled })).await?;
        for (id, s) in &failures {
            match s {
                Settled::Retry { error, .. } => {
                    tracing::info!(sink = sink.name(), event = %id, "delivery failed, will retry: {error}")
                }
                Settled::Dead { error } => {
                    tracing::warn!(sink = sink.name(), event = %id, "delivery dead: {error}")
                }
                _ => {}
            }
        }
        Ok(report)
    }

    fn failed(&self, c: &Claimed, e: &DeliveryError, now: Timestamp) -> Settled {
        let attempts = c.attempts.saturating_add(1);
        if e.permanent {
            return Settled::Dead { error: e.message.clone() };
        }
        match self.opts.policy.next_wait(attempts, c.event.id.uuid().as_u128(), e.retry_after) {
            Some(wait) => Settled::Retry { error: e.message.clone(), next_attempt_at: after(now, wait) },
            None => Settled::Dead { error: format!("{} (gave up after {attempts} attempts)", e.message) },
        }
    }
}

/// Claimed deliveries (sorted by execution, then seq) cut into one run per execution.
fn runs_of(claimed: Vec<Claimed>) -> Vec<Vec<Claimed>> {
    let mut runs: Vec<Vec<Claimed>> = Vec::new();
    for c in claimed {
        match runs.last_mut() {
            Some(run) if run[0].event.execution == c.event.execution => run.push(c),
            _ => runs.push(vec![c]),
        }
    }
    runs
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp::from_micros(t.micros().saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
}
