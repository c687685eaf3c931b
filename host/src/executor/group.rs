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

use super::ExecError;
use crate::db::batch::Batch;
use crate::db::{self, DbError, Durability};
use crate::failpoint;
use std::path::Path;
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
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GroupCommitter {
    /// Starts the writer on a thread of its own with its own connection to the (migrated)
    /// database at `path`. SQLite runs on that thread from `BEGIN` to `COMMIT`: through the
    /// async driver, every statement's result was handed to a tokio worker, and with guests
    /// keeping both cores busy each hand-off waited for one (~180 µs per boundary).
    pub(crate) fn start(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Self::start_after(path, durability, None)
    }

    /// [`Self::start`], the writer taking its first group only once `gate` opens (so a test can
    /// queue several jobs that will form one group).
    fn start_after(path: &Path, durability: Durability, gate: Option<std::sync::mpsc::Receiver<()>>) -> Result<Self, DbError> {
        let db = db::open_direct(path, durability)?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let run = move || {
            if let Some(gate) = gate {
                let _ = gate.recv();
            }
            writer(&db, rx);
        };
        let thread = std::thread::Builder::new().name("wtb-commit".into()).spawn(run).map_err(DbError::Writer)?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Queues a job; its reply says when (and whether) it committed.
    pub(crate) fn submit(&self, job: Job) {
        let Some(jobs) = &self.jobs else { return };
        if let Err(mpsc::error::SendError(job)) = jobs.send(job) {
            let _ = job.reply.send(Err(ExecError::Task("the commit writer has stopped".into())));
        }
    }
}

impl Drop for GroupCommitter {
    /// Lets the writer finish the queued groups, then closes its connection.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer(db: &rusqlite::Connection, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(db, group);
    }
}

/// One transaction for the whole group; every job is answered.
///
/// The batches first run straight in the transaction. Savepoints cost a copy of every page a
/// batch touches first (SQLite's statement journal), so they are only paid for when needed:
/// if a batch fails (or one must be undone, the fault injection), the transaction is rolled
/// back and the group runs again with a savepoint per batch, which undoes the failing one
/// alone.
fn commit_group(db: &rusqlite::Connection, group: Vec<Job>) {
    let group: Vec<Job> = group.into_iter().filter_map(refuse_poisoned).collect();
    if group.is_empty() {
        return;
    }
    if let Err(e) = run(db, "BEGIN IMMEDIATE") {
        return fail_all(group, &e.to_string());
    }
    let straight = !group.iter().any(|job| job.roll_back) && group.iter().all(|job| job.batch.execute_direct(db).is_ok());
    let kept = if straight {
        group.into_iter().map(|job| (job.reply, job.poisoned, job.exit)).collect()
    } else {
        if !db.is_autocommit() {
            let _ = run(db, "ROLLBACK");
        }
        if let Err(e) = run(db, "BEGIN IMMEDIATE") {
            return fail_all(group, &e.to_string());
        }
        match each_in_savepoint(db, group) {
            Some(kept) => kept,
            None => return,
        }
    };
    for _ in kept.iter().filter(|(_, _, exit)| *exit) {
        // Crash tests abort here: every statement ran, the transaction is still open.
        failpoint::hit("before-commit");
    }
    if let Err(e) = run(db, "COMMIT") {
        // A failed COMMIT may leave the transaction open (a deferred constraint, a busy
        // reader); it must not stay open under the next group.
        if !db.is_autocommit() {
            let _ = run(db, "ROLLBACK");
        }
        return fail_kept(kept, &e.to_string());
    }
    for (reply, _, exit) in kept {
        if exit {
            failpoint::hit("after-commit");
        }
        let _ = reply.send(Ok(()));
    }
}

