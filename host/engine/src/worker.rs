//! `wtb worker`: claims runnable executions from the shared database and drives them, any
//! number of workers on any machines, with no coordinator but the database.
//!
//! A worker claims whole executions (see [`crate::executor`]'s hand-off module for why),
//! at most `concurrency` at once, with `FOR UPDATE SKIP LOCKED` on PostgreSQL so that workers
//! never wait on each other. Each claim carries a fencing token that every commit of the drive
//! checks inside its transaction: a worker whose lease was taken over (it stalled past the
//! lease) can never commit again. It wakes on `LISTEN`/`NOTIFY` (PostgreSQL) and polls every
//! `[workers] poll_ms` as well, since notifications sent while its connection is down are lost.
//! Told to stop, it claims nothing more, lets each drive commit the attempts it is running,
//! and gives the leases back (waking the other workers in the same transaction), so they
//! continue at once.

use crate::executor::control::owner_is_dead;
use crate::executor::{ExecError, Executor, RunSummary};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wtb_core::model::ExecutionStatus;
use wtb_store::db::{Taken, WorkSignals};

/// How a worker runs.
#[derive(Clone, Copy, Debug)]
pub struct WorkerOptions {
    /// Most executions driven at once.
    pub concurrency: usize,
    /// Most attempts of one execution running at once (its parallel branches).
    pub parallelism: usize,
}

/// What a worker did, for its exit line and `--json`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WorkerReport {
    /// Executions claimed (counting one claimed again after it paused or was given back).
    pub claimed: u64,
    /// Of those, taken over from a process that died or whose lease expired.
    pub taken_over: u64,
    /// Drives that ended with the execution completed.
    pub completed: u64,
    /// Drives that ended with it failed or cancelled.
    pub failed: u64,
    /// Drives that ended with it paused.
    pub paused: u64,
    /// Drives given back (the worker stopped) with the execution still running.
    pub given_back: u64,
    /// Drives stopped because another process took the lease over.
    pub lost: u64,
    /// Drives that stopped on a host error (the lease is given back; another claim retries).
    pub errors: u64,
}

impl WorkerReport {
    fn record(&mut self, taken: &Taken, result: &Result<RunSummary, ExecError>) {
        match result {
            Ok(s) => match s.status {
                ExecutionStatus::Completed => self.completed += 1,
                ExecutionStatus::Paused => self.paused += 1,
                ExecutionStatus::Running => self.given_back += 1,
                _ => self.failed += 1,
            },
            Err(ExecError::LeaseLost) => {
                tracing::info!(execution = %taken.execution, "lease taken over by another process");
                self.lost += 1;
            }
            Err(e @ ExecError::StoredWorkflow(_)) => {
                tracing::warn!(
                    execution = %taken.execution,
                    "driving: {e} (workers load components from the blob store: every process needs the same `[blobs] url`)"
                );
                self.errors += 1;
            }
            Err(e) => {
                tracing::warn!(execution = %taken.execution, "driving: {e}");
                self.errors += 1;
            }
        }
    }
}

/// How long a worker waits before claiming again after a drive failed on a host error:
/// doubling from the poll period per failure in a row, at most [`MOST_BACKOFF`], so a broken
/// execution or store is not claimed in a tight loop.
fn backoff(poll: Duration, failures: u32) -> Duration {
    poll.saturating_mul(1 << failures.min(10)).min(MOST_BACKOFF).max(poll)
}

/// The longest wait between claims after failures.
const MOST_BACKOFF: Duration = Duration::from_secs(30);

/// A drive's task's answer: what it claimed, and how the drive ended.
type Driven = (Taken, Result<RunSummary, ExecError>);

