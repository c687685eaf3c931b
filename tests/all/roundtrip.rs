//! Every domain type round-trips through its table unchanged. The system WTB replaces let its
//! schema drift from its model; this is the test that would have caught it. Rows the engine
//! writes in a node's exit transaction are written both ways it can write them: through sqlx,
//! and through the group-commit writer's own connection (a different binding path).

use serde_json::json;
use uuid::Uuid;
use wtb::db;
use wtb::db::sql::{self, Batch};
use wtb::db::sqlite;
use wtb::db::sqlite::writer::{GroupCommitter, Job};
use wtb::model::*;

fn id() -> Uuid {
    use wtb::clock::IdGen as _;
    wtb::clock::UuidV7Ids.next()
}

fn t(n: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + n)
}

/// A fresh, migrated database of the suite's backend, as a pool.
async fn pool() -> (tempfile::TempDir, sql::Pool) {
    let dir = tempfile::tempdir().unwrap();
    let pool = match wtb_tests::services::backend() {
        wtb_tests::services::Backend::Sqlite => {
            sql::Pool::Sqlite(sqlite::open(&dir.path().join("wtb.db"), db::Durability::Full).await.unwrap())
        }
        wtb_tests::services::Backend::Postgres => {
            let url = wtb_tests::services::postgres().expect("a PostgreSQL server").database();
            let db = db::Postgres::open(&url, db::Durability::Full).await.unwrap();
            db.reads().pool().clone()
        }
    };
    (dir, pool)
}

/// How rows are written: through sqlx on a pooled connection, or, as the engine writes a
/// node's exit transaction, through the group-commit writer's own connection.
pub(crate) enum Writer {
    Sqlx(sql::Pool),
    Group(GroupCommitter),
}

impl Writer {
    /// Writes the statements `build` adds as one transaction, and waits for its commit.
    pub(crate) async fn write(&self, build: impl FnOnce(&mut Batch)) {
        let mut batch = Batch::new();
        build(&mut batch);
        match self {
            Writer::Sqlx(pool) => {
                let mut tx = pool.begin().await.unwrap();
                batch.execute(&mut tx.conn()).await.unwrap();
                tx.commit().await.unwrap();
            }
            Writer::Group(group) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                group.submit(Job {
                    batch,
                    roll_back: false,
                    exit: false,
                    poisoned: Default::default(),
                    reply,
                });
                answer.await.unwrap().unwrap();
            }
        }
    }
}

#[tokio::test]
async fn every_model_type_round_trips_through_sqlx() {
    let (_dir, pool) = pool().await;
    round_trip(&Writer::Sqlx(pool.clone()), &pool).await;
}

#[tokio::test]
async fn every_row_of_an_exit_transaction_round_trips_through_the_group_commit_writer() {
    let (dir, pool) = pool().await;
    if !matches!(pool, sql::Pool::Sqlite(_)) {
        // SQLite's own writer; PostgreSQL's runs the same batches through `Batch::execute`.
        return;
    }
    let group = GroupCommitter::start(&dir.path().join("wtb.db"), db::Durability::Full).unwrap();
    round_trip(&Writer::Group(group), &pool).await;
}

