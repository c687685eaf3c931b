//! Tests of `writer`.

use super::*;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::oneshot;

fn insert(batch: &mut Batch, name: &str) {
    use wtb_core::clock::IdGen as _;
    batch
        .statement("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, 0)")
        .bind(wtb_core::clock::UuidV7Ids.next())
        .bind(name.to_owned());
}

/// A fresh database and a committer whose writer waits for the returned sender: jobs
/// submitted before it is sent form one group.
async fn gated() -> (tempfile::TempDir, sqlx::SqlitePool, GroupCommitter, std::sync::mpsc::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    let pool = crate::db::sqlite::open(&path, Durability::Full).await.unwrap();
    let (open, gate) = std::sync::mpsc::channel();
    let committer = GroupCommitter::start_after(&path, Durability::Full, Some(gate)).unwrap();
    (dir, pool, committer, open)
}

fn job(batch: Batch, poisoned: &Arc<AtomicBool>) -> (Job, oneshot::Receiver<Result<(), WriteError>>) {
    let (reply, answer) = oneshot::channel();
    (Job { batch, roll_back: false, exit: true, poisoned: poisoned.clone(), reply }, answer)
}

/// Queues one job per name, each inserting a tenant of that name and, for the name `odd`,
/// the statements `spoil` adds; each on a chain of its own. Returns the answers in order.
fn queue(
    committer: &GroupCommitter,
    names: &[&str],
    odd: &str,
    spoil: impl Fn(&mut Batch),
) -> Vec<oneshot::Receiver<Result<(), WriteError>>> {
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

/// Submits `units` (a name, a batch, its chain) to the gated writer, then opens the gate:
/// they form one group. Returns each name with whether its unit committed.
async fn run_group<'a>(
    committer: &GroupCommitter,
    open: std::sync::mpsc::Sender<()>,
    units: Vec<(&'a str, Batch, &Arc<AtomicBool>)>,
) -> Vec<(&'a str, bool)> {
    let mut answers = Vec::new();
    for (name, batch, chain) in units {
        let (job, answer) = job(batch, chain);
        committer.submit(job);
        answers.push((name, answer));
    }
    open.send(()).unwrap();
    let mut results = Vec::new();
    for (name, answer) in answers {
        results.push((name, answer.await.unwrap().is_ok()));
    }
    results
}

#[tokio::test]
async fn one_group_commits_the_good_batches_and_refuses_after_a_failure() {
    let (_dir, pool, committer, open) = gated().await;
    let (a, b) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let mut units = Vec::new();
    // Queued before the writer starts: one group.
    for (name, chain) in [("a1", &a), ("b1", &b), ("a2", &a), ("b2", &b)] {
        let mut batch = Batch::new();
        insert(&mut batch, name);
        if name == "b1" {
            insert(&mut batch, "a1"); // duplicate name: this batch fails, after its first row
        }
        units.push((name, batch, chain));
    }
    let results = run_group(&committer, open, units).await;
    assert_eq!(results, [("a1", true), ("b1", false), ("a2", true), ("b2", false)]);
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM tenants WHERE name != 'default' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
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
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants WHERE name != 'default'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "neither the rolled-back rows nor a later batch (autocommitted) remain");
}

#[tokio::test]
async fn a_failed_commit_fails_the_whole_group_and_the_writer_goes_on() {
    let (_dir, pool, committer, open) = gated().await;
    let answers = queue(&committer, &["a1", "fk"], "fk", |batch| {
        // A deferred foreign-key violation passes every statement and RELEASE, and fails
        // the group's COMMIT, leaving the transaction open.
        batch.statement("PRAGMA defer_foreign_keys = ON");
        batch.statement(
            "INSERT INTO components (tenant_id, digest, size, created_at) VALUES (X'00', 'x', 0, 0)",
        );
    });
    open.send(()).unwrap();
    for answer in answers {
        assert!(answer.await.unwrap().is_err(), "no job may be told it committed");
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants WHERE name != 'default'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "the group's transaction was rolled back");
    // The writer goes on: a later group commits.
    for answer in queue(&committer, &["later"], "", |_| {}) {
        answer.await.unwrap().unwrap();
    }
}

