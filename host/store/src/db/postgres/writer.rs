//! Group commit on PostgreSQL: one task per process commits the units queued meanwhile in one
//! transaction on its own connection, so they share one WAL flush, with the semantics of
//! SQLite's writer ([`crate::db::sqlite::writer`]): in order per chain, a failing unit undone
//! alone (the group runs again with a savepoint per unit), a poisoned chain refused.
//!
//! A lost connection fails the group it was running (no one was told it committed) and the
//! next group reconnects.

use crate::db::DbError;
use crate::db::sql::Conn;
use crate::db::sql::group::{Job, Kept, Ran, committed, fail_all, fail_kept, fill, refuse_poisoned, settle};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use std::sync::{PoisonError, RwLock};
use tokio::sync::{Mutex, mpsc};
use wtb_failpoint as failpoint;

use crate::db::port::WriteError;

/// The handle units are submitted to.
pub struct PgCommitter {
    /// Gone once shut: later jobs are answered `Stopped`.
    jobs: RwLock<Option<mpsc::UnboundedSender<Job>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl PgCommitter {
    /// Starts the writer task; it connects with `options` when its first group arrives.
    /// `url` (redacted) keys its pause point and names it in logs.
    pub fn start(options: PgConnectOptions, url: &str) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(writer(options, super::redact(url), rx));
        Self { jobs: RwLock::new(Some(jobs)), task: Mutex::new(Some(task)) }
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

    /// Stops taking jobs and waits for the queued groups to commit and the connection to close.
    pub async fn shut(&self) {
        self.jobs.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

/// Commits groups until every sender is gone.
async fn writer(options: PgConnectOptions, scope: String, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut conn: Option<PgConnection> = None;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        fill(&mut group, &mut rx);
        let group: Vec<Job> = group.into_iter().filter_map(refuse_poisoned).collect();
        if group.is_empty() {
            continue;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match options.connect().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    tracing::warn!("commit writer: connecting to {scope}: {e}");
                    fail_all(group, &format!("connecting to the database: {e}"));
                    continue;
                }
            },
        };
        if let Err(e) = commit_group(&mut Conn::Postgres(c), &scope, group).await {
            tracing::warn!("commit writer: the connection to {scope} failed, reconnecting: {e}");
            conn = None;
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// One transaction for the whole group; every job is answered. `Err` means the connection
/// itself failed (its jobs were answered; the caller reconnects).
async fn commit_group(db: &mut Conn<'_>, scope: &str, group: Vec<Job>) -> Result<(), DbError> {
    if let Err(e) = begin(db).await {
        fail_all(group, &e.to_string());
        return Err(e);
    }
    let mut straight = !group.iter().any(|job| job.roll_back);
    if straight {
        for job in &group {
            if job.batch.execute(db).await.is_err() {
                straight = false;
                break;
            }
        }
    }
    let kept: Vec<Kept> = if straight {
        group.into_iter().map(|job| (job.reply, job.poisoned, job.exit)).collect()
    } else {
        let _ = run(db, "ROLLBACK").await;
        if let Err(e) = begin(db).await {
            fail_all(group, &e.to_string());
            return Err(e);
        }
        each_in_savepoint(db, group).await?
    };
    for _ in kept.iter().filter(|(_, _, exit)| *exit) {
        // Crash tests abort here: every statement ran, the transaction is still open.
        failpoint::hit("before-commit");
    }
    failpoint::pause("before-group-commit", scope).await;
    if let Err(e) = run(db, "COMMIT").await {
        let _ = run(db, "ROLLBACK").await;
        fail_kept(kept, &e.to_string());
        return Err(e);
    }
    committed(kept);
    Ok(())
}

/// Runs each job of `group` in a savepoint of the open transaction, in order: a failing one is
/// undone alone and poisons its chain's later ones. `Err` when the transaction itself was lost
/// (every job has then been answered).
async fn each_in_savepoint(db: &mut Conn<'_>, group: Vec<Job>) -> Result<Vec<Kept>, DbError> {
    let mut kept = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    while let Some(job) = jobs.next() {
        let Some(job) = refuse_poisoned(job) else { continue };
        let result = in_savepoint(db, &job).await;
        match result {
            Ok(ran) => {
                if let Ran::Kept(k) = settle(job, ran) {
                    kept.push(k);
                }
            }
            Err(lost) => {
                let message = lost.to_string();
                let _ = run(db, "ROLLBACK").await;
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
async fn in_savepoint(db: &mut Conn<'_>, job: &Job) -> Result<Result<(), DbError>, DbError> {
    run(db, "SAVEPOINT unit").await?;
    let result = job.batch.execute(db).await;
    if result.is_ok() && !job.roll_back {
        run(db, "RELEASE unit").await?;
    } else {
        run(db, "ROLLBACK TO unit").await?;
        run(db, "RELEASE unit").await?;
    }
    Ok(result)
}

/// Opens the group's transaction, holding the sweep lock shared: a retention collection
/// (which holds it exclusively) never runs between a group's first statement and its commit.
async fn begin(db: &mut Conn<'_>) -> Result<(), DbError> {
    run(db, "BEGIN").await?;
    crate::db::sql::query("SELECT pg_advisory_xact_lock_shared(?)::text")
        .bind(crate::db::sql::retention::SWEEP_LOCK)
        .execute(db)
        .await
        .map(drop)
}

/// One parameterless statement.
async fn run(db: &mut Conn<'_>, sql: &'static str) -> Result<(), DbError> {
    crate::db::sql::query(sql).execute(db).await.map(drop)
}
