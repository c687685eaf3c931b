//! One-call transactions: all statements or none.

use serde_json::json;
use wtb::db::sql::{self, Batch, Conn};
use wtb::db::sqlite;
use wtb::db::sqlite::SqlitePool;
use wtb::db::{self, DbError};
use wtb::model::*;

fn blob(content: &[u8]) -> BlobRecord {
    BlobRecord {
        tenant: TenantId::DEFAULT,
        digest: Digest::of(content),
        size: content.len() as u64,
        inline: Some(content.to_vec()),
        created_at: Timestamp::from_micros(1),
    }
}

/// Runs `batch` in one transaction: committed when every statement ran and `commit` is set,
/// rolled back otherwise (as the writer undoes a failing unit).
async fn in_transaction(pool: &SqlitePool, batch: Batch, commit: bool) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    let ran = batch.execute(&mut Conn::Sqlite(&mut tx)).await;
    match ran.is_ok() && commit {
        true => tx.commit().await?,
        false => tx.rollback().await?,
    }
    ran
}

#[tokio::test]
async fn a_failing_statement_undoes_the_whole_batch_and_the_connection_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let pool = sqlite::open(&dir.path().join("wtb.db"), db::Durability::Full).await.unwrap();
    let mut pooled = sql::Pool::Sqlite(pool.clone()).acquire().await.unwrap();
    let conn = &mut pooled.conn();
    let (a, b) = (blob(b"a"), blob(b"b"));
    let orphan = Checkpoint {
        state_link: Default::default(),
        id: CheckpointId::from_uuid(uuid::Uuid::from_u128(7)),
        execution: ExecutionId::from_uuid(uuid::Uuid::from_u128(8)), // no such execution: FK violation
        seq: 1,
        node: "n".into(),
        kind: CheckpointKind::Entry,
        attempt: 1,
        state: json!({}).into(),
        file_commit: FileCommitId::from_uuid(uuid::Uuid::from_u128(9)),
        lane: 0,
        forks: Vec::new(),
        parents: Vec::new(),
        created_at: Timestamp::from_micros(1),
    };
    let mut batch = Batch::new();
    sql::blob::insert_into(&mut batch, &a);
    sql::checkpoint::insert_into(&mut batch, std::slice::from_ref(&orphan));
    sql::blob::insert_into(&mut batch, &b);
    let err = in_transaction(&pool, batch, true).await.unwrap_err();
    assert!(matches!(err, DbError::Sqlx(_)), "{err}");
    assert!(
        sql::blob::get_one(conn, TenantId::DEFAULT, &a.digest).await.unwrap().is_none(),
        "first statement undone"
    );

    let mut batch = Batch::new();
    sql::blob::insert_into(&mut batch, &a);
    in_transaction(&pool, batch, false).await.unwrap();
    assert!(
        sql::blob::get_one(conn, TenantId::DEFAULT, &a.digest).await.unwrap().is_none(),
        "rolled back on request"
    );

    let mut batch = Batch::new();
    sql::blob::insert_into(&mut batch, &a);
    sql::blob::insert_into(&mut batch, &b);
    in_transaction(&pool, batch, true).await.unwrap();
    assert!(sql::blob::get_one(conn, TenantId::DEFAULT, &b.digest).await.unwrap().is_some());
}