async fn round_trip(w: &Writer, pool: &sql::Pool) {
    let mut pooled = pool.acquire().await.unwrap();
    let conn = &mut pooled.conn();
    let quotas = wtb::model::Quotas {
        max_concurrent: Some(2),
        max_stored_bytes: None,
        max_nodes_per_hour: Some(100),
        max_running_attempts: Some(3),
    };
    let tenant =
        wtb::model::Tenant { id: TenantId::from_uuid(id()), name: "acme".into(), created_at: t(1), quotas };
    sql::tenant::insert(conn, &tenant).await.unwrap();
    assert_eq!(sql::tenant::get_one(conn, tenant.id).await.unwrap(), Some(tenant.clone()));
    let tid = tenant.id;
    let token = wtb::model::ApiToken {
        id: wtb::model::TokenId::from_uuid(id()),
        tenant: tid,
        name: "ci".into(),
        created_at: t(1),
        revoked_at: None,
    };
    sql::tenant::insert_token(conn, &token, "ab12").await.unwrap();
    assert_eq!(sql::tenant::token_by_hash(conn, "ab12").await.unwrap(), Some(token.clone()));
    assert!(sql::tenant::revoke_token(conn, tid, token.id, t(5)).await.unwrap());
    assert_eq!(
        sql::tenant::list_tokens(conn, tid).await.unwrap(),
        vec![wtb::model::ApiToken { revoked_at: Some(t(5)), ..token }]
    );

    let component =
        db::ComponentRecord { tenant: tid, digest: Digest::of(b"wasm"), size: 4, created_at: t(2) };
    sql::component::insert(conn, &component).await.unwrap();
    assert_eq!(sql::component::get_one(conn, tid, &component.digest).await.unwrap(), Some(component));

    let workflow = WorkflowRecord {
        id: WorkflowId::from_uuid(id()),
        tenant: tid,
        name: "wf".into(),
        digest: Digest::of(b"def"),
        definition: json!({ "nodes": [{ "id": "a" }], "x": 1.5 }),
        created_at: t(3),
    };
    assert_eq!(sql::workflow::insert_or_get(conn, &workflow).await.unwrap(), workflow.id);
    let again = WorkflowRecord { id: WorkflowId::from_uuid(id()), ..workflow.clone() };
    assert_eq!(
        sql::workflow::insert_or_get(conn, &again).await.unwrap(),
        workflow.id,
        "same digest, same row"
    );
    assert_eq!(sql::workflow::get_one(conn, tid, workflow.id).await.unwrap(), Some(workflow.clone()));

    let inline = BlobRecord {
        tenant: tid,
        digest: Digest::of(b"hi"),
        size: 2,
        inline: Some(b"hi".to_vec()),
        created_at: t(4),
    };
    let in_cas =
        BlobRecord { tenant: tid, digest: Digest::of(b"big"), size: 3, inline: None, created_at: t(5) };
    for b in [&inline, &in_cas] {
        w.write(|x| sql::blob::insert_into(x, b)).await;
        assert_eq!(sql::blob::get_one(conn, tid, &b.digest).await.unwrap().as_ref(), Some(b));
    }

    let root = FileCommit {
        id: FileCommitId::from_uuid(id()),
        tenant: tid,
        parent: None,
        tree: FileTree::new().into(),
        changes: vec![],
        depth: 0,
        created_at: t(6),
    };
    let file = FileEntry { kind: EntryKind::File, digest: Some(inline.digest), size: 2, mode: 0o644 };
    let dir = FileEntry { kind: EntryKind::Dir, digest: None, size: 0, mode: 0o755 };
    let link = FileEntry { kind: EntryKind::Symlink, digest: Some(in_cas.digest), size: 3, mode: 0o777 };
    let child = FileCommit {
        id: FileCommitId::from_uuid(id()),
        tenant: tid,
        parent: Some(root.id),
        tree: [
            ("d".to_owned(), dir.clone()),
            ("d/f.txt".to_owned(), file.clone()),
            ("l".to_owned(), link.clone()),
        ]
        .into_iter()
        .collect::<FileTree>()
        .into(),
        changes: vec![
            FileChange { path: "d".into(), change: ChangeKind::Added, entry: Some(dir) },
            FileChange { path: "d/f.txt".into(), change: ChangeKind::Added, entry: Some(file) },
            FileChange { path: "gone".into(), change: ChangeKind::Deleted, entry: None },
            FileChange { path: "l".into(), change: ChangeKind::Added, entry: Some(link) },
        ],
        depth: 1,
        created_at: t(7),
    };
    for c in [&root, &child] {
        w.write(|x| sql::file_commit::insert_into(x, c).unwrap()).await;
        assert_eq!(sql::file_commit::get_one(conn, tid, c.id).await.unwrap().as_ref(), Some(c));
    }

    let parent_exec = Execution {
        id: ExecutionId::from_uuid(id()),
        tenant: tid,
        workflow: workflow.id,
        status: ExecutionStatus::Completed,
        cursor: None,
        parent_checkpoint: None,
        parent_execution: None,
        variant: None,
        environment: Default::default(),
        error: None,
        created_at: t(8),
        updated_at: t(8),
    };
    w.write(|x| sql::execution::insert_into(x, &parent_exec, None)).await;
    let checkpoint = Checkpoint {
        state_link: Default::default(),
        id: CheckpointId::from_uuid(id()),
        execution: parent_exec.id,
        seq: 1,
        node: "a".into(),
        kind: CheckpointKind::Exit,
        attempt: 3,
        state: json!({ "n": 1, "nested": { "list": [1, "two", null] } }).into(),
        file_commit: child.id,
        lane: 2,
        forks: vec![CheckpointId::from_uuid(id()), CheckpointId::from_uuid(id())],
        parents: vec![CheckpointId::from_uuid(id())],
        created_at: t(9),
    };
    w.write(|x| sql::checkpoint::insert_into(x, std::slice::from_ref(&checkpoint))).await;
    assert_eq!(sql::checkpoint::get_one(conn, tid, checkpoint.id).await.unwrap(), Some(checkpoint.clone()));

    for status in [
        ExecutionStatus::Pending,
        ExecutionStatus::Running,
        ExecutionStatus::Paused,
        ExecutionStatus::Failed,
        ExecutionStatus::Cancelled,
    ] {
        let fork = Execution {
            id: ExecutionId::from_uuid(id()),
            status,
            cursor: Some("b".into()),
            parent_checkpoint: Some(checkpoint.id),
            parent_execution: Some(parent_exec.id),
            variant: Some("v2".into()),
            environment: wtb::model::Environment { seed: Some(7), clock: Some(1_700_000_000), cell: None },
            error: Some("why".into()),
            created_at: t(10),
            updated_at: t(11),
            ..parent_exec.clone()
        };
        w.write(|x| sql::execution::insert_into(x, &fork, None)).await;
        assert_eq!(sql::execution::get_one(conn, tid, fork.id).await.unwrap(), Some(fork));
    }
    assert_eq!(
        sql::execution::get_one(conn, TenantId::DEFAULT, parent_exec.id).await.unwrap(),
        None,
        "other tenants see nothing"
    );

    let statuses = [
        (AttemptStatus::Running, None),
        (AttemptStatus::Succeeded, None),
        (AttemptStatus::GuestError, None),
        (AttemptStatus::InvalidOutput, None),
        (AttemptStatus::Cancelled, None),
        (AttemptStatus::Trapped, Some(TrapKind::OutOfMemory)),
        (AttemptStatus::Trapped, Some(TrapKind::Timeout)),
        (AttemptStatus::Trapped, Some(TrapKind::OutOfFuel)),
        (AttemptStatus::Trapped, Some(TrapKind::DiskQuotaExceeded)),
        (AttemptStatus::Trapped, Some(TrapKind::OutputTooLarge)),
        (AttemptStatus::Trapped, Some(TrapKind::StackOverflow)),
        (AttemptStatus::Trapped, Some(TrapKind::GuestPanic)),
        (AttemptStatus::Trapped, Some(TrapKind::SandboxViolation)),
        (AttemptStatus::Trapped, Some(TrapKind::Other)),
    ];
    let mut boundaries = Vec::new();
    for (i, (status, trap)) in statuses.into_iter().enumerate() {
        let b = NodeBoundary {
            exit_checkpoint: Some(checkpoint.id),
            status,
            trap,
            error: Some(format!("e{i}")),
            finished_at: Some(t(20)),
            guest_micros: Some(1234),
            peak_memory_bytes: Some(1 << 20),
            fuel_used: Some(99),
            disk_bytes: Some(4096),
            files_created: Some(3),
            stdout: "out".into(),
            stderr: "err ✓".into(),
            started_at: t(12 + i as i64),
            ..NodeBoundary::opened(BoundaryId::from_uuid(id()), &checkpoint)
        };
        w.write(|x| sql::boundary::insert_into(x, &b)).await;
        boundaries.push(b);
    }
    let opened = NodeBoundary::opened(
        BoundaryId::from_uuid(id()),
        &Checkpoint { created_at: t(40), ..checkpoint.clone() },
    );
    w.write(|x| sql::boundary::insert_into(x, &opened)).await;
    boundaries.push(opened);
    assert_eq!(sql::boundary::list_for_execution(conn, tid, parent_exec.id).await.unwrap(), boundaries);

    let kinds = [
        EventKind::ExecutionStarted,
        EventKind::NodeCompleted,
        EventKind::NodeFailed,
        EventKind::FilesCommitted,
        EventKind::ExecutionCompleted,
        EventKind::ExecutionFailed,
        EventKind::ExecutionPaused,
        EventKind::ExecutionResumed,
        EventKind::ExecutionCancelled,
        EventKind::ExecutionRolledBack,
        EventKind::ExecutionForked,
        EventKind::Guest("order.placed".into()),
    ];
    let events: Vec<OutboxEvent> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| OutboxEvent {
            id: EventId::from_uuid(id()),
            tenant: tid,
            execution: parent_exec.id,
            seq: i as u32 + 1,
            kind,
            payload: json!({ "i": i }),
            idempotency_key: OutboxEvent::key_for(parent_exec.id, i as u32 + 1),
            created_at: t(30),
        })
        .collect();
    w.write(|x| sql::outbox::insert_all_into(x, &events)).await;
    assert_eq!(sql::outbox::list_for_execution(conn, tid, parent_exec.id).await.unwrap(), events);
    assert_eq!(sql::outbox::last_seq(conn, tid, parent_exec.id).await.unwrap(), events.len() as u32);
}