/// Answers a job whose execution already had a batch fail; passes the others on.
fn refuse_poisoned(job: Job) -> Option<Job> {
    if !job.poisoned.load(Ordering::Acquire) {
        return Some(job);
    }
    let _ = job.reply.send(Err(ExecError::Task("an earlier transaction of this execution failed".into())));
    None
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
            Ok(()) if job.roll_back => {
                job.poisoned.store(true, Ordering::Release);
                let _ = job.reply.send(Err(ExecError::Injected(super::FailPoint::BeforeExitCommit)));
            }
            Ok(()) => kept.push((job.reply, job.poisoned, job.exit)),
            Err(SavepointError::Batch(e)) => {
                job.poisoned.store(true, Ordering::Release);
                let _ = job.reply.send(Err(e.into()));
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
fn in_savepoint(db: &rusqlite::Connection, batch: &Batch<'static>, keep: bool) -> Result<(), SavepointError> {
    run(db, "SAVEPOINT boundary").map_err(SavepointError::TransactionLost)?;
    let result = batch.execute_direct(db);
    if result.is_ok() && keep {
        return run(db, "RELEASE boundary").map_err(SavepointError::TransactionLost);
    }
    if db.is_autocommit() {
        let lost = result.err().unwrap_or_else(|| DbError::Corrupt { what: "transaction", detail: "ended inside a boundary's batch".into() });
        return Err(SavepointError::TransactionLost(lost));
    }
    run(db, "ROLLBACK TO boundary").and_then(|()| run(db, "RELEASE boundary")).map_err(SavepointError::TransactionLost)?;
    result.map_err(SavepointError::Batch)
}

/// One parameterless statement, prepared once per connection.
fn run(db: &rusqlite::Connection, sql: &str) -> Result<(), DbError> {
    db.prepare_cached(sql)?.raw_execute()?;
    Ok(())
}

/// A job whose batch ran and waits for the commit: its reply, its chain's poison flag, and
/// whether it is a node's exit.
type Kept = (oneshot::Sender<Result<(), ExecError>>, Arc<AtomicBool>, bool);

/// Tells the jobs whose batches ran that the transaction did not commit.
fn fail_kept(kept: Vec<Kept>, message: &str) {
    for (reply, poisoned, _) in kept {
        poisoned.store(true, Ordering::Release);
        let _ = reply.send(Err(ExecError::Task(format!("committing: {message}"))));
    }
}

/// Tells every job of `group` that the transaction did not commit.
fn fail_all(group: Vec<Job>, message: &str) {
    fail_kept(group.into_iter().map(|job| (job.reply, job.poisoned, job.exit)).collect(), message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(batch: &mut Batch<'static>, name: &str) {
        use crate::clock::IdGen as _;
        batch.statement("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, 0)").bind(crate::clock::UuidV7Ids.next()).bind(name.to_owned());
    }

    /// A fresh database and a committer whose writer waits for the returned sender: jobs
    /// submitted before it is sent form one group.
    async fn gated() -> (tempfile::TempDir, db::SqlitePool, GroupCommitter, std::sync::mpsc::Sender<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wtb.db");
        let pool = db::open(&path, Durability::Full).await.unwrap();
        let (open, gate) = std::sync::mpsc::channel();
        let committer = GroupCommitter::start_after(&path, Durability::Full, Some(gate)).unwrap();
        (dir, pool, committer, open)
    }

    fn job(batch: Batch<'static>, poisoned: &Arc<AtomicBool>) -> (Job, oneshot::Receiver<Result<(), ExecError>>) {
        let (reply, answer) = oneshot::channel();
        (Job { batch, roll_back: false, exit: true, poisoned: poisoned.clone(), reply }, answer)
    }

    /// Queues one job per name, each inserting a tenant of that name and, for the name `odd`,
    /// the statements `spoil` adds; each on a chain of its own. Returns the answers in order.
    fn queue(committer: &GroupCommitter, names: &[&str], odd: &str, spoil: impl Fn(&mut Batch<'static>)) -> Vec<oneshot::Receiver<Result<(), ExecError>>> {
        let mut answers = Vec::new();
        for name in names {
            let mut batch = Batch::new();
            insert(&mut batch, name);
            if *name == odd {
                spoil(&mut batch);
            }
            let (job, answer) = job(batch, &Arc::new(AtomicBool::new(false)));
            committer.submit(job);
            answers.push(answer);
        }
        answers
    }

    #[tokio::test]
    async fn one_group_commits_the_good_batches_and_refuses_after_a_failure() {
        let (_dir, pool, committer, open) = gated().await;
        let (a, b) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let mut answers = Vec::new();
        // Queued before the writer starts: one group.
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
        open.send(()).unwrap();
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
        let (_dir, pool, committer, open) = gated().await;
        let answers = queue(&committer, &["a1", "lost", "a2"], "lost", |batch| {
            // What SQLite does by itself on a full disk or an I/O error: the transaction is
            // rolled back under the savepoint, then the batch fails.
            batch.statement("ROLLBACK");
            batch.statement("INSERT INTO no_such_table VALUES (1)");
        });
        open.send(()).unwrap();
        for answer in answers {
            assert!(answer.await.unwrap().is_err());
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants WHERE name != 'default'").fetch_one(&pool).await.unwrap();
        assert_eq!(n, 0, "neither the rolled-back rows nor a later batch (autocommitted) remain");
    }

    #[tokio::test]
    async fn a_failed_commit_fails_the_whole_group_and_the_writer_goes_on() {
        let (_dir, pool, committer, open) = gated().await;
        let answers = queue(&committer, &["a1", "fk"], "fk", |batch| {
            // A deferred foreign-key violation passes every statement and RELEASE, and fails
            // the group's COMMIT, leaving the transaction open.
            batch.statement("PRAGMA defer_foreign_keys = ON");
            batch.statement("INSERT INTO components (tenant_id, digest, size, created_at) VALUES (X'00', 'x', 0, 0)");
        });
        open.send(()).unwrap();
        for answer in answers {
            assert!(answer.await.unwrap().is_err(), "no job may be told it committed");
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants WHERE name != 'default'").fetch_one(&pool).await.unwrap();
        assert_eq!(n, 0, "the group's transaction was rolled back");
        // The writer goes on: a later group commits.
        for answer in queue(&committer, &["later"], "", |_| {}) {
            answer.await.unwrap().unwrap();
        }
    }
}
