//! States and file trees stored as deltas (the workspaces issue). A long workflow whose state
//! grows stores most checkpoints as patches, yet every read (describe, history, one
//! checkpoint, resume after a rollback, a fork) sees whole states; a damaged patch is an error
//! naming it. A workspace growing by a file a commit stores about one tree entry per commit,
//! and a commit far down a chain of deltas is rebuilt exactly.

use serde_json::{Map, Value, json};
use std::fmt::Write as _;
use wtb::db::sql;
use wtb::executor::{Executor, ForkOptions};
use wtb::model::{
    ChangeKind, Checkpoint, CheckpointKind, EntryKind, ExecutionId, ExecutionStatus, FileChange, FileCommit,
    FileCommitId, FileEntry, FileTree, SNAPSHOT_INTERVAL_MAX, TenantId, Timestamp,
};
use wtb_tests::Harness;

const NODES: usize = 60;

/// `NODES` probe nodes in a line; node `k` appends one entry to `log` and sets `n = k`.
fn growing(h: &Harness) -> std::path::PathBuf {
    let mut m = String::from("name = \"growing\"\n[reducers]\nlog = \"append\"\n[state]\nlog = []\n");
    for k in 1..=NODES {
        let _ = write!(
            m,
            "\n[[nodes]]\nid = \"n{k:02}\"\ncomponent = \"probe.wasm\"\nconfig = {{ action = \"write\", update = {{ log = \"entry {k:02} {pad}\", n = {k} }} }}\n",
            pad = "-".repeat(40)
        );
    }
    h.file("growing.toml", m)
}

/// The state node `k`'s entry must hold (the exit holds that of `k + 1`).
fn entry_state(k: usize) -> Value {
    let log: Vec<String> = (1..k).map(|i| format!("entry {i:02} {}", "-".repeat(40))).collect();
    match k {
        1 => json!({ "log": log }),
        _ => json!({ "log": log, "n": k - 1 }),
    }
}

/// The state checkpoint `c` must hold, from its node and kind alone.
fn expected(c: &Checkpoint) -> Value {
    let k: usize = c.node[1..].parse().unwrap();
    entry_state(if c.kind == CheckpointKind::Entry { k } else { k + 1 })
}

async fn live(exec: &Executor, id: ExecutionId) -> Vec<Checkpoint> {
    exec.inspect().describe(id).await.unwrap().checkpoints.into_iter().map(|c| c.checkpoint).collect()
}

/// (rows stored as patches, rows, bytes stored, bytes of the whole states) of an execution.
async fn stored(exec: &Executor, id: ExecutionId, whole: usize) -> (i64, i64, i64, usize) {
    let (patches, rows, bytes): (i64, i64, i64) = wtb_tests::fetch_one(
        exec,
        wtb::db::sql::query(
            "SELECT COUNT(state_parent_seq), COUNT(*), CAST(SUM(LENGTH(state)) AS BIGINT) FROM checkpoints WHERE execution_id = ?",
        )
        .bind(id.uuid()),
    )
    .await;
    (patches, rows, bytes, whole)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_growing_state_is_stored_as_patches_and_every_read_sees_it_whole() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&growing(&h)).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    let id = s.execution;
    let cps = live(&exec, id).await;
    assert_eq!(cps.len(), 2 * NODES);
    for c in &cps {
        assert_eq!(*c.state, expected(c), "{} {:?} read through describe", c.node, c.kind);
    }
    let whole: usize = cps.iter().map(|c| c.state.to_string().len()).sum();
    let (patches, rows, bytes, whole) = stored(&exec, id, whole).await;
    assert!(patches * 10 >= rows * 8, "most rows are patches: {patches} of {rows}");
    assert!((bytes as usize) * 4 < whole, "stored {bytes} bytes for {whole} bytes of states");

    // One checkpoint at a time, and the history (superseded ones included, after a rollback).
    for c in cps.iter().step_by(7) {
        let one = exec.database().checkpoints().get_one(TenantId::DEFAULT, c.id).await.unwrap().unwrap();
        assert_eq!(*one.state, expected(c), "{} read alone", c.node);
    }
    let back = cps.iter().find(|c| c.node == "n40" && c.kind == CheckpointKind::Entry).unwrap().clone();
    exec.travel().rollback(id, back.id).await.unwrap();
    let history = exec.inspect().history(id).await.unwrap();
    for c in &history.checkpoints {
        assert_eq!(*c.checkpoint.state, expected(&c.checkpoint), "{} in the history", c.checkpoint.node);
    }
    // Resuming reads the open entry back (a patch) and goes on patching from it.
    let again = exec.resume(id, 4).await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Completed, "{:?}", again.failure);
    assert_eq!(Value::Object(again.state), entry_state(NODES + 1));
    let after = live(&exec, id).await;
    assert_eq!(after.len(), 2 * NODES);
    for c in &after {
        assert_eq!(*c.state, expected(c), "{} {:?} after the rollback", c.node, c.kind);
    }

    // A fork copies the history up to its checkpoint, as patches too, and runs on from it.
    let from = after.iter().find(|c| c.node == "n20" && c.kind == CheckpointKind::Exit).unwrap();
    let fork = exec.travel().fork(from.id, &ForkOptions::default()).await.unwrap();
    let f = exec.resume(fork.execution, 4).await.unwrap();
    assert_eq!(f.status, ExecutionStatus::Completed, "{:?}", f.failure);
    let forked = live(&exec, fork.execution).await;
    for c in &forked {
        assert_eq!(*c.state, expected(c), "{} {:?} of the fork", c.node, c.kind);
    }
    let whole: usize = forked.iter().map(|c| c.state.to_string().len()).sum();
    let (patches, rows, bytes, whole) = stored(&exec, fork.execution, whole).await;
    assert!(patches * 10 >= rows * 8, "the fork's rows are patches: {patches} of {rows}");
    assert!((bytes as usize) * 4 < whole, "the fork stored {bytes} bytes for {whole}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_patch_is_an_error_naming_its_checkpoint_not_a_wrong_state() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&growing(&h)).await.unwrap();
    let id = exec.run(&wf, Map::new()).await.unwrap().execution;
    let cps = live(&exec, id).await;
    let (seq,): (i64,) = wtb_tests::fetch_one(
        &exec,
        wtb::db::sql::query(
            "SELECT MAX(seq) FROM checkpoints WHERE execution_id = ? AND state_parent_seq IS NOT NULL AND seq < 60",
        )
        .bind(id.uuid()),
    )
    .await;
    let damaged = cps.iter().find(|c| i64::from(c.seq) == seq).unwrap();
    let checkpoints = exec.database().checkpoints();
    for damage in [r#"[{"op":"remove","path":"/nope"}]"#, "[{"] {
        let mut conn = wtb_tests::sql_pool(&exec).acquire().await.unwrap();
        wtb::db::sql::query("UPDATE checkpoints SET state = ? WHERE execution_id = ? AND seq = ?")
            .bind(damage.to_owned())
            .bind(id.uuid())
            .bind(seq)
            .execute(&mut conn.conn())
            .await
            .unwrap();
        drop(conn);
        let e = checkpoints.get_one(TenantId::DEFAULT, damaged.id).await.unwrap_err().to_string();
        assert!(e.contains(&format!("checkpoint {seq} of execution {id}")), "{damage}: {e}");
        let e = exec.inspect().describe(id).await.unwrap_err().to_string();
        assert!(e.contains(&format!("checkpoint {seq} of execution {id}")), "{damage}: {e}");
        let report = wtb::gc::fsck(&exec).await.unwrap();
        assert!(
            report.problems.iter().any(|p| p.detail.contains(&format!("checkpoint {seq} of execution {id}"))),
            "fsck names the damaged patch: {:?}",
            report.problems
        );
        // A checkpoint whose chain does not pass through it still reads.
        let first = checkpoints.get_one(TenantId::DEFAULT, cps[0].id).await.unwrap().unwrap();
        assert_eq!(*first.state, expected(&cps[0]));
    }
}

