//! Group commit: one writer thread per executor commits the exit transactions of many
//! boundaries — of many executions — in one SQLite transaction, so they share one `fsync`.
//!
//! A failing boundary's rows are undone alone and the others commit (when a batch fails, the
//! group runs again with a savepoint per batch, see [`commit_group`]). Batches are taken in
//! arrival order (FIFO), and an execution's batches arrive in the order its drive issued them;
//! a batch whose execution already had one fail is refused. So, as with one transaction per
//! boundary, the database never holds a boundary's effects without those of every boundary of
//! its execution issued before it, and a crash mid-group loses the whole group, which no one
//! was told had committed.

use super::{DbError, Durability};
use crate::db::sql::Batch;
use crate::db::sql::group::{
    Gather, Kept, Ran, committed, fail_all, fail_kept, fill, refuse_poisoned, settle,
};
use crate::db::sql::merge::merge;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError, RwLock};
use tokio::sync::mpsc;
use wtb_failpoint as failpoint;

pub use crate::db::port::WriteError;
pub use crate::db::sql::group::Job;

/// The handle the drives submit to.
pub struct GroupCommitter {
    /// Gone once the writer is shut down: later jobs are answered `Stopped`.
    jobs: RwLock<Option<mpsc::UnboundedSender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl GroupCommitter {
    /// Starts the writer on a thread of its own with its own connection to the (migrated)
    /// database at `path`. SQLite runs on that thread from `BEGIN` to `COMMIT`: through the
    /// async driver, every statement's result was handed to a tokio worker, and with guests
    /// keeping both cores busy each hand-off waited for one (~180 µs per boundary).
    pub fn start(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Self::start_after(path, durability, None)
    }

    /// [`Self::start`], the writer taking its first group only once `gate` opens (so a test can
    /// queue several jobs that will form one group).
    fn start_after(
        path: &Path,
        durability: Durability,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    ) -> Result<Self, DbError> {
        let db = super::open_direct(path, durability)?;
        let scope = path.to_string_lossy().into_owned();
        let (jobs, rx) = mpsc::unbounded_channel();
        let spent = Spent(tokio::runtime::Handle::try_current().ok());
        let run = move || {
            if let Some(gate) = gate {
                let _ = gate.recv();
            }
            writer(&db, &scope, rx, &spent);
        };
        let thread =
            std::thread::Builder::new().name("wtb-commit".into()).spawn(run).map_err(DbError::Writer)?;
        Ok(Self { jobs: RwLock::new(Some(jobs)), thread: Mutex::new(Some(thread)) })
    }

    /// Queues a job; its reply says when (and whether) it committed.
    pub fn submit(&self, job: Job) {
        let jobs = self.jobs.read().unwrap_or_else(PoisonError::into_inner);
        let refused = match jobs.as_ref() {
            Some(jobs) => jobs.send(job).err().map(|mpsc::error::SendError(job)| job),
            None => Some(job),
        };
        if let Some(job) = refused {
            let _ = job.reply.send(Err(WriteError::Stopped));
        }
    }

    /// Stops taking jobs; the writer finishes the queued groups, then closes its connection
    /// and ends. Returns its thread, for the caller to wait for (once: later calls get `None`).
    pub fn shut(&self) -> Option<std::thread::JoinHandle<()>> {
        self.jobs.write().unwrap_or_else(PoisonError::into_inner).take();
        self.thread.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Drop for GroupCommitter {
    /// Lets the writer finish the queued groups, then closes its connection.
    fn drop(&mut self) {
        if let Some(thread) = self.shut() {
            let _ = thread.join();
        }
    }
}

/// Commits groups until every sender is gone. `scope` (the database path) keys its pause point.
fn writer(db: &rusqlite::Connection, scope: &str, mut rx: mpsc::UnboundedReceiver<Job>, spent: &Spent) {
    let mut gather = Gather::default();
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        fill(&mut group, &mut rx);
        if gather.wait(&group) {
            linger(&mut group, &mut rx);
        }
        gather.committing(&group);
        spent.dispose(commit_group(db, scope, group));
    }
}

/// Waits up to [`Gather::WAIT`], in short sleeps, for the group to reach [`Gather::ENOUGH`].
fn linger(group: &mut Vec<Job>, rx: &mut mpsc::UnboundedReceiver<Job>) {
    const STEP: std::time::Duration = std::time::Duration::from_micros(100);
    let until = std::time::Instant::now() + Gather::WAIT;
    while group.len() < Gather::ENOUGH {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(STEP));
        fill(group, rx);
    }
}

/// Where a committed group's batches are freed: on the runtime that submitted them, not on
/// the writer. The writer is the pipeline's narrowest stage under load (measured: inside a
/// group ~97 % of the time while executions wait on it), and freeing thousands of small
/// values allocated on other threads cost it ~3 µs per node, plus a wait on the allocator's
/// lock for the arena they came from (most of the writer's context switches).
struct Spent(Option<tokio::runtime::Handle>);

impl Spent {
    fn dispose(&self, batches: Vec<Batch>) {
        match &self.0 {
            Some(runtime) if !batches.is_empty() => drop(runtime.spawn(async move { drop(batches) })),
            _ => drop(batches),
        }
    }
}

/// One transaction for the whole group; every job is answered. Returns the batches of a group
/// that committed straight, for the caller to free.
///
/// The batches first run straight in the transaction, merged into one batch ([`merge`]).
/// Savepoints cost a copy of every page a batch touches first (SQLite's statement journal),
/// so they are only paid for when needed:
/// if a batch fails (or one must be undone, the fault injection), the transaction is rolled
/// back and the group runs again with a savepoint per batch, which undoes the failing one
/// alone.
fn commit_group(db: &rusqlite::Connection, scope: &str, group: Vec<Job>) -> Vec<Batch> {
    let group: Vec<Job> = group.into_iter().filter_map(refuse_poisoned).collect();
    if group.is_empty() {
        return Vec::new();
    }
    if let Err(e) = run(db, "BEGIN IMMEDIATE") {
        fail_all(group, &e.to_string());
        return Vec::new();
    }
    let straight = !group.iter().any(|job| job.roll_back) && run_straight(db, &group).is_ok();
    let (spent, kept): (Vec<Batch>, Vec<Kept>) = if straight {
        group.into_iter().map(|job| (job.batch, (job.reply, job.poisoned, job.exit))).unzip()
    } else {
        if !db.is_autocommit() {
            let _ = run(db, "ROLLBACK");
        }
        if let Err(e) = run(db, "BEGIN IMMEDIATE") {
            fail_all(group, &e.to_string());
            return Vec::new();
        }
        match each_in_savepoint(db, group) {
            // Each batch was dropped once its savepoint ran: nothing is left to free.
            Some(kept) => (Vec::new(), kept),
            None => return Vec::new(),
        }
    };
    for _ in kept.iter().filter(|(_, _, exit)| *exit) {
        // Crash tests abort here: every statement ran, the transaction is still open.
        failpoint::hit("before-commit");
    }
    // Tests hold the transaction open here to read around it (keyed by the database path).
    failpoint::pause_blocking("before-group-commit", scope);
    if let Err(e) = run(db, "COMMIT") {
        // A failed COMMIT may leave the transaction open (a deferred constraint, a busy
        // reader); it must not stay open under the next group.
        if !db.is_autocommit() {
            let _ = run(db, "ROLLBACK");
        }
        fail_kept(kept, &e.to_string());
        return spent;
    }
    committed(kept);
    spent
}

/// Runs the group's batches in the open transaction, merged into one where they can be
/// ([`merge`]); the first failure stops them.
fn run_straight(db: &rusqlite::Connection, group: &[Job]) -> Result<(), DbError> {
    let units: Vec<&Batch> = group.iter().map(|job| &job.batch).collect();
    match merge(&units) {
        Some(merged) => merged.execute_direct(db),
        None => units.iter().try_for_each(|batch| batch.execute_direct(db)),
    }
}

/// Runs each batch of `group` in a savepoint of the open transaction, in order: a failing
/// batch is undone alone and poisons its execution's later ones. Returns the jobs kept, or
/// `None` when the transaction itself was lost (every job has then been answered).
fn each_in_savepoint(db: &rusqlite::Connection, group: Vec<Job>) -> Option<Vec<Kept>> {
    let mut kept: Vec<Kept> = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    while let Some(job) = jobs.next() {
        let Some(job) = refuse_poisoned(job) else { continue };
        match in_savepoint(db, &job.batch, !job.roll_back) {
            Ok(()) => {
                if let Ran::Kept(k) = settle(job, Ok(())) {
                    kept.push(k);
                }
            }
            Err(SavepointError::Batch(e)) => {
                settle(job, Err(e));
            }
            Err(SavepointError::TransactionLost(e)) => {
                // Nothing of the group will commit, and later statements must not run outside
                // a transaction: every job fails.
                let message = e.to_string();
                let _ = run(db, "ROLLBACK");
                job.poisoned.store(true, Ordering::Release);
                let _ = job.reply.send(Err(e.into()));
                fail_kept(kept, &message);
                fail_all(jobs.collect(), &message);
                return None;
            }
        }
    }
    Some(kept)
}

/// Why [`in_savepoint`] failed.
enum SavepointError {
    /// A statement of the batch failed; the batch was undone, the transaction goes on.
    Batch(DbError),
    /// The transaction itself is gone (SQLite rolls it back by itself on a full disk or an I/O
    /// error): nothing of it will commit.
    TransactionLost(DbError),
}

/// Runs `batch` as a savepoint of the open transaction: all of it stays, or — when a statement
/// fails, or `keep` is false — none of it does, and the transaction carries on for the other
/// batches of the group.
fn in_savepoint(db: &rusqlite::Connection, batch: &Batch, keep: bool) -> Result<(), SavepointError> {
    run(db, "SAVEPOINT boundary").map_err(SavepointError::TransactionLost)?;
    let result = batch.execute_direct(db);
    if result.is_ok() && keep {
        return run(db, "RELEASE boundary").map_err(SavepointError::TransactionLost);
    }
    if db.is_autocommit() {
        let lost = result.err().unwrap_or_else(|| DbError::Corrupt {
            what: "transaction",
            detail: "ended inside a boundary's batch".into(),
        });
        return Err(SavepointError::TransactionLost(lost));
    }
    run(db, "ROLLBACK TO boundary")
        .and_then(|()| run(db, "RELEASE boundary"))
        .map_err(SavepointError::TransactionLost)?;
    result.map_err(SavepointError::Batch)
}

/// One parameterless statement, prepared once per connection.
fn run(db: &rusqlite::Connection, sql: &str) -> Result<(), DbError> {
    db.prepare_cached(sql)?.raw_execute()?;
    Ok(())
}

#[cfg(test)]
mod tests;
