//! Group commit on PostgreSQL: [`WRITERS`] tasks per process, each on its own connection,
//! commit the units queued meanwhile in one transaction, so they share one WAL flush, with the
//! semantics of SQLite's writer ([`crate::db::sqlite::writer`]): in order per chain (a chain's
//! units always go to the same writer), a failing unit undone alone (the group runs again with
//! a savepoint per unit), a poisoned chain refused.

//!
//! A lost connection fails the group it was running (no one was told it committed) and the
//! next group reconnects.

use crate::db::DbError;
use crate::db::sql::Batch;
use crate::db::sql::group::{Job, Kept, Ran, committed, fail_all, fail_kept, fill, refuse_poisoned, settle};
use crate::db::sql::merge::merge;
use crate::db::sql::prepared::Prepared;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};
use wtb_failpoint as failpoint;

use crate::db::port::WriteError;

/// Writer connections per process. More writers overlap one group's statements with
/// another's commit, but split the queue into smaller groups with more WAL flushes: on a
/// 2-core machine with the server beside the worker, one worker measured ~1,500 nodes/s with
/// one writer, ~1,750 with two, ~1,600 with three or four.
pub const WRITERS: usize = 2;

/// The writer of the chain whose flag lives at `address`. Allocations are 16-byte aligned
/// and close together, so the address is mixed first: its low bits alone sent every chain to
/// half of the writers.
fn writer_of(address: usize, writers: usize) -> usize {
    let mixed = (address as u64 >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    mixed as usize % writers
}

/// The handle units are submitted to.
pub struct PgCommitter {
    /// One queue per writer; gone once shut: later jobs are answered `Stopped`.
    jobs: RwLock<Option<Vec<mpsc::UnboundedSender<Job>>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl PgCommitter {
    /// Starts the writer task; it connects with `options` when its first group arrives.
    /// `url` (redacted) keys its pause point and names it in logs.
    pub fn start(options: PgConnectOptions, url: &str) -> Self {
        let (mut jobs, mut tasks) = (Vec::new(), Vec::new());
        for _ in 0..WRITERS {
            let (tx, rx) = mpsc::unbounded_channel();
            jobs.push(tx);
            tasks.push(tokio::spawn(writer(options.clone(), super::redact(url), rx)));
        }
        Self { jobs: RwLock::new(Some(jobs)), tasks: Mutex::new(tasks) }
    }

    /// Queues a job; its reply says when (and whether) it committed.
    pub fn submit(&self, job: Job) {
        let jobs = self.jobs.read().unwrap_or_else(PoisonError::into_inner);
        let refused = match jobs.as_ref() {
            Some(jobs) => {
                // The chain's flag is its identity: every unit of a chain goes to one writer.
                let writer = writer_of(std::sync::Arc::as_ptr(&job.poisoned) as usize, jobs.len());
                jobs[writer].send(job).err().map(|mpsc::error::SendError(job)| job)
            }
            None => Some(job),
        };
        if let Some(job) = refused {
            let _ = job.reply.send(Err(WriteError::Stopped));
        }
    }

    /// Stops taking jobs and waits for the queued groups to commit and the connection to close.
    pub async fn shut(&self) {
        self.jobs.write().unwrap_or_else(PoisonError::into_inner).take();
        for task in std::mem::take(&mut *self.tasks.lock().await) {
            let _ = task.await;
        }
    }
}

/// How long a group waits, reconnecting with backoff, for a server that went away before the
/// group reached its commit; then its units fail.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Commits groups until every sender is gone.
///
/// A server that goes away (restarted, a network cut) before a group's `COMMIT` loses nothing:
/// the transaction died with the connection, no unit was answered, so the writer reconnects
/// with backoff and runs the same group again. Once `COMMIT` was sent, its outcome is unknown
/// and the units fail (`NotCommitted`); their executions resume from their last checkpoint.
async fn writer(options: PgConnectOptions, scope: String, mut rx: mpsc::UnboundedReceiver<Job>) {
    // The connection, and the statements prepared on it.
    let mut conn: Option<(PgConnection, Prepared)> = None;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        fill(&mut group, &mut rx);
        let mut group: Vec<Job> = group.into_iter().filter_map(refuse_poisoned).collect();
        let (started, mut wait) = (Instant::now(), Duration::from_millis(50));
        while !group.is_empty() {
            let (c, prepared) = match conn.as_mut() {
                Some((c, prepared)) => (c, prepared),
                None => match options.connect().await {
                    Ok(c) => {
                        let (c, prepared) = conn.insert((c, Prepared::default()));
                        (c, prepared)
                    }
                    Err(e) if started.elapsed() < RECONNECT_FOR => {
                        tracing::warn!("commit writer: connecting to {scope}: {e}; retrying in {wait:?}");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(2));
                        continue;
                    }
                    Err(e) => {
                        fail_all(std::mem::take(&mut group), &format!("connecting to the database: {e}"));
                        continue;
                    }
                },
            };
            match commit_group(c, prepared, &scope, std::mem::take(&mut group)).await {
                Ok(()) => {}
                Err(Failed::Retry(back, e)) => {
                    tracing::warn!(
                        "commit writer: the connection to {scope} failed before the commit, reconnecting: {e}"
                    );
                    conn = None;
                    group = back;
                }
                Err(Failed::Answered(e)) => {
                    tracing::warn!("commit writer: the connection to {scope} failed, reconnecting: {e}");
                    conn = None;
                }
            }
        }
    }
    if let Some((c, _)) = conn {
        let _ = c.close().await;
    }
}