#[tokio::test]
async fn a_growing_workspace_stores_about_one_tree_entry_per_commit_and_far_deltas_rebuild_exactly() {
    use wtb::clock::IdGen as _;
    let h = Harness::new();
    let exec = h.executor().await;
    let mut pooled = wtb_tests::sql_pool(&exec).acquire().await.unwrap();
    let conn = &mut pooled.conn();
    const COMMITS: u32 = 600;
    let (mut tree, mut parent, mut commits) = (FileTree::new(), None, Vec::new());
    for depth in 0..COMMITS {
        let path = format!("f{depth:05}.txt");
        let entry = FileEntry {
            kind: EntryKind::File,
            digest: Some(wtb_tests::digest(path.as_bytes())),
            size: 9,
            mode: 0o644,
        };
        let mut changes =
            vec![FileChange { path: path.clone(), change: ChangeKind::Added, entry: Some(entry.clone()) }];
        tree.insert(path, entry);
        if depth % 10 == 9 {
            // Now and then a file goes: the rebuilt trees must lose it too.
            let gone = format!("f{:05}.txt", depth - 5);
            tree.remove(&gone);
            changes.push(FileChange { path: gone, change: ChangeKind::Deleted, entry: None });
            changes.sort_by(|a, b| a.path.cmp(&b.path));
        }
        let c = FileCommit {
            id: FileCommitId::from_uuid(wtb::clock::UuidV7Ids.next()),
            tenant: TenantId::DEFAULT,
            parent,
            tree: tree.clone().into(),
            changes,
            depth,
            created_at: Timestamp::from_micros(i64::from(depth)),
        };
        sql::file_commit::insert(conn, &c).await.unwrap();
        parent = Some(c.id);
        commits.push(c);
    }
    for c in commits.iter().filter(|c| c.depth % 37 == 0 || c.depth > COMMITS - 3) {
        let read = sql::file_commit::get_one(conn, TenantId::DEFAULT, c.id).await.unwrap();
        assert_eq!(read.as_ref(), Some(c), "depth {}", c.depth);
    }
    // Another tenant's name for the same commit reads nothing.
    let other = TenantId::from_uuid(uuid::Uuid::from_u128(42));
    assert_eq!(sql::file_commit::get_one(conn, other, commits[500].id).await.unwrap(), None);
    let (stored, snapshots): (i64, i64) = wtb_tests::fetch_one(
        &exec,
        sql::query("SELECT CAST(COALESCE(SUM(LENGTH(tree)), 0) AS BIGINT), COUNT(tree) FROM file_commits WHERE depth < ?")
            .bind(i64::from(COMMITS)),
    )
    .await;
    let entries: usize = commits.iter().filter(|c| c.is_snapshot()).map(|c| c.tree.len()).sum();
    assert!(entries <= 2 * COMMITS as usize, "{entries} tree entries stored in {snapshots} snapshots");
    assert!(stored > 0 && commits.iter().all(|c| c.depth % SNAPSHOT_INTERVAL_MAX != 0 || c.is_snapshot()));
}
