//! The database seam, used only through `Arc<dyn Database>`: every kind of [`Write`] a unit of
//! work carries reads back through the aggregate traits, and a unit commits all or nothing,
//! in chain order. Nothing here names SQL, so a second backend runs the same checks.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use uuid::Uuid;
use wtb::db::{
    Arrival, ClaimSpec, Database, Durability, Lease, Postgres, Settled, Sqlite, Submission, UnitOfWork,
    Write, WriteError,
};
use wtb::model::*;
use wtb_tests::services::Backend;

pub(crate) fn id() -> Uuid {
    use wtb::clock::IdGen as _;
    wtb::clock::UuidV7Ids.next()
}

fn t(n: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + n)
}

/// A fresh database of the suite's backend ([`wtb_tests::services::backend`]).
pub(crate) async fn open() -> (tempfile::TempDir, Arc<dyn Database>) {
    let dir = tempfile::tempdir().unwrap();
    let db: Arc<dyn Database> = match wtb_tests::services::backend() {
        Backend::Sqlite => {
            Arc::new(Sqlite::open(&dir.path().join("wtb.db"), Durability::Full).await.unwrap())
        }
        Backend::Postgres => {
            let server = wtb_tests::services::postgres().expect("a PostgreSQL server");
            Arc::new(Postgres::open(&server.database(), Durability::Full).await.unwrap())
        }
    };
    (dir, db)
}

/// A tenant with a token, its workflow and component, two contents, an empty root commit and a
/// running execution with its entry checkpoint, open attempt and first event: one unit.
pub(crate) struct Started {
    pub(crate) tenant: TenantId,
    pub(crate) execution: Execution,
    pub(crate) entry: Checkpoint,
    pub(crate) boundary: NodeBoundary,
}

pub(crate) fn start_unit() -> (Started, UnitOfWork, Vec<Write>) {
    let tenant = Tenant {
        id: TenantId::from_uuid(id()),
        name: "acme".into(),
        created_at: t(1),
        quotas: Quotas::default(),
    };
    let tid = tenant.id;
    let token = ApiToken {
        id: TokenId::from_uuid(id()),
        tenant: tid,
        name: "ci".into(),
        created_at: t(1),
        revoked_at: None,
    };
    let workflow = WorkflowRecord {
        id: WorkflowId::from_uuid(id()),
        tenant: tid,
        name: "wf".into(),
        digest: Digest::of(b"def"),
        definition: json!({ "nodes": [{ "id": "a" }] }),
        created_at: t(2),
    };
    let component =
        wtb::db::ComponentRecord { tenant: tid, digest: Digest::of(b"wasm"), size: 4, created_at: t(2) };
    let inline = BlobRecord {
        tenant: tid,
        digest: Digest::of(b"hi"),
        size: 2,
        inline: Some(b"hi".to_vec()),
        created_at: t(3),
    };
    let in_cas =
        BlobRecord { tenant: tid, digest: Digest::of(b"big"), size: 3, inline: None, created_at: t(3) };
    let root = FileCommit {
        id: FileCommitId::from_uuid(id()),
        tenant: tid,
        parent: None,
        tree: FileTree::new().into(),
        changes: vec![],
        depth: 0,
        created_at: t(4),
    };
    let execution = Execution {
        id: ExecutionId::from_uuid(id()),
        tenant: tid,
        workflow: workflow.id,
        status: ExecutionStatus::Running,
        cursor: Some("a".into()),
        parent_checkpoint: None,
        parent_execution: None,
        variant: None,
        environment: Default::default(),
        error: None,
        created_at: t(5),
        updated_at: t(5),
    };
    let entry = Checkpoint {
        state_link: Default::default(),
        id: CheckpointId::from_uuid(id()),
        execution: execution.id,
        seq: 1,
        node: "a".into(),
        kind: CheckpointKind::Entry,
        attempt: 1,
        state: json!({ "n": 0 }).into(),
        file_commit: root.id,
        lane: 0,
        forks: vec![],
        parents: vec![],
        created_at: t(6),
    };
    let boundary = NodeBoundary::opened(BoundaryId::from_uuid(id()), &entry);
    let started = OutboxEvent {
        id: EventId::from_uuid(id()),
        tenant: tid,
        execution: execution.id,
        seq: 1,
        kind: EventKind::ExecutionStarted,
        payload: json!({ "entry": "a" }),
        idempotency_key: OutboxEvent::key_for(execution.id, 1),
        created_at: t(6),
    };
    let lease = Lease { owner: Some("me".into()), until: t(100), breakpoints: json!({ "before": ["a"] }) };
    let writes = vec![
        Write::Tenant(tenant),
        Write::Token { token, hash: "ab12".into() },
        Write::Workflow(workflow),
        Write::Component(component),
        Write::Blob(inline),
        Write::Blob(in_cas),
        Write::FileCommit(root),
        Write::Execution(execution.clone(), Some(lease)),
        Write::Checkpoint(entry.clone()),
        Write::Boundary(boundary.clone()),
        Write::Events(vec![started]),
    ];
    let mut unit = UnitOfWork::new();
    for w in writes.clone() {
        unit.push(w);
    }
    (Started { tenant: tid, execution, entry, boundary }, unit, writes)
}

