//! Group commit: one writer task per executor commits the exit transactions of many
//! boundaries — of many executions — in one SQLite transaction, so they share one `fsync`.
//!
//! Each boundary's rows run in their own savepoint, so a failing one is undone alone and the
//! others commit. Batches are taken in arrival order (FIFO), and an execution's batches arrive
//! in the order its drive issued them; a batch whose execution already had one fail is
//! refused. So, as with one transaction per boundary, the database never holds a boundary's
//! effects without those of every boundary of its execution issued before it, and a crash
//! mid-group loses the whole group, which no one was told had committed.

use super::ExecError;
use crate::db::batch::{Around, Batch, SavepointError};
use crate::db::{DbError, SqlitePool};
use crate::failpoint;
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Most batches in one group: bounds the transaction (and the wait of the first in it).
const MAX_GROUP: usize = 128;

/// One boundary's exit transaction waiting for the writer.
pub(crate) struct Job {
    pub(crate) batch: Batch<'static>,
    /// Undo it after running it (the `BeforeExitCommit` fault injection).
    pub(crate) roll_back: bool,
    /// A node's exit transaction (the commit failpoints count these), not a start.
    pub(crate) exit: bool,
    /// Set when one of the execution's batches failed: its later ones are refused.
    pub(crate) poisoned: Arc<AtomicBool>,
    /// Told once the group committed (or why not).
    pub(crate) reply: oneshot::Sender<Result<(), ExecError>>,
}

/// The handle the drives submit to.
pub(crate) struct GroupCommitter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl GroupCommitter {
    /// Starts the writer task on the current runtime; it ends when the committer is dropped.
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, rx));
        Self { jobs }
    }

    /// Queues a job; its reply says when (and whether) it committed.
    pub(crate) fn submit(&self, job: Job) {
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(job) {
            let _ = job.reply.send(Err(ExecError::Task("the commit writer has stopped".into())));
        }
    }
}

async fn writer(pool: SqlitePool, mut rx: mpsc::UnboundedReceiver<Job>) {
    // One connection while there is work: SQLite drops a connection's page cache whenever
    // another connection wrote, so rotating through the pool re-read pages at every group.
    // Given back when the queue is empty, so closing the pool never waits on the writer.
    let mut held: Option<PoolConnection<Sqlite>> = None;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let conn = match held.take() {
            Some(c) => c,
            None => match pool.acquire().await {
                Ok(c) => c,
                Err(e) => {
                    fail_all(group, &DbError::from(e).to_string());
                    continue;
                }
            },
        };
        let conn = commit_group(conn, group).await;
        if !rx.is_empty() {
            held = conn;
        }
    }
}

/// One transaction for the whole group; every job is answered. The first batch run opens the
/// transaction and the last commits it, in their own calls (a group of one is one round trip);
/// the commit stays a call of its own when a crash test stops the process before it.
async fn commit_group(mut conn: PoolConnection<Sqlite>, group: Vec<Job>) -> Option<PoolConnection<Sqlite>> {
    let fold_commit = !failpoint::is_armed("before-commit");
    let (mut begun, mut committed) = (false, false);
    let mut kept = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter().peekable();
    while let Some(job) = jobs.next() {
        if job.poisoned.load(Ordering::Acquire) {
            let _ = job.reply.send(Err(ExecError::Task("an earlier transaction of this execution failed".into())));
            continue;
        }
        let commit = fold_commit && !job.roll_back && jobs.peek().is_none();
        let around = Around { begin: !begun, commit };
        begun = true;
        match job.batch.execute_in_savepoint(&mut conn, "boundary", !job.roll_back, around).await {
            Ok(()) if job.roll_back => {
                job.poisoned.store(true, Ordering::Release);
                let _ = job.reply.send(Err(ExecError::Injected(super::FailPoint::BeforeExitCommit)));
            }
            Ok(()) => {
                committed = commit;
                kept.push((job.reply, job.poisoned, job.exit));
            }
            Err(SavepointError::Batch(e)) => {
                job.poisoned.store(true, Ordering::Release);
                let _ = job.reply.send(Err(e.into()));
            }
            Err(SavepointError::TransactionLost(e)) => {
                // Nothing of the group will commit, and later statements must not run outside
                // a transaction: every job fails. (After a failed BEGIN there is nothing to
                // roll back, and the ROLLBACK fails harmlessly.)
                let message = e.to_string();
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                job.poisoned.store(true, Ordering::Release);
                let _ = job.reply.send(Err(e.into()));
                for (reply, poisoned, _) in kept {
                    poisoned.store(true, Ordering::Release);
                    let _ = reply.send(Err(ExecError::Task(format!("committing: {message}"))));
                }
                fail_all(jobs.collect(), &message);
                return None;
            }
        }
    }
    if begun && !committed {
        for _ in kept.iter().filter(|(_, _, exit)| *exit) {
            // Crash tests abort here: every statement ran, the transaction is still open.
            failpoint::hit("before-commit");
        }
        if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            let message = DbError::from(e).to_string();
            for (reply, poisoned, _) in kept {
                poisoned.store(true, Ordering::Release);
                let _ = reply.send(Err(ExecError::Task(format!("committing: {message}"))));
            }
            return None;
        }
    }
    for (reply, _, exit) in kept {
        if exit {
            failpoint::hit("after-commit");
        }
        let _ = reply.send(Ok(()));
    }
    Some(conn)
}

