//! A guest's own error, a trap and broken output: recorded distinctly, workspace restored,
//! the host carries on.

use serde_json::{Map, json};
use wtb::model::{AttemptStatus, CheckpointKind, ExecutionStatus, TrapKind};
use wtb_tests::Harness;

/// Runs a setup node that writes `keep.txt`, then a node with `config`; returns the report.
async fn run_second_node(
    h: &Harness,
    name: &str,
    config: serde_json::Value,
    limits: Option<serde_json::Value>,
) -> wtb::executor::ExecutionReport {
    let exec = h.executor().await;
    let wf = h.probe_workflow_with_limits(
        name,
        &[
            (
                "setup",
                json!({ "action": "write", "files": { "keep.txt": "kept" }, "update": { "ready": true } }),
            ),
            ("victim", config),
        ],
        limits,
    );
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    let r = exec.inspect().describe(s.execution).await.unwrap();
    // The failed exit checkpoint keeps the entry's state and files; the workspace is put back.
    let (entry, exit) = (&r.checkpoints[2], &r.checkpoints[3]);
    assert_eq!((entry.checkpoint.kind, exit.checkpoint.kind), (CheckpointKind::Entry, CheckpointKind::Exit));
    assert_eq!(exit.checkpoint.state, entry.checkpoint.state);
    assert_eq!(exit.checkpoint.file_commit, entry.checkpoint.file_commit);
    assert_eq!(wtb_tests::files_under(&h.workspace(&exec, s.execution).await), ["keep.txt"]);
    assert_eq!(
        r.events.iter().rev().take(2).map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["execution.failed", "node.failed"]
    );
    assert_eq!(r.execution.status, ExecutionStatus::Failed);
    assert!(r.execution.error.as_deref().unwrap_or("").contains("`victim`"));
    exec.close().await;
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_error_and_panic_are_recorded_differently_and_the_host_keeps_going() {
    let h = Harness::new();
    let r = run_second_node(&h, "guest-error", json!({ "action": "fail", "message": "no data today" }), None)
        .await;
    let b = &r.nodes[1].boundary;
    assert_eq!((b.status, b.trap), (AttemptStatus::GuestError, None));
    assert_eq!(b.error.as_deref(), Some("failed: no data today"));

    // Config the node's types reject: the SDK answers `invalid-input` before the node runs.
    let r = run_second_node(&h, "invalid-input", json!({ "action": "no_such_action" }), None).await;
    let b = &r.nodes[1].boundary;
    assert_eq!(b.status, AttemptStatus::GuestError);
    assert!(
        b.error
            .as_deref()
            .unwrap()
            .starts_with("invalid-input: config.action: unknown variant `no_such_action`"),
        "{:?}",
        b.error
    );

    let r = run_second_node(&h, "panic", json!({ "action": "panic", "message": "index out of range" }), None)
        .await;
    let b = &r.nodes[1].boundary;
    assert_eq!((b.status, b.trap), (AttemptStatus::Trapped, Some(TrapKind::GuestPanic)));
    assert!(b.error.as_deref().unwrap().starts_with("index out of range (at "), "{:?}", b.error);
    assert!(b.stderr.contains("panicked"), "stderr is kept: {}", b.stderr);

    // The same process runs the next workflow normally.
    let exec = h.executor().await;
    let wf = exec
        .load_workflow(&h.probe_workflow("after", &[("ok", json!({ "action": "write" }))]))
        .await
        .unwrap();
    assert_eq!(exec.run(&wf, Map::new()).await.unwrap().status, ExecutionStatus::Completed);
}

#[tokio::test(flavor = "multi_thread")]
async fn output_that_is_not_a_json_object_is_invalid_output() {
    let h = Harness::new();
    let r = run_second_node(&h, "bad-json", json!({ "action": "bad_json" }), None).await;
    let b = &r.nodes[1].boundary;
    assert_eq!(b.status, AttemptStatus::InvalidOutput);
    assert!(b.error.as_deref().unwrap().contains("not valid JSON"), "{:?}", b.error);
    let r = run_second_node(&h, "not-object", json!({ "action": "not_object" }), None).await;
    assert!(r.nodes[1].boundary.error.as_deref().unwrap().contains("must be a JSON object, got an array"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_is_stopped_by_the_time_limit() {
    let h = Harness::new();
    let started = std::time::Instant::now();
    let r =
        run_second_node(&h, "spin", json!({ "action": "spin" }), Some(json!({ "timeout_ms": 300 }))).await;
    let b = &r.nodes[1].boundary;
    assert_eq!((b.status, b.trap), (AttemptStatus::Trapped, Some(TrapKind::Timeout)));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_hits_the_memory_limit() {
    let h = Harness::new();
    let r = run_second_node(&h, "hog", json!({ "action": "hog" }), Some(json!({ "memory_mib": 64 }))).await;
    let b = &r.nodes[1].boundary;
    assert_eq!((b.status, b.trap), (AttemptStatus::Trapped, Some(TrapKind::OutOfMemory)), "{:?}", b.error);
    assert!(b.peak_memory_bytes.unwrap() <= 64 << 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_node_s_modifications_and_deletions_are_undone() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow("vandal", &[
        ("setup", json!({ "action": "write", "files": { "keep.txt": "kept", "dir/a.txt": "a", "dir/sub/b.txt": "b" }, "sized": { "big.bin": 100_000 } })),
        ("vandal", json!({
            "action": "fail", "message": "oops",
            "files": { "keep.txt": "CHANGED", "big.bin": "small now", "new/x.txt": "x" },
            "delete": ["dir"],
        })),
    ]);
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    let ws = h.workspace(&exec, s.execution).await;
    assert_eq!(wtb_tests::files_under(&ws), ["big.bin", "dir/a.txt", "dir/sub/b.txt", "keep.txt"]);
    assert_eq!(std::fs::read_to_string(ws.join("keep.txt")).unwrap(), "kept");
    assert_eq!(std::fs::read_to_string(ws.join("dir/sub/b.txt")).unwrap(), "b");
    let big = std::fs::read(ws.join("big.bin")).unwrap();
    assert_eq!(
        wtb_tests::digest(&big),
        wtb_tests::digest(&(0..100_000usize).map(|i| (i % 251) as u8).collect::<Vec<_>>())
    );
    assert!(!ws.join("new").exists() && !ws.join("planted-link").exists());
}