#[tokio::test]
async fn every_write_reads_back_through_the_aggregate_traits() {
    let (_dir, db) = open().await;
    let (s, unit, writes) = start_unit();
    db.write(unit).await.unwrap();
    for w in &writes {
        match w {
            Write::Tenant(t) => assert_eq!(db.tenants().get_by_name("acme").await.unwrap().as_ref(), Some(t)),
            Write::Token { token, hash } => {
                assert_eq!(db.tenants().token_by_hash(hash).await.unwrap().as_ref(), Some(token))
            }
            Write::Workflow(w) => {
                assert_eq!(db.workflows().id_by_digest(s.tenant, &w.digest).await.unwrap(), Some(w.id));
                assert_eq!(db.workflows().get_one(s.tenant, w.id).await.unwrap().as_ref(), Some(w));
            }
            Write::Component(c) => {
                assert_eq!(db.components().get_one(s.tenant, &c.digest).await.unwrap().as_ref(), Some(c))
            }
            Write::Blob(b) => {
                assert_eq!(db.blobs().get_one(s.tenant, &b.digest).await.unwrap().as_ref(), Some(b))
            }
            Write::FileCommit(c) => {
                assert_eq!(db.file_commits().get_one(s.tenant, c.id).await.unwrap().as_ref(), Some(c))
            }
            Write::Execution(e, _) => {
                assert_eq!(db.executions().get_one(s.tenant, e.id).await.unwrap().as_ref(), Some(e));
                assert_eq!(db.leases().lease(e.id).await.unwrap(), Some(("me".into(), t(100))));
                let facts = db.executions().resume_facts(&[(s.tenant, e.id)]).await.unwrap().remove(0);
                assert_eq!(facts.breakpoints, json!({ "before": ["a"] }));
                // The whole start unit is written: its entry checkpoint and event count.
                assert_eq!(
                    (facts.checkpoint_seq, facts.entries, facts.event_seq, facts.control),
                    (1, 1, 1, None)
                );
            }
            Write::Checkpoint(c) => {
                assert_eq!(db.checkpoints().get_one(s.tenant, c.id).await.unwrap().as_ref(), Some(c))
            }
            Write::Boundary(b) => {
                assert_eq!(db.boundaries().list_open(s.tenant, b.execution).await.unwrap(), vec![b.clone()])
            }
            Write::Events(e) => {
                assert_eq!(&db.events().list_for_execution(s.tenant, s.execution.id).await.unwrap(), e)
            }
            other => panic!("not a start write: {other:?}"),
        }
    }
    let inline =
        db.blobs().inline_contents(s.tenant, &[Digest::of(b"hi"), Digest::of(b"big")]).await.unwrap();
    assert_eq!(inline.len(), 1, "only the inline content has bytes in the database");
    assert_eq!(db.executions().get_one(TenantId::DEFAULT, s.execution.id).await.unwrap(), None);

    // The node's exit: its checkpoint, the attempt closed, a branch waiting at a join, the
    // execution's end and its event, in one unit.
    let exit = Checkpoint {
        id: CheckpointId::from_uuid(id()),
        seq: 2,
        kind: CheckpointKind::Exit,
        state: json!({ "n": 1 }).into(),
        parents: vec![s.entry.id],
        created_at: t(7),
        ..s.entry.clone()
    };
    let closed = NodeBoundary {
        exit_checkpoint: Some(exit.id),
        status: AttemptStatus::Succeeded,
        finished_at: Some(t(8)),
        ..s.boundary.clone()
    };
    let arrival = Arrival { edge: 0, seq: 2, checkpoint: exit.id, forks: vec![] };
    let ended = OutboxEvent {
        id: EventId::from_uuid(id()),
        seq: 2,
        kind: EventKind::ExecutionCompleted,
        idempotency_key: OutboxEvent::key_for(s.execution.id, 2),
        ..db.events().list_for_execution(s.tenant, s.execution.id).await.unwrap().remove(0)
    };
    let mut unit = UnitOfWork::new();
    unit.push(Write::Checkpoint(exit.clone()))
        .push(Write::CloseBoundary(closed.clone()))
        .push(Write::Arrive(s.execution.id, arrival.clone()))
        .push(Write::Progress {
            execution: s.execution.id,
            status: Some(ExecutionStatus::Completed),
            cursor: None,
            error: None,
            at: t(9),
            fence: None,
        })
        .push(Write::Events(vec![ended]));
    db.write(unit).await.unwrap();
    assert!(db.boundaries().list_open(s.tenant, s.execution.id).await.unwrap().is_empty());
    assert_eq!(db.boundaries().list_for_execution(s.tenant, s.execution.id).await.unwrap(), vec![closed]);
    assert_eq!(db.joins().list_for_execution(s.tenant, s.execution.id).await.unwrap(), vec![arrival.clone()]);
    let e = db.executions().get_one(s.tenant, s.execution.id).await.unwrap().unwrap();
    assert_eq!((e.status, e.cursor, e.updated_at), (ExecutionStatus::Completed, None, t(9)));
    assert_eq!(db.events().last_seq(s.tenant, s.execution.id).await.unwrap(), 2);

    // A rollback to the entry: the exit and its attempt superseded, the arrival used then
    // gone, the execution paused at `a` with its lease given back.
    let mut unit = UnitOfWork::new();
    unit.push(Write::SupersedeCheckpoint(exit.id, t(10)))
        .push(Write::SupersedeBoundary(s.boundary.id, t(10)))
        .push(Write::Consume(s.execution.id, arrival.clone(), true));
    db.write(unit).await.unwrap();
    assert!(db.joins().list_for_execution(s.tenant, s.execution.id).await.unwrap().is_empty(), "consumed");
    assert_eq!(db.joins().list_all(s.tenant, s.execution.id).await.unwrap(), vec![arrival.clone()]);
    let mut unit = UnitOfWork::new();
    unit.push(Write::Depart(s.execution.id, arrival))
        .push(Write::RolledBack { execution: s.execution.id, cursor: Some("a".into()), at: t(11) })
        .push(Write::Release(s.execution.id));
    db.write(unit).await.unwrap();
    assert!(db.joins().list_all(s.tenant, s.execution.id).await.unwrap().is_empty());
    assert_eq!(db.checkpoints().superseded_at(s.tenant, exit.id).await.unwrap(), Some(Some(t(10))));
    assert_eq!(
        db.checkpoints().list_for_execution(s.tenant, s.execution.id).await.unwrap(),
        vec![s.entry.clone()]
    );
    assert!(db.boundaries().list_for_execution(s.tenant, s.execution.id).await.unwrap().is_empty());
    let e = db.executions().get_one(s.tenant, s.execution.id).await.unwrap().unwrap();
    assert_eq!((e.status, e.cursor.as_deref()), (ExecutionStatus::Paused, Some("a")));
    assert_eq!(db.leases().lease(s.execution.id).await.unwrap(), None);

    // Delivery: the events are numbered (PostgreSQL numbers them after they commit; SQLite
    // as it inserts them), get rows for a sink, a relay claims them and settles them.
    let numbered = db.deliveries().sequence().await.unwrap();
    assert!(numbered == 0 || numbered == 2, "{numbered}");
    assert_eq!(db.deliveries().sequence().await.unwrap(), 0, "each event is numbered once");
    assert_eq!(db.deliveries().materialize("s", t(12)).await.unwrap(), 2);
    let spec =
        ClaimSpec { sink: "s", owner: "relay", now: t(12), lease_until: t(99), limit: 10, per_execution: 10 };
    let claimed = db.deliveries().claim(spec).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let settled = claimed.iter().map(|c| (c.event.id, Settled::Delivered)).collect();
    let mut unit = UnitOfWork::new();
    unit.push(Write::Settle { sink: "s".into(), owner: "relay".into(), at: t(13), settled });
    db.write(unit).await.unwrap();
    let counts = db.deliveries().counts("s").await.unwrap();
    assert_eq!((counts.delivered, counts.pending, counts.dead), (2, 0, 0));
}

