//! Time travel end to end: history, rollback of state and files, forks, diffs, files at a
//! checkpoint, and the refusals, on real components and a real database.

use crate::engine::diamond;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use wtb::executor::{ExecError, Executor, ForkOptions};
use wtb::history::TextChange;
use wtb::model::{ChangeKind, Checkpoint, CheckpointKind, ExecutionId, ExecutionStatus};
use wtb::travel::TravelError;
use wtb_tests::Harness;

/// a writes notes.txt, b rewrites one line of it and adds b.txt and a binary, c deletes b.txt.
fn three_nodes(h: &Harness) -> std::path::PathBuf {
    h.probe_workflow("three", &[
        ("a", json!({ "action": "write", "files": { "notes.txt": "one\ntwo\nthree\n" }, "update": { "step": "a", "n": 1 } })),
        ("b", json!({ "action": "write", "files": { "notes.txt": "one\nTWO\nthree\n", "b.txt": "bee" }, "sized": { "blob.bin": 3000 }, "update": { "step": "b", "n": 2 } })),
        ("c", json!({ "action": "write", "delete": ["b.txt"], "update": { "step": "c", "n": 3 }, "events": [["done", {}]] })),
    ])
}

async fn checkpoints(exec: &Executor, id: ExecutionId) -> Vec<Checkpoint> {
    exec.inspect().describe(id).await.unwrap().checkpoints.into_iter().map(|c| c.checkpoint).collect()
}

fn find<'a>(cps: &'a [Checkpoint], node: &str, kind: CheckpointKind) -> &'a Checkpoint {
    cps.iter()
        .rev()
        .find(|c| c.node == node && c.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} checkpoint of {node}"))
}