fn fail_all(group: Vec<Job>, message: &str) {
    for job in group {
        job.poisoned.store(true, Ordering::Release);
        let _ = job.reply.send(Err(ExecError::Task(format!("committing: {message}"))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{self, Durability};

    fn insert(batch: &mut Batch<'static>, name: &str) {
        use crate::clock::IdGen as _;
        batch.statement("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, 0)").bind(crate::clock::UuidV7Ids.next()).bind(name.to_owned());
    }

    fn job(batch: Batch<'static>, poisoned: &Arc<AtomicBool>) -> (Job, oneshot::Receiver<Result<(), ExecError>>) {
        let (reply, answer) = oneshot::channel();
        (Job { batch, roll_back: false, exit: true, poisoned: poisoned.clone(), reply }, answer)
    }

    #[tokio::test]
    async fn one_group_commits_the_good_batches_and_refuses_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("wtb.db"), Durability::Full).await.unwrap();
        let committer = GroupCommitter::start(pool.clone());
        let (a, b) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let mut answers = Vec::new();
        // Submitted before the writer runs (current-thread runtime): one group.
        for (name, chain) in [("a1", &a), ("b1", &b), ("a2", &a), ("b2", &b)] {
            let mut batch = Batch::new();
            insert(&mut batch, name);
            if name == "b1" {
                insert(&mut batch, "a1"); // duplicate name: this batch fails, after its first row
            }
            let (job, answer) = job(batch, chain);
            committer.submit(job);
            answers.push((name, answer));
        }
        let mut results = Vec::new();
        for (name, answer) in answers {
            results.push((name, answer.await.unwrap().is_ok()));
        }
        assert_eq!(results, [("a1", true), ("b1", false), ("a2", true), ("b2", false)]);
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM tenants WHERE name != 'default' ORDER BY name").fetch_all(&pool).await.unwrap();
        assert_eq!(names, [("a1".to_owned(),), ("a2".to_owned(),)], "b1 undone whole, b2 refused");
    }

    #[tokio::test]
    async fn a_transaction_sqlite_rolled_back_fails_the_whole_group_and_runs_nothing_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("wtb.db"), Durability::Full).await.unwrap();
        let committer = GroupCommitter::start(pool.clone());
        let mut answers = Vec::new();
        for name in ["a1", "lost", "a2"] {
            let mut batch = Batch::new();
            insert(&mut batch, name);
            if name == "lost" {
                // What SQLite does by itself on a full disk or an I/O error: the transaction is
                // rolled back under the savepoint, then the batch fails.
                batch.statement("ROLLBACK");
                batch.statement("INSERT INTO no_such_table VALUES (1)");
            }
            let (job, answer) = job(batch, &Arc::new(AtomicBool::new(false)));
            committer.submit(job);
            answers.push(answer);
        }
        for answer in answers {
            assert!(answer.await.unwrap().is_err());
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants WHERE name != 'default'").fetch_one(&pool).await.unwrap();
        assert_eq!(n, 0, "neither the rolled-back rows nor a later batch (autocommitted) remain");
    }

    #[tokio::test]
    async fn a_commit_that_fails_in_the_last_batch_s_call_fails_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("wtb.db"), Durability::Full).await.unwrap();
        let committer = GroupCommitter::start(pool.clone());
        let mut answers = Vec::new();
        for name in ["a1", "fk"] {
            let mut batch = Batch::new();
            insert(&mut batch, name);
            if name == "fk" {
                // A deferred foreign-key violation passes every statement and RELEASE, and
                // fails the COMMIT that rides in this (the group's last) batch's call.
                batch.statement("PRAGMA defer_foreign_keys = ON");
                batch.statement("INSERT INTO components (tenant_id, digest, size, created_at) VALUES (X'00', 'x', 0, 0)");
            }
            let (job, answer) = job(batch, &Arc::new(AtomicBool::new(false)));
            committer.submit(job);
            answers.push(answer);
        }
        for answer in answers {
            assert!(answer.await.unwrap().is_err(), "no job may be told it committed");
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants WHERE name != 'default'").fetch_one(&pool).await.unwrap();
        assert_eq!(n, 0, "the group's transaction was rolled back");
        // The writer goes on: a later group commits.
        let mut batch = Batch::new();
        insert(&mut batch, "later");
        let (job, answer) = job(batch, &Arc::new(AtomicBool::new(false)));
        committer.submit(job);
        answer.await.unwrap().unwrap();
    }
}