#[tokio::test]
async fn a_unit_commits_all_or_nothing_and_a_failed_one_stops_its_chain() {
    let (_dir, db) = open().await;
    let (s, unit, _) = start_unit();
    db.write(unit).await.unwrap();
    let blob = |b: &[u8]| BlobRecord {
        tenant: s.tenant,
        digest: Digest::of(b),
        size: b.len() as u64,
        inline: Some(b.to_vec()),
        created_at: t(20),
    };
    // A checkpoint of an execution that does not exist breaks a foreign key: the blob written
    // before it in the same unit is undone too.
    let orphan = Checkpoint {
        id: CheckpointId::from_uuid(id()),
        execution: ExecutionId::from_uuid(id()),
        ..s.entry.clone()
    };
    let mut unit = UnitOfWork::new();
    unit.push(Write::Blob(blob(b"first"))).push(Write::Checkpoint(orphan));
    assert!(matches!(db.write(unit).await, Err(WriteError::Db(_))));
    assert_eq!(db.blobs().get_one(s.tenant, &Digest::of(b"first")).await.unwrap(), None);

    // On one chain, the unit after a failed one is refused; another chain is unaffected.
    let chain = Arc::new(AtomicBool::new(false));
    let submit = |work: UnitOfWork, poisoned: Arc<AtomicBool>| {
        let (reply, answer) = tokio::sync::oneshot::channel();
        db.submit(Submission { work, roll_back: false, exit: true, poisoned, reply });
        answer
    };
    let orphan = Checkpoint {
        id: CheckpointId::from_uuid(id()),
        execution: ExecutionId::from_uuid(id()),
        ..s.entry.clone()
    };
    let failing = submit(UnitOfWork::one(Write::Checkpoint(orphan)), chain.clone());
    let after = submit(UnitOfWork::one(Write::Blob(blob(b"after"))), chain.clone());
    let other = submit(UnitOfWork::one(Write::Blob(blob(b"other"))), Arc::default());
    assert!(matches!(failing.await.unwrap(), Err(WriteError::Db(_))));
    assert!(matches!(after.await.unwrap(), Err(WriteError::Refused)));
    other.await.unwrap().unwrap();
    assert_eq!(db.blobs().get_one(s.tenant, &Digest::of(b"after")).await.unwrap(), None);
    assert!(db.blobs().get_one(s.tenant, &Digest::of(b"other")).await.unwrap().is_some());

    // A unit asked to be undone (the fault injection) runs, then leaves nothing.
    let (reply, answer) = tokio::sync::oneshot::channel();
    let work = UnitOfWork::one(Write::Blob(blob(b"undone")));
    db.submit(Submission { work, roll_back: true, exit: true, poisoned: Arc::default(), reply });
    assert!(matches!(answer.await.unwrap(), Err(WriteError::Undone)));
    assert_eq!(db.blobs().get_one(s.tenant, &Digest::of(b"undone")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn close_commits_what_was_queued_and_ends_the_writer_while_others_hold_the_handle() {
    let (dir, db) = open().await;
    let (s, unit, _) = start_unit();
    // Another holder (a relay, the control watcher) keeps its clone of the handle.
    let other = db.clone();
    let (reply, queued) = tokio::sync::oneshot::channel();
    db.submit(Submission { work: unit, roll_back: false, exit: false, poisoned: Arc::default(), reply });
    db.close().await;
    queued.await.unwrap().unwrap();
    let late = other.write(UnitOfWork::one(Write::Release(s.execution.id))).await;
    assert!(matches!(late, Err(WriteError::Stopped)), "{late:?}");
    if wtb_tests::services::backend() != Backend::Sqlite {
        return;
    }
    // The writer is gone and the WAL was folded into the database file: nothing is left in it.
    let wal = std::fs::metadata(dir.path().join("wtb.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL still holds {wal} bytes after close");
    let reopened = Sqlite::open(&dir.path().join("wtb.db"), Durability::Full).await.unwrap();
    assert!(reopened.executions().get_one(s.tenant, s.execution.id).await.unwrap().is_some());
}

#[tokio::test]
async fn every_read_of_a_tenant_s_rows_takes_the_tenant_and_another_tenant_reads_nothing() {
    let (_dir, db) = open().await;
    let (s, unit, _) = start_unit();
    db.write(unit).await.unwrap();
    let (mine, other, e, cp) = (s.tenant, TenantId::DEFAULT, s.execution.id, s.entry.id);
    assert!(db.checkpoints().get_one(mine, cp).await.unwrap().is_some());
    assert_eq!(db.checkpoints().get_one(other, cp).await.unwrap(), None);
    assert_eq!(db.checkpoints().superseded_at(other, cp).await.unwrap(), None);
    assert!(db.checkpoints().list_for_execution(other, e).await.unwrap().is_empty());
    assert!(db.checkpoints().list_history(other, e).await.unwrap().is_empty());
    let facts = db.executions().resume_facts(&[(mine, e)]).await.unwrap().remove(0);
    assert_eq!((facts.checkpoint_seq, facts.entries, facts.event_seq), (1, 1, 1));
    assert!(db.executions().resume_facts(&[(other, e)]).await.unwrap().is_empty());
    assert_eq!(db.boundaries().list_open(mine, e).await.unwrap().len(), 1);
    assert!(db.boundaries().list_open(other, e).await.unwrap().is_empty());
    assert!(db.boundaries().list_for_execution(other, e).await.unwrap().is_empty());
    assert!(db.boundaries().list_history(other, e).await.unwrap().is_empty());
    let arrival = Arrival { edge: 0, seq: 1, checkpoint: cp, forks: vec![] };
    db.write(UnitOfWork::one(Write::Arrive(e, arrival))).await.unwrap();
    assert_eq!(db.joins().list_all(mine, e).await.unwrap().len(), 1);
    assert!(db.joins().list_all(other, e).await.unwrap().is_empty());
    assert!(db.joins().list_for_execution(other, e).await.unwrap().is_empty());
    assert_eq!(db.events().last_seq(mine, e).await.unwrap(), 1);
    assert_eq!(db.events().last_seq(other, e).await.unwrap(), 0);
    assert!(db.events().list_for_execution(other, e).await.unwrap().is_empty());
    assert!(db.events().list_after(other, e, 0).await.unwrap().is_empty());
    let root = db.checkpoints().get_one(mine, cp).await.unwrap().unwrap().file_commit;
    assert_eq!(db.file_commits().get_one(other, root).await.unwrap(), None);
    assert_eq!(db.file_commits().change_count(other, root).await.unwrap(), 0);
}