/// Every file under a workspace with its content.
fn contents(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    wtb_tests::files_under(dir)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(dir.join(&p)).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_state_and_files_and_resume_continues_after_it() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&three_nodes(&h)).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed);
    let id = s.execution;
    let finished = contents(&h.workspace(&exec, id).await);
    let cps = checkpoints(&exec, id).await;
    assert_eq!(cps.len(), 6);

    // Back to b's entry: b and c are undone, the workspace holds a's files only.
    let b_entry = find(&cps, "b", CheckpointKind::Entry).clone();
    let r = exec.travel().rollback(id, b_entry.id).await.unwrap();
    assert_eq!((r.superseded, r.open.clone()), (3, vec!["b".to_owned()]));
    assert_eq!(exec.status(id).await.unwrap(), ExecutionStatus::Paused);
    assert_eq!(
        contents(&h.workspace(&exec, id).await),
        BTreeMap::from([("notes.txt".to_owned(), b"one\ntwo\nthree\n".to_vec())])
    );
    let history = exec.inspect().history(id).await.unwrap();
    let superseded: Vec<u32> =
        history.checkpoints.iter().filter(|c| c.superseded_at.is_some()).map(|c| c.checkpoint.seq).collect();
    assert_eq!(superseded, [4, 5, 6], "later checkpoints are kept, marked superseded");
    let report = exec.inspect().describe(id).await.unwrap();
    assert_eq!(report.checkpoints.len(), 3, "show lists the live line");
    assert_eq!(report.events.last().unwrap().kind, "execution.rolled_back");
    assert_eq!(report.events.last().unwrap().payload["to"], json!(b_entry.id));

    // Refusals change nothing.
    let c_exit = find(&cps, "c", CheckpointKind::Exit).id;
    let e = exec.travel().rollback(id, c_exit).await.unwrap_err().to_string();
    assert!(e.contains("superseded by a rollback") && e.contains("wtb history"), "{e}");
    let other = exec.run(&wf, Map::new()).await.unwrap().execution;
    let e = exec.travel().rollback(other, b_entry.id).await.unwrap_err().to_string();
    assert!(e.contains(&format!("belongs to execution {id}, not {other}")), "{e}");
    let unknown = "01a20000-0000-7000-8000-000000000000".parse().unwrap();
    assert!(matches!(
        exec.travel().rollback(id, unknown).await,
        Err(TravelError::Exec(ExecError::UnknownCheckpoint(_)))
    ));
    assert!(matches!(
        exec.travel().fork(unknown, &ForkOptions::default()).await,
        Err(TravelError::Exec(ExecError::UnknownCheckpoint(_)))
    ));
    assert_eq!(exec.inspect().history(id).await.unwrap().checkpoints.len(), 6);

    // Resume runs b and c again; the new checkpoints follow the rollback in the history.
    let s = exec.resume(id, 4).await.unwrap();
    assert_eq!((s.status, s.attempts), (ExecutionStatus::Completed, 2));
    assert_eq!(s.state["n"], 3);
    assert_eq!(contents(&h.workspace(&exec, id).await), finished, "the same files as the first run");
    let history = exec.inspect().history(id).await.unwrap();
    let live: Vec<(u32, &str)> = history
        .checkpoints
        .iter()
        .filter(|c| c.superseded_at.is_none())
        .map(|c| (c.checkpoint.seq, c.checkpoint.node.as_str()))
        .collect();
    assert_eq!(live, [(1, "a"), (2, "a"), (3, "b"), (7, "b"), (8, "c"), (9, "c")]);
    let done: Vec<_> = exec
        .inspect()
        .describe(id)
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == "guest.done")
        .collect();
    assert_eq!(done.len(), 2, "c ran twice: once before the rollback, once after");

    // Back to a's exit (from a completed execution): b's entry was written with it and stays.
    let cps = checkpoints(&exec, id).await;
    let r = exec.travel().rollback(id, find(&cps, "a", CheckpointKind::Exit).id).await.unwrap();
    assert_eq!(r.open, ["b"]);
    assert_eq!(exec.resume(id, 4).await.unwrap().status, ExecutionStatus::Completed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_execution_must_be_paused_before_a_rollback() {
    let h = Harness::new();
    let exec = h.executor().await;
    // `b` waits at the gate until the rollback has been refused: the run is surely running.
    let gate = h.gate();
    let path = h.probe_workflow(
        "slow",
        &[("a", json!({ "action": "write", "files": { "a.txt": "a" } })), ("b", gate.node())],
    );
    let wf = exec.load_workflow(&path).await.unwrap();
    let run = exec.run(&wf, Map::new());
    let attempt = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let Some(e) = exec.inspect().recent(1).await.unwrap().pop() else { continue };
            let cps = checkpoints(&exec, e.id).await;
            if cps.iter().any(|c| c.node == "b") {
                let refused = exec.travel().rollback(e.id, cps[0].id).await;
                gate.open();
                return refused;
            }
        }
    };
    let (s, refused) = tokio::join!(run, attempt);
    let e = refused.unwrap_err();
    assert!(matches!(e, TravelError::Running(_)), "{e}");
    assert!(e.to_string().contains("is running: pause it first"), "{e}");
    assert_eq!(s.unwrap().status, ExecutionStatus::Completed, "the run was not disturbed");
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_back_into_a_fan_out_reruns_what_followed_and_joins_the_same() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&h.file("diamond.toml", diamond("left.txt", "right.txt", 0))).await.unwrap();
    let first = exec.run(&wf, Map::new()).await.unwrap();
    for (node, kind) in [
        ("left", CheckpointKind::Exit),
        ("right", CheckpointKind::Entry),
        ("router", CheckpointKind::Exit),
        ("merge", CheckpointKind::Entry),
    ] {
        let cps = checkpoints(&exec, first.execution).await;
        let target = find(&cps, node, kind).id;
        exec.travel().rollback(first.execution, target).await.unwrap();
        let again = exec.resume(first.execution, 4).await.unwrap();
        assert_eq!(
            (again.status, &again.state),
            (ExecutionStatus::Completed, &first.state),
            "back to {node} {kind:?}"
        );
        let last = checkpoints(&exec, first.execution).await.pop().unwrap();
        assert_eq!(last.node, "merge");
        let ws = h.workspace(&exec, first.execution).await;
        assert_eq!(
            wtb_tests::files_under(&ws),
            ["base.txt", "joined.txt", "left.txt", "right.txt"],
            "back to {node} {kind:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_shares_files_runs_its_own_way_and_leaves_the_original_untouched() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&three_nodes(&h)).await.unwrap();
    let original = exec.run(&wf, Map::new()).await.unwrap().execution;
    let before = (
        exec.inspect().history(original).await.unwrap().checkpoints.len(),
        contents(&h.workspace(&exec, original).await),
        exec.inspect().describe(original).await.unwrap().events.len(),
    );
    let cps = checkpoints(&exec, original).await;
    let b_entry = find(&cps, "b", CheckpointKind::Entry).id;
    let objects = wtb_tests::files_under(&h.data_dir().join("blobs")).len();

    let opts = ForkOptions {
        state_patch: Some(json!({ "extra": true, "step": null })),
        node_config: vec![(
            "c".into(),
            json!({ "action": "write", "files": { "c.txt": "fork" }, "update": { "n": 30 } }),
        )],
        ..ForkOptions::default()
    };
    let f = exec.travel().fork(b_entry, &opts).await.unwrap();
    assert_eq!((f.parent, f.open.clone()), (original, vec!["b".to_owned()]));
    assert_ne!(f.workflow_digest, wf.digest, "a changed node config is another workflow");
    assert_eq!(exec.status(f.execution).await.unwrap(), ExecutionStatus::Paused);
    assert_eq!(
        contents(&h.workspace(&exec, f.execution).await),
        BTreeMap::from([("notes.txt".to_owned(), b"one\ntwo\nthree\n".to_vec())]),
        "its own workspace"
    );
    assert_eq!(
        wtb_tests::files_under(&h.data_dir().join("blobs")).len(),
        objects,
        "blobs are shared, not copied"
    );

    let s = exec.resume(f.execution, 4).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed);
    assert_eq!(Value::Object(s.state.clone()), json!({ "extra": true, "n": 30, "step": "b" }));
    assert_eq!(
        wtb_tests::files_under(&h.workspace(&exec, f.execution).await),
        ["b.txt", "blob.bin", "c.txt", "notes.txt"]
    );
    let after = (
        exec.inspect().history(original).await.unwrap().checkpoints.len(),
        contents(&h.workspace(&exec, original).await),
        exec.inspect().describe(original).await.unwrap().events.len(),
    );
    assert_eq!(before, after, "the original is untouched");
    let fork_history = exec.inspect().history(f.execution).await.unwrap();
    assert_eq!(fork_history.execution.parent_checkpoint, Some(b_entry));
    assert_eq!(
        fork_history.checkpoints.first().unwrap().checkpoint.node,
        "a",
        "the fork carries the history it came from"
    );

    // Listing finds forks by parent and by checkpoint.
    let by_parent = exec
        .inspect()
        .list(&wtb::db::ListFilter { parent: Some(original), ..Default::default() }, None, 10)
        .await
        .unwrap();
    assert_eq!(by_parent.executions.iter().map(|e| e.id).collect::<Vec<_>>(), [f.execution]);
    let by_cp = exec
        .inspect()
        .list(&wtb::db::ListFilter { fork_of: Some(b_entry), ..Default::default() }, None, 10)
        .await
        .unwrap();
    assert_eq!(by_cp.executions.len(), 1);

    // Diff across executions: the original's end against the fork's end.
    let fork_end = checkpoints(&exec, f.execution).await.pop().unwrap().id;
    let d = exec.inspect().diff(cps.last().unwrap().id, fork_end).await.unwrap();
    assert!(
        d.state.lines.contains(&"~ /n: 3 → 30".to_owned())
            && d.state.lines.contains(&"+ /extra: true".to_owned()),
        "{:?}",
        d.state.lines
    );
    let changed: Vec<(&str, ChangeKind)> = d.files.iter().map(|f| (f.path.as_str(), f.change)).collect();
    assert_eq!(changed, [("b.txt", ChangeKind::Added), ("c.txt", ChangeKind::Added)]);

    // Bad forks: unknown node, a component that is not a node; nothing is created.
    let count = exec.inspect().recent(100).await.unwrap().len();
    let bad = ForkOptions { node_config: vec![("nope".into(), json!({}))], ..Default::default() };
    assert!(exec.travel().fork(b_entry, &bad).await.unwrap_err().to_string().contains("has no node `nope`"));
    let garbage = h.file("garbage.wasm", b"not wasm");
    let bad = ForkOptions { components: vec![("c".into(), garbage)], ..Default::default() };
    assert!(exec.travel().fork(b_entry, &bad).await.unwrap_err().to_string().contains("--component c"));
    let last = cps.last().unwrap().id;
    assert!(
        exec.travel()
            .fork(last, &ForkOptions::default())
            .await
            .unwrap_err()
            .to_string()
            .contains("nothing runs after checkpoint")
    );
    assert_eq!(exec.inspect().recent(100).await.unwrap().len(), count);
}