#[tokio::test]
async fn a_batch_past_sqlite_s_parameter_limit_commits_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let pool = sqlite::open(&dir.path().join("wtb.db"), db::Durability::Normal).await.unwrap();
    let mut pooled = sql::Pool::Sqlite(pool.clone()).acquire().await.unwrap();
    let conn = &mut pooled.conn();
    // 20,000 rows of 5 parameters: 100,000 parameters, three times SQLite's per-call limit.
    let blobs: Vec<BlobRecord> = (0..20_000u32).map(|i| blob(&i.to_le_bytes())).collect();
    let mut batch = Batch::new();
    for b in &blobs {
        sql::blob::insert_into(&mut batch, b);
    }
    // A failure in the last chunk undoes the earlier chunks too.
    let orphan = CheckpointId::from_uuid(uuid::Uuid::from_u128(1));
    batch.statement("INSERT INTO checkpoints (id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at) VALUES (?, ?, 1, 'n', 'entry', 1, '{}', ?, 0)")
        .bind(orphan.uuid()).bind(uuid::Uuid::from_u128(2)).bind(uuid::Uuid::from_u128(3));
    in_transaction(&pool, batch, true).await.unwrap_err();
    assert!(
        sql::blob::get_one(conn, TenantId::DEFAULT, &blobs[0].digest).await.unwrap().is_none(),
        "first chunk undone"
    );

    let mut batch = Batch::new();
    for b in &blobs {
        sql::blob::insert_into(&mut batch, b);
    }
    in_transaction(&pool, batch, true).await.unwrap();
    let n: i64 = sql::query("SELECT COUNT(*) FROM blobs").scalar(conn).await.unwrap();
    assert_eq!(n, 20_000);
}

#[tokio::test]
async fn the_commit_writer_s_direct_path_stores_what_sqlx_reads_back_and_refuses_a_short_bind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    let pool = sqlite::open(&path, db::Durability::Full).await.unwrap();
    let direct = sqlite::open_direct(&path, db::Durability::Full).unwrap();
    let inline = blob(b"inline \x00 bytes");
    let external = BlobRecord { inline: None, ..blob(b"in the CAS") };
    let mut batch = Batch::new();
    sql::blob::insert_into(&mut batch, &inline);
    sql::blob::insert_into(&mut batch, &external);
    batch.execute_direct(&direct).unwrap();
    for b in [&inline, &external] {
        let mut pooled = sql::Pool::Sqlite(pool.clone()).acquire().await.unwrap();
        let stored = sql::blob::get_one(&mut pooled.conn(), TenantId::DEFAULT, &b.digest)
            .await
            .unwrap()
            .expect("row written on the direct connection");
        assert_eq!(&stored, b, "every column (uuid, text, integer, blob, NULL) reads back as written");
    }

    // One `?` left unbound would reuse a cached statement's stale value: refused before running.
    let mut batch = Batch::new();
    batch
        .statement("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, 0)")
        .bind(uuid::Uuid::from_u128(5));
    let err = batch.execute_direct(&direct).unwrap_err();
    assert!(matches!(err, DbError::Corrupt { what: "batch statement", .. }), "{err}");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 1, "only the default tenant");
}

#[tokio::test]
async fn an_appended_batch_runs_after_the_first_with_its_own_binds_and_carries_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pool = sqlite::open(&dir.path().join("wtb.db"), db::Durability::Normal).await.unwrap();
    let mut pooled = sql::Pool::Sqlite(pool.clone()).acquire().await.unwrap();
    let conn = &mut pooled.conn();
    // A fork's rows: the parent row must come first, but is known last.
    let (first, second, third) = (blob(b"one"), blob(b"two"), blob(b"three"));
    let mut head = Batch::new();
    sql::blob::insert_into(&mut head, &first);
    let mut tail = Batch::new();
    sql::blob::insert_into(&mut tail, &second);
    sql::blob::insert_into(&mut tail, &third);
    head.append(tail);
    in_transaction(&pool, head, true).await.unwrap();
    for b in [&first, &second, &third] {
        assert_eq!(sql::blob::get_one(conn, TenantId::DEFAULT, &b.digest).await.unwrap().as_ref(), Some(b));
    }

    // A bind error in the appended part refuses the whole batch: nothing of the head runs.
    let fresh = blob(b"four");
    let mut head = Batch::new();
    sql::blob::insert_into(&mut head, &fresh);
    let mut tail = Batch::new();
    tail.bind(1_i64); // a parameter before any statement
    head.append(tail);
    in_transaction(&pool, head, true).await.unwrap_err();
    assert!(sql::blob::get_one(conn, TenantId::DEFAULT, &fresh.digest).await.unwrap().is_none());
}