/// Why a group did not commit, when the connection is to blame.
enum Failed {
    /// Before anything was answered or committed: the group, to run again on a new connection.
    Retry(Vec<Job>, DbError),
    /// Every unit was answered.
    Answered(DbError),
}

/// The statement opening a group's transaction: it holds the sweep lock shared, so a retention
/// collection (which holds it exclusively) never runs between a group's first statement and
/// its commit.
fn begin_text() -> String {
    format!("BEGIN;\nSELECT pg_advisory_xact_lock_shared({})::text;\n", crate::db::sql::retention::SWEEP_LOCK)
}

/// One transaction for the whole group; every job is answered. `Err` means the connection
/// itself failed (its jobs were answered; the caller reconnects).
///
/// The group goes to the server as text in one round trip (every parameter inlined as a
/// literal, each statement run by name once the connection prepared it:
/// [`crate::db::sql::Batch::postgres_text_prepared`]): a node's exit is a dozen statements,
/// and one round trip each made the writers wait on the network, not on the server. The
/// group's units are merged into one batch where they can be ([`merge`]).
async fn commit_group(
    c: &mut PgConnection,
    prepared: &mut Prepared,
    scope: &str,
    group: Vec<Job>,
) -> Result<(), Failed> {
    let mut text = begin_text();
    let mut straight = !group.iter().any(|job| job.roll_back);
    let units: Vec<&Batch> = group.iter().map(|job| &job.batch).collect();
    let texts = match straight.then(|| merge(&units)).flatten() {
        Some(merged) => vec![merged.postgres_text_prepared(prepared)],
        None if straight => units.iter().map(|b| b.postgres_text_prepared(prepared)).collect(),
        None => Vec::new(),
    };
    for unit in texts {
        match unit {
            Ok(unit) if straight => text.push_str(&unit),
            _ => {
                straight = false;
                break;
            }
        }
    }
    let kept: Vec<Kept> = match straight && run(c, &text).await.is_ok() {
        true => group.into_iter().map(|job| (job.reply, job.poisoned, job.exit)).collect(),
        false => {
            // A connection that cannot even roll back is gone: nothing was answered yet. The
            // text may have prepared some of its statements, or not: all are dropped.
            let undo = format!("ROLLBACK;\n{}", prepared.forget());
            if let Err(e) = run(c, &undo).await.and(run(c, &begin_text()).await) {
                return Err(Failed::Retry(group, e));
            }
            each_in_savepoint(c, group).await.map_err(Failed::Answered)?
        }
    };
    for _ in kept.iter().filter(|(_, _, exit)| *exit) {
        // Crash tests abort here: every statement ran, the transaction is still open.
        failpoint::hit("before-commit");
    }
    failpoint::pause("before-group-commit", scope).await;
    if let Err(e) = run(c, "COMMIT").await {
        let _ = run(c, "ROLLBACK").await;
        fail_kept(kept, &e.to_string());
        return Err(Failed::Answered(e));
    }
    committed(kept);
    Ok(())
}

/// Runs each job of `group` in a savepoint of the open transaction, in order: a failing one is
/// undone alone and poisons its chain's later ones. `Err` when the transaction itself was lost
/// (every job has then been answered).
async fn each_in_savepoint(c: &mut PgConnection, group: Vec<Job>) -> Result<Vec<Kept>, DbError> {
    let mut kept = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    while let Some(job) = jobs.next() {
        let Some(job) = refuse_poisoned(job) else { continue };
        match in_savepoint(c, &job).await {
            Ok(ran) => {
                if let Ran::Kept(k) = settle(job, ran) {
                    kept.push(k);
                }
            }
            Err(lost) => {
                let message = lost.to_string();
                let _ = run(c, "ROLLBACK").await;
                fail_all(vec![job], &message);
                fail_kept(kept, &message);
                fail_all(jobs.collect(), &message);
                return Err(lost);
            }
        }
    }
    Ok(kept)
}

/// Runs `job`'s batch in a savepoint: kept when it succeeds (unless it asked to be undone),
/// undone otherwise. The outer `Err` is a failure of the savepoint itself: the transaction is
/// lost.
async fn in_savepoint(c: &mut PgConnection, job: &Job) -> Result<Result<(), DbError>, DbError> {
    let result = match job.batch.postgres_text() {
        Ok(unit) => run(c, &format!("SAVEPOINT unit;\n{unit}")).await,
        Err(e) => {
            run(c, "SAVEPOINT unit").await?;
            Err(e)
        }
    };
    if result.is_ok() && !job.roll_back {
        run(c, "RELEASE unit").await?;
    } else {
        run(c, "ROLLBACK TO unit;\nRELEASE unit").await?;
    }
    Ok(result)
}

/// Statements sent as text in one round trip (the simple query protocol). Boxed with its
/// lifetimes spelled out: the writer task must be `Send`, which the compiler cannot prove
/// through sqlx's generic executor otherwise.
fn run<'a>(
    c: &'a mut PgConnection,
    sql: &'a str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), DbError>> + Send + 'a>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, sqlx::raw_sql(sql)).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_spread_over_every_writer() {
        // Flags allocated one after another, as a worker's drives allocate them.
        let flags: Vec<_> =
            (0..400).map(|_| std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false))).collect();
        let mut per_writer = [0usize; WRITERS];
        for f in &flags {
            per_writer[writer_of(std::sync::Arc::as_ptr(f) as usize, WRITERS)] += 1;
        }
        assert!(per_writer.iter().all(|&n| n >= 50), "{per_writer:?}");
    }
}
