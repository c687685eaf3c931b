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