/// Claims and drives executions until `stop` turns true; then gives back what it holds.
pub async fn work(host: &Executor, opts: WorkerOptions, mut stop: watch::Receiver<bool>) -> WorkerReport {
    let mut report = WorkerReport::default();
    let mut running: JoinSet<Driven> = JoinSet::new();
    let mut signals: Option<Box<dyn WorkSignals>> = None;
    // Leases of drives that failed on a host error, to give back (retried until it works).
    let mut to_give_back: Vec<Taken> = Vec::new();
    // What each drive's task claimed, for when the task itself fails (a panic).
    let mut tasks: HashMap<tokio::task::Id, Taken> = HashMap::new();
    let poll = host.config().workers.poll();
    let concurrency = opts.concurrency.max(1);
    // Failed drives in a row, and when claiming may start again.
    let (mut failures, mut claim_after) = (0u32, tokio::time::Instant::now());
    // See [`claim_due`].
    let batch = (concurrency / 2).max(1);
    let (mut woken, mut maybe_more, mut timer_fired) = (true, false, true);
    // The poll timer keeps its period whatever else wakes the loop (a stream of notifications
    // must not keep postponing it).
    let mut next_poll = tokio::time::Instant::now() + poll;
    while !*stop.borrow() {
        if signals.is_none() {
            // Bounded: while the database is away the loop goes on (finished drives, backoff).
            signals = match tokio::time::timeout(poll, host.database().leases().listen()).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::warn!("listening for work (polling meanwhile): {e}");
                    None
                }
                Err(_) => None,
            };
        }
        give_back(host, &mut to_give_back).await;
        let free = concurrency.saturating_sub(running.len());
        let due = claim_due(Claim { queued: maybe_more, woken, timer_fired, free, batch });
        if due && tokio::time::Instant::now() >= claim_after {
            // The dead processes' leases are looked for at the poll period, not per claim.
            let claimed = claim(host, free as u32, std::mem::take(&mut timer_fired)).await;
            maybe_more = claimed.len() == free;
            woken = false;
            let mut facts = match claimed.is_empty() {
                true => HashMap::new(),
                false => match host.pick_up(&claimed).await {
                    Ok(facts) => facts,
                    Err(e) => {
                        // Given back, to be claimed again after the backoff.
                        tracing::warn!("reading {} claimed execution(s): {e}", claimed.len());
                        report.errors += claimed.len() as u64;
                        to_give_back.extend(claimed.iter().copied());
                        failures += 1;
                        claim_after = tokio::time::Instant::now() + backoff(poll, failures);
                        continue;
                    }
                },
            };
            for taken in claimed {
                report.claimed += 1;
                report.taken_over += u64::from(taken.taken_over);
                let exec = host.for_tenant(taken.tenant);
                let (parallelism, facts) = (opts.parallelism, facts.remove(&taken.execution));
                let task = running
                    .spawn(async move { (taken, exec.drive_claimed(taken, facts, parallelism).await) });
                tasks.insert(task.id(), taken);
            }
        }
        tokio::select! {
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                if finished(&mut report, &mut to_give_back, &mut tasks, done) {
                    failures = 0;
                } else {
                    failures += 1;
                    claim_after = tokio::time::Instant::now() + backoff(poll, failures);
                }
            }
            woke = next_signal(&mut signals) => {
                woken = true;
                if let Err(e) = woke {
                    tracing::warn!("the work listener's connection: {e}");
                    signals = None;
                }
            }
            _ = tokio::time::sleep_until(claim_after.max(next_poll)) => {
                (woken, timer_fired) = (true, true);
                next_poll = tokio::time::Instant::now() + poll;
            }
            _ = stop.changed() => {}
        }
    }
    // Give back: each drive stops launching, commits what runs, and releases its lease.
    while !running.is_empty() {
        host.yield_drives();
        tokio::select! {
            Some(done) = running.join_next_with_id() => {
                finished(&mut report, &mut to_give_back, &mut tasks, done);
            }
            // A drive registers only once it has loaded its execution: ask again shortly.
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    give_back(host, &mut to_give_back).await;
    report
}

/// What the claim loop knows when it decides whether to claim now.
#[derive(Clone, Copy, Debug)]
struct Claim {
    /// The last claim found as much work as it asked for: a queue is likely waiting.
    queued: bool,
    /// A notification or the poll timer said there may be new work.
    woken: bool,
    /// The poll timer fired since the last claim.
    timer_fired: bool,
    /// Free slots.
    free: usize,
    /// Slots a claim from a queue waits for.
    batch: usize,
}

/// Whether to claim now. From a queue, claims wait for a batch of free slots (half of them):
/// drives started together exit together, so their exits share group commits, and a claim
/// and its pick-up reads serve many executions (one worker on two cores: ~2,050 nodes/s
/// claiming per eighth of its slots, ~2,300 per half); the poll timer still claims into
/// fewer, so no work waits on long drives for more than a poll period. Without a queue, new
/// work is claimed at once into whatever slots are free.
fn claim_due(c: Claim) -> bool {
    c.free > 0
        && match c.queued {
            true => c.free >= c.batch || c.timer_fired,
            false => c.woken,
        }
}

/// Runnable executions for this worker; with `reap`, after expiring the leases of this
/// host's dead processes (a killed worker's executions are taken over at once rather than at
/// expiry).
async fn claim(host: &Executor, limit: u32, reap: bool) -> Vec<Taken> {
    let leases = host.database().leases();
    let holders = match reap {
        true => leases.holders().await,
        false => Ok(Vec::new()),
    };
    match holders {
        Ok(holders) => {
            for dead in holders.iter().filter(|h| owner_is_dead(h)) {
                if let Err(e) = leases.expire(dead).await {
                    tracing::warn!("expiring the leases of {dead}: {e}");
                }
            }
        }
        Err(e) => tracing::warn!("listing lease holders: {e}"),
    }
    let now = host.clock().now();
    match leases.claim_runnable(host.owner(), host.lease_until(now), now, limit).await {
        Ok(taken) => taken,
        Err(e) => {
            tracing::warn!("claiming work (retrying at the next poll): {e}");
            Vec::new()
        }
    }
}

/// Gives back the leases in `pending`; keeps the ones the database did not take.
async fn give_back(host: &Executor, pending: &mut Vec<Taken>) {
    let mut left = Vec::new();
    for taken in pending.drain(..) {
        if let Err(e) = host.for_tenant(taken.tenant).give_back(taken.execution, taken.token).await {
            tracing::warn!(execution = %taken.execution, "giving the lease back (retrying): {e}");
            left.push(taken);
        }
    }
    *pending = left;
}

/// Records a drive's end; whether it ended without a host error.
fn finished(
    report: &mut WorkerReport,
    to_give_back: &mut Vec<Taken>,
    tasks: &mut HashMap<tokio::task::Id, Taken>,
    done: Result<(tokio::task::Id, Driven), tokio::task::JoinError>,
) -> bool {
    let id = match &done {
        Ok((id, _)) => *id,
        Err(e) => e.id(),
    };
    let claimed = tasks.remove(&id);
    match done {
        Ok((_, (taken, result))) => {
            let failed = matches!(&result, Err(e) if !matches!(e, ExecError::LeaseLost));
            if failed {
                to_give_back.push(taken);
            }
            report.record(&taken, &result);
            !failed
        }
        Err(e) => {
            tracing::warn!("a drive's task failed: {e}");
            to_give_back.extend(claimed);
            report.errors += 1;
            false
        }
    }
}

/// The next wake-up, or never when there is no listener.
async fn next_signal(signals: &mut Option<Box<dyn WorkSignals>>) -> Result<(), wtb_store::db::DbError> {
    match signals {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_wait_for_a_batch_only_while_a_queue_is_likely() {
        let c = Claim { queued: true, woken: true, timer_fired: false, free: 10, batch: 32 };
        assert!(!claim_due(c), "a queue: wait for half the slots");
        assert!(claim_due(Claim { free: 32, ..c }));
        assert!(claim_due(Claim { timer_fired: true, ..c }), "the poll timer claims into fewer");
        assert!(claim_due(Claim { queued: false, ..c }), "no queue: new work at once");
        assert!(!claim_due(Claim { queued: false, woken: false, ..c }), "nothing said there is work");
        assert!(!claim_due(Claim { free: 0, timer_fired: true, ..c }), "no free slot");
    }

    #[test]
    fn the_backoff_doubles_per_failure_from_the_poll_period_up_to_its_ceiling() {
        let poll = Duration::from_millis(100);
        assert_eq!(backoff(poll, 0), poll);
        assert_eq!(backoff(poll, 1), Duration::from_millis(200));
        assert_eq!(backoff(poll, 3), Duration::from_millis(800));
        assert_eq!(backoff(poll, 40), MOST_BACKOFF);
        assert_eq!(backoff(Duration::from_secs(60), 2), Duration::from_secs(60), "never below the poll");
    }
}
