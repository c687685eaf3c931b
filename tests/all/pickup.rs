//! Picking up executions (a worker's claimed batch, or one resume): one read for any number of
//! executions of any tenants returns each one's facts and open attempts, each attempt with its
//! entry checkpoint and that entry's file commit, tree complete, and nothing of a pair whose
//! tenant is not the execution's.

use super::seam::{id, open, start_unit};
use serde_json::json;
use wtb::db::{UnitOfWork, Write};
use wtb::model::*;

#[tokio::test]
async fn one_read_picks_up_a_batch_of_executions_of_several_tenants_with_their_open_attempts() {
    let (_dir, db) = open().await;
    let (one, unit, _) = start_unit();
    db.write(unit).await.unwrap();
    let (two, _, writes) = start_unit();
    let mut unit = UnitOfWork::new();
    for w in writes {
        unit.push(match w {
            Write::Tenant(t) => Write::Tenant(Tenant { name: "globex".into(), ..t }),
            Write::Token { token, .. } => Write::Token { token, hash: "cd34".into() },
            w => w,
        });
    }
    db.write(unit).await.unwrap();

    // A second open attempt of `one`, whose entry's files are a delta commit on the root.
    let file = FileEntry { kind: EntryKind::File, digest: Some(Digest::of(b"hi")), size: 2, mode: 0o644 };
    let tree: FileTree = [("f.txt".to_owned(), file.clone())].into_iter().collect();
    let delta = FileCommit {
        id: FileCommitId::from_uuid(id()),
        tenant: one.tenant,
        parent: Some(one.entry.file_commit),
        tree: tree.clone().into(),
        changes: vec![FileChange { path: "f.txt".into(), change: ChangeKind::Added, entry: Some(file) }],
        depth: 1,
        created_at: one.entry.created_at,
    };
    assert!(!delta.is_snapshot(), "the read must rebuild a delta commit's tree");
    let entry = Checkpoint {
        id: CheckpointId::from_uuid(id()),
        seq: 2,
        node: "b".into(),
        state: json!({ "n": 1 }).into(),
        file_commit: delta.id,
        ..one.entry.clone()
    };
    let boundary = NodeBoundary::opened(BoundaryId::from_uuid(id()), &entry);
    let mut unit = UnitOfWork::new();
    unit.push(Write::FileCommit(delta.clone()))
        .push(Write::Checkpoint(entry.clone()))
        .push(Write::Boundary(boundary.clone()));
    db.write(unit).await.unwrap();

    // `(one.tenant, two's execution)` names no execution: another tenant's row stays unread.
    let which = [
        (one.tenant, one.execution.id),
        (two.tenant, two.execution.id),
        (one.tenant, two.execution.id),
        (two.tenant, ExecutionId::from_uuid(id())),
    ];
    let mut picked = db.executions().resume_facts(&which).await.unwrap();
    picked.sort_by_key(|f| f.execution.id != one.execution.id);
    assert_eq!(picked.len(), 2, "{picked:?}");
    let (a, b) = (&picked[0], &picked[1]);
    assert_eq!((a.execution.id, a.tenant.id), (one.execution.id, one.tenant));
    assert_eq!((b.execution.id, b.tenant.id), (two.execution.id, two.tenant));
    assert_eq!((a.checkpoint_seq, a.entries, a.event_seq), (2, 2, 1));
    assert_eq!(a.open.len(), 2);
    assert_eq!((&a.open[0].boundary, &a.open[0].entry), (&one.boundary, &one.entry));
    assert!(a.open[0].commit.tree.is_empty());
    assert_eq!((&a.open[1].boundary, &a.open[1].entry), (&boundary, &entry));
    assert_eq!(*a.open[1].commit.tree, tree);
    assert_eq!(a.open[1].commit.changes, delta.changes);
    assert_eq!(b.open.len(), 1);
    assert_eq!((&b.open[0].boundary, &b.open[0].entry), (&two.boundary, &two.entry));

    // Closing an attempt takes it off what a pick-up re-runs.
    let closed =
        NodeBoundary { status: AttemptStatus::Succeeded, exit_checkpoint: Some(entry.id), ..boundary };
    db.write(UnitOfWork::one(Write::CloseBoundary(closed))).await.unwrap();
    let again = db.executions().resume_facts(&[(one.tenant, one.execution.id)]).await.unwrap();
    assert_eq!(again[0].open.len(), 1);
    assert!(db.executions().resume_facts(&[]).await.unwrap().is_empty());
}