#[tokio::test]
async fn trees_rebuild_from_snapshots_and_deltas_across_many_commits() {
    use wtb::model::diff_trees;
    let (_dir, pool) = pool().await;
    let mut pooled = pool.acquire().await.unwrap();
    let conn = &mut pooled.conn();
    let mut tree = FileTree::new();
    let mut parent: Option<FileCommit> = None;
    let mut commits = Vec::new();
    for depth in 0..(3 * SNAPSHOT_INTERVAL_MIN + 5) {
        let mut next = tree.clone();
        let content = format!("v{depth}");
        next.insert(
            format!("f{}", depth % 7),
            FileEntry {
                kind: EntryKind::File,
                digest: Some(Digest::of(content.as_bytes())),
                size: content.len() as u64,
                mode: 0o644,
            },
        );
        if depth % 5 == 4 {
            next.remove(&format!("f{}", (depth + 3) % 7));
        }
        let commit = FileCommit {
            id: FileCommitId::from_uuid(id()),
            tenant: TenantId::DEFAULT,
            parent: parent.as_ref().map(|p| p.id),
            changes: diff_trees(&tree, &next),
            tree: next.clone().into(),
            depth,
            created_at: t(i64::from(depth)),
        };
        sql::file_commit::insert(conn, &commit).await.unwrap();
        commits.push(commit.clone());
        tree = next;
        parent = Some(commit);
    }
    for c in &commits {
        assert_eq!(
            sql::file_commit::get_one(conn, TenantId::DEFAULT, c.id).await.unwrap().as_ref(),
            Some(c),
            "depth {}",
            c.depth
        );
    }
    let stored: i64 =
        sql::query("SELECT COUNT(*) FROM file_commits WHERE tree IS NOT NULL").scalar(conn).await.unwrap();
    assert_eq!(stored, 4, "only depths 0, 16, 32 and 48 store their whole tree");
}