#[tokio::test(flavor = "multi_thread")]
async fn diffs_show_state_patches_text_diffs_and_binary_sizes() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&three_nodes(&h)).await.unwrap();
    let id = exec.run(&wf, Map::new()).await.unwrap().execution;
    let cps = checkpoints(&exec, id).await;
    let d = exec
        .inspect()
        .diff(find(&cps, "a", CheckpointKind::Exit).id, find(&cps, "b", CheckpointKind::Exit).id)
        .await
        .unwrap();
    let ops = serde_json::to_value(&d.state.patch).unwrap();
    assert!(
        ops.as_array().unwrap().iter().any(|op| op == &json!({ "op": "replace", "path": "/n", "value": 2 })),
        "{ops}"
    );
    let by_path: BTreeMap<&str, &wtb::history::FileDiff> =
        d.files.iter().map(|f| (f.path.as_str(), f)).collect();
    assert_eq!(by_path.keys().copied().collect::<Vec<_>>(), ["b.txt", "blob.bin", "notes.txt"]);
    let Some(TextChange::Text { unified }) = &by_path["notes.txt"].content else {
        panic!("notes.txt is text")
    };
    assert!(
        unified.contains("-two\n") && unified.contains("+TWO\n") && unified.contains(" one\n"),
        "{unified}"
    );
    assert_eq!(by_path["blob.bin"].content, Some(TextChange::Binary { before: 0, after: 3000 }));
    assert_eq!(by_path["notes.txt"].before.as_ref().unwrap().size, 14);
    assert!(matches!(
        exec.inspect().diff("01a20000-0000-7000-8000-000000000000".parse().unwrap(), cps[0].id).await,
        Err(ExecError::UnknownCheckpoint(_))
    ));
    // The same checkpoint twice: nothing differs.
    let same = exec.inspect().diff(cps[1].id, cps[1].id).await.unwrap();
    assert!(same.files.is_empty() && same.state.lines.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_is_rolled_back_or_forked_with_a_fixed_node_and_finishes() {
    let h = Harness::new();
    let exec = h.executor().await;
    let path = h.probe_workflow(
        "broken",
        &[
            ("a", json!({ "action": "write", "files": { "a.txt": "a" }, "update": { "n": 1 } })),
            ("b", json!({ "action": "fail", "message": "bad config", "files": { "a.txt": "vandalised" } })),
        ],
    );
    let wf = exec.load_workflow(&path).await.unwrap();
    let failed = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let cps = checkpoints(&exec, failed.execution).await;
    let b_entry = find(&cps, "b", CheckpointKind::Entry).id;

    // A fork from b's entry with b's config fixed finishes; the failed run stays failed.
    let fixed = ForkOptions {
        node_config: vec![(
            "b".into(),
            json!({ "action": "write", "files": { "b.txt": "b" }, "update": { "n": 2 } }),
        )],
        ..Default::default()
    };
    let f = exec.travel().fork(b_entry, &fixed).await.unwrap();
    let s = exec.resume(f.execution, 4).await.unwrap();
    assert_eq!((s.status, &s.state["n"]), (ExecutionStatus::Completed, &json!(2)));
    assert_eq!(
        contents(&h.workspace(&exec, f.execution).await),
        BTreeMap::from([("a.txt".to_owned(), b"a".to_vec()), ("b.txt".to_owned(), b"b".to_vec())])
    );
    assert_eq!(exec.status(failed.execution).await.unwrap(), ExecutionStatus::Failed);

    // Rolling the failed run back to b's entry reopens b; it fails the same way again, and
    // the history holds both attempts (the first superseded).
    let r = exec.travel().rollback(failed.execution, b_entry).await.unwrap();
    assert_eq!(r.open, ["b"]);
    assert_eq!(
        exec.inspect().describe(failed.execution).await.unwrap().execution.error,
        None,
        "the failure is cleared"
    );
    let again = exec.resume(failed.execution, 4).await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Failed);
    assert_eq!(
        contents(&h.workspace(&exec, failed.execution).await),
        BTreeMap::from([("a.txt".to_owned(), b"a".to_vec())]),
        "the failed attempt's writes are undone"
    );
    let history = exec.inspect().history(failed.execution).await.unwrap();
    let b_exits: Vec<bool> = history
        .checkpoints
        .iter()
        .filter(|c| c.checkpoint.node == "b" && c.checkpoint.kind == CheckpointKind::Exit)
        .map(|c| c.superseded_at.is_some())
        .collect();
    assert_eq!(b_exits, [true, false]);
}