/// A content row of the default tenant, written as exits write theirs: with a phase, so
/// units of such rows are merged.
fn blob(batch: &mut Batch, digest: &str) {
    let tenant = uuid::Uuid::parse_str("00000000-0000-7000-8000-000000000001").unwrap();
    batch
        .rows(
            crate::db::sql::merge::Phase::Blobs,
            "INSERT INTO blobs (tenant_id, digest, size, inline_data, created_at)",
            "(?, ?, 1, NULL, 0)",
            1,
            "ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(digest.to_owned());
}

async fn digests(pool: &sqlx::SqlitePool) -> Vec<String> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT digest FROM blobs ORDER BY digest").fetch_all(pool).await.unwrap();
    rows.into_iter().map(|(d,)| d).collect()
}

#[tokio::test]
async fn a_merged_group_commits_every_unit_and_a_failing_one_is_still_undone_alone() {
    let (_dir, pool, committer, open) = gated().await;
    // Each on a chain of its own: the failing unit refuses no other.
    let names = ["a", "b", "bad", "c", "b"];
    let chains: Vec<Arc<AtomicBool>> = names.iter().map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut units = Vec::new();
    for (name, chain) in names.into_iter().zip(&chains) {
        let mut batch = Batch::new();
        blob(&mut batch, name);
        if name == "bad" {
            // Fails in a later phase than its row: the merged batch has written every
            // unit's row by then, and all of it must be undone.
            batch
                .statement_in(
                    crate::db::sql::merge::Phase::Progress,
                    "UPDATE blobs SET size = 'x' WHERE digest = ?",
                )
                .bind("bad".to_owned());
        }
        units.push((name, batch, chain));
    }
    let results = run_group(&committer, open, units).await;
    assert_eq!(results, [("a", true), ("b", true), ("bad", false), ("c", true), ("b", true)]);
    assert_eq!(digests(&pool).await, ["a", "b", "c"], "the failing unit alone undone; duplicates ignored");
}

#[tokio::test]
async fn a_group_of_phased_units_runs_merged_phase_by_phase() {
    let (_dir, pool, committer, open) = gated().await;
    let mut first = Batch::new();
    blob(&mut first, "early");
    // A later phase than the next unit's row: merged, it runs after that row is written.
    first
        .statement_in(crate::db::sql::merge::Phase::Progress, "UPDATE blobs SET size = 2 WHERE digest = ?")
        .bind("late".to_owned());
    let mut second = Batch::new();
    blob(&mut second, "late");
    let (a, b) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let results = run_group(&committer, open, vec![("first", first, &a), ("second", second, &b)]).await;
    assert_eq!(results, [("first", true), ("second", true)]);
    let sizes: Vec<(String, i64)> =
        sqlx::query_as("SELECT digest, size FROM blobs ORDER BY digest").fetch_all(&pool).await.unwrap();
    assert_eq!(
        sizes,
        [("early".to_owned(), 1), ("late".to_owned(), 2)],
        "one merged batch, not unit by unit"
    );
}

/// Started outside any runtime (no runtime to hand its spent batches to), the writer frees
/// them itself and still answers and commits.
#[test]
fn a_writer_started_outside_a_runtime_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { crate::db::sqlite::open(&path, Durability::Full).await.unwrap().close().await });
    drop(runtime);
    let committer = GroupCommitter::start(&path, Durability::Full).unwrap();
    let answers = queue(&committer, &["first", "second"], "", |_| {});
    for answer in answers {
        assert!(answer.blocking_recv().unwrap().is_ok());
    }
    drop(committer);
    let db = rusqlite::Connection::open(&path).unwrap();
    let names: Vec<String> = db
        .prepare("SELECT name FROM tenants WHERE name IN ('first', 'second') ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, ["first", "second"]);
}
