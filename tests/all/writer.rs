//! The group-commit writer's isolation: while it holds a group's transaction open (stopped at
//! a pause point between the last statement and `COMMIT`), readers through the pool see the
//! database as it was; once it commits, they see all of the group.

use tokio::sync::oneshot;
use wtb::db::Durability;
use wtb::db::sql::{self, Batch};
use wtb::db::sqlite;
use wtb::db::sqlite::writer::{GroupCommitter, Job};
use wtb::model::{BlobRecord, Digest, TenantId, Timestamp};

fn blob(content: &[u8]) -> BlobRecord {
    BlobRecord {
        tenant: TenantId::DEFAULT,
        digest: Digest::of(content),
        size: content.len() as u64,
        inline: Some(content.to_vec()),
        created_at: Timestamp::from_micros(1),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uncommitted_rows_of_the_writer_are_invisible_to_concurrent_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    let pool = sqlite::open(&path, Durability::Full).await.unwrap();
    let group = GroupCommitter::start(&path, Durability::Full).unwrap();
    let mut pooled = sql::Pool::Sqlite(pool).acquire().await.unwrap();
    let conn = &mut pooled.conn();
    let held = wtb::failpoint::arm_pause("before-group-commit", &path.to_string_lossy());
    let (first, second) = (blob(b"first"), blob(b"second"));
    let mut batch = Batch::new();
    sql::blob::insert_into(&mut batch, &first);
    sql::blob::insert_into(&mut batch, &second);
    let (reply, answer) = oneshot::channel();
    group.submit(Job { batch, roll_back: false, exit: true, poisoned: Default::default(), reply });
    held.reached().await;

    // Both rows are written inside the open transaction; a reader sees neither.
    for b in [&first, &second] {
        assert_eq!(sql::blob::get_one(conn, TenantId::DEFAULT, &b.digest).await.unwrap(), None);
    }
    let totals = sql::blob::totals(conn, TenantId::DEFAULT).await.unwrap();
    assert_eq!((totals.count, totals.bytes), (0, 0), "no partial group in aggregates either");

    held.release();
    answer.await.unwrap().unwrap();
    for b in [&first, &second] {
        assert_eq!(sql::blob::get_one(conn, TenantId::DEFAULT, &b.digest).await.unwrap().as_ref(), Some(b));
    }
}

/// A unit whose text fails where PostgreSQL's writer prepares statements (some of them ran,
/// some did not) costs only itself: the units after it, with the same statements, commit.
/// Many chains, so every writer meets failures.
#[tokio::test(flavor = "multi_thread")]
async fn writers_run_the_same_statements_again_after_units_that_failed_mid_text() {
    use std::sync::Arc;
    use wtb::db::{Submission, UnitOfWork, Write, WriteError};
    use wtb::model::{Checkpoint, CheckpointId, ExecutionId};
    let (_dir, db) = super::seam::open().await;
    let (s, unit, _) = super::seam::start_unit();
    db.write(unit).await.unwrap();
    let own = |b: &[u8]| BlobRecord { tenant: s.tenant, ..blob(b) };
    let submit = |work: UnitOfWork| {
        let (reply, answer) = oneshot::channel();
        db.submit(Submission { work, roll_back: false, exit: true, poisoned: Arc::default(), reply });
        answer
    };
    for round in 0..16u8 {
        // The checkpoint's statement breaks a foreign key: the blob's, prepared after it in
        // the same text, never runs.
        let orphan = Checkpoint {
            id: CheckpointId::from_uuid(super::seam::id()),
            execution: ExecutionId::from_uuid(super::seam::id()),
            ..s.entry.clone()
        };
        let mut failing = UnitOfWork::new();
        failing.push(Write::Checkpoint(orphan)).push(Write::Blob(own(&[b'f', round])));
        assert!(matches!(submit(failing).await.unwrap(), Err(WriteError::Db(_))), "round {round}");
        // The same shapes on another chain commit.
        let cp = Checkpoint {
            id: CheckpointId::from_uuid(super::seam::id()),
            seq: 10 + u32::from(round),
            ..s.entry.clone()
        };
        let mut fine = UnitOfWork::new();
        fine.push(Write::Blob(own(&[b'k', round]))).push(Write::Checkpoint(cp));
        submit(fine).await.unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}
