//! The workflow engine end to end: routing, fan-out and joins (state and files), conflicts,
//! loops, retries, breakpoints, pause/resume and cancel, on real components and a real DB.

use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use wtb::executor::{Breakpoints, ExecError, RunOptions};
use wtb::model::{AttemptStatus, CheckpointKind, ExecutionId, ExecutionStatus};
use wtb_tests::Harness;

/// The diamond: `router` fans out to `left` and `right`, which meet at the join `merge`.
pub fn diamond(left_file: &str, right_file: &str, sleep_ms: u64) -> String {
    let head = "[reducers]\nlog = \"append\"\ntotal = \"sum\"\n\n[state]\nlog = [\"start\"]\ntotal = 1\n";
    diamond_with(
        "diamond",
        head,
        r#"{ action = "write", files = { "base.txt" = "base" }, update = { log = "router" }, events = [["step", { node = "router" }]] }"#,
        &format!(
            r#"{{ action = "write", sleep_ms = {sleep_ms}, files = {{ "{left_file}" = "from left" }}, update = {{ log = "left", total = 10 }}, events = [["step", {{ node = "left" }}]] }}"#
        ),
        &format!(
            r#"{{ action = "write", sleep_ms = {sleep_ms}, files = {{ "{right_file}" = "from right" }}, update = {{ log = "right", total = 100 }}, events = [["step", {{ node = "right" }}]] }}"#
        ),
        r#"{ action = "write", files = { "joined.txt" = "joined" }, update = { log = "merge" }, events = [["step", { node = "merge" }]] }"#,
    )
}

/// A diamond of probe nodes with these configs (inline TOML tables) after `head` (reducers,
/// state): `router` fans out to `left` and `right`, which meet at the join `merge`.
pub fn diamond_with(name: &str, head: &str, router: &str, left: &str, right: &str, merge: &str) -> String {
    let node = |id: &str, config: &str, join: &str| {
        format!("[[nodes]]\nid = \"{id}\"\ncomponent = \"probe.wasm\"\n{join}config = {config}\n\n")
    };
    let edge = |from: &str, to: &str| format!("[[edges]]\nfrom = \"{from}\"\nto = \"{to}\"\n\n");
    let mut m = format!("name = \"{name}\"\n{head}\n");
    m += &node("router", router, "");
    m += &node("left", left, "");
    m += &node("right", right, "");
    m += &node("merge", merge, "join = true\n");
    for (from, to) in [("router", "left"), ("router", "right"), ("left", "merge"), ("right", "merge")] {
        m += &edge(from, to);
    }
    m
}

#[tokio::test]
async fn fan_out_runs_branches_in_their_own_lanes_and_the_join_merges_state_and_files() {
    let h = Harness::new();
    let exec = h.executor().await;
    let path = h.file("diamond.toml", diamond("left.txt", "right.txt", 0));
    let wf = exec.load_workflow(&path).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!(s.attempts, 4);
    // Appends concatenate in input order; sums add both branches' deltas.
    assert_eq!(
        Value::Object(s.state.clone()),
        json!({ "log": ["start", "router", "left", "right", "merge"], "total": 111 })
    );
    let report = exec.inspect().describe(s.execution).await.unwrap();
    let merge_entry = report
        .checkpoints
        .iter()
        .find(|c| c.checkpoint.node == "merge" && c.checkpoint.kind == CheckpointKind::Entry)
        .unwrap();
    let files: Vec<&str> = merge_entry.files.keys().map(String::as_str).collect();
    assert_eq!(files, ["base.txt", "left.txt", "right.txt"], "the join sees both branches' files");
    assert_eq!(merge_entry.checkpoint.parents.len(), 2, "the join's entry follows both branches");
    let lanes: std::collections::BTreeSet<u32> =
        report.checkpoints.iter().map(|c| c.checkpoint.lane).collect();
    assert_eq!(lanes.len(), 2, "two branches, two workspace lanes");
    assert_eq!(report.checkpoints.last().unwrap().checkpoint.node, "merge");
    let ws = h.workspace(&exec, s.execution).await;
    assert_eq!(wtb_tests::files_under(&ws), ["base.txt", "joined.txt", "left.txt", "right.txt"]);
    let steps: Vec<&Value> =
        report.events.iter().filter(|e| e.kind == "guest.step").map(|e| &e.payload["data"]["node"]).collect();
    assert_eq!(steps.len(), 4);
    assert_eq!(report.events.last().unwrap().kind, "execution.completed");
}

#[tokio::test]
async fn branches_changing_one_path_differently_fail_the_join_naming_both() {
    let h = Harness::new();
    let exec = h.executor().await;
    let path = h.file("clash.toml", diamond("same.txt", "same.txt", 0));
    let wf = exec.load_workflow(&path).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    let failure = s.failure.unwrap();
    assert!(
        failure.contains("join `merge`: branches `left` and `right` both changed `same.txt`, differently"),
        "{failure}"
    );
    let report = exec.inspect().describe(s.execution).await.unwrap();
    assert_eq!(
        report.nodes.iter().filter(|n| n.boundary.status == AttemptStatus::Succeeded).count(),
        3,
        "the branches' work is kept"
    );
    assert_eq!(report.execution.error.as_deref(), Some(failure.as_str()));
}

fn router_manifest(route: &str) -> String {
    format!(
        r#"name = "routes"
[[nodes]]
id = "router"
component = "probe.wasm"
config = {{ action = "write", route = "{route}", update = {{ picked = "{route}" }} }}
[[nodes]]
id = "small"
component = "probe.wasm"
config = {{ action = "write", update = {{ ran = "small" }} }}
[[nodes]]
id = "large"
component = "probe.wasm"
config = {{ action = "write", update = {{ ran = "large" }} }}
[[edges]]
from = "router"
to = "small"
label = "small"
[[edges]]
from = "router"
to = "large"
label = "large"
"#
    )
}

#[tokio::test]
async fn a_route_selects_its_labelled_edge_and_an_unknown_label_fails_keeping_state() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&h.file("r.toml", router_manifest("large"))).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!((s.status, s.attempts), (ExecutionStatus::Completed, 2));
    assert_eq!(s.state["ran"], "large");

    let wf = exec.load_workflow(&h.file("bad.toml", router_manifest("medium"))).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    assert_eq!(
        s.failure.as_deref(),
        Some("node `router` chose route `medium`, but no edge from it has that label (labels: large, small)")
    );
    assert_eq!(s.state["picked"], "medium", "the router's own update is kept");
}

fn loop_manifest(until: u64, max_steps: u32) -> String {
    format!(
        r#"name = "loop"
max_steps = {max_steps}
[[nodes]]
id = "body"
component = "probe.wasm"
config = {{ action = "loop", until = {until} }}
[[nodes]]
id = "finish"
component = "probe.wasm"
config = {{ action = "write", update = {{ finished = true }} }}
[[edges]]
from = "body"
to = "body"
label = "again"
[[edges]]
from = "body"
to = "finish"
label = "done"
"#
    )
}

#[tokio::test]
async fn loops_run_until_their_route_exits_and_max_steps_stops_a_runaway() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&h.file("loop.toml", loop_manifest(5, 100))).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!((s.state["counter"].clone(), s.attempts), (json!(5), 6));
    let ws = h.workspace(&exec, s.execution).await;
    assert_eq!(
        wtb_tests::files_under(&ws),
        ["iter-1.txt", "iter-2.txt", "iter-3.txt", "iter-4.txt", "iter-5.txt"]
    );

    let wf = exec.load_workflow(&h.file("runaway.toml", loop_manifest(1000, 4))).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    assert_eq!(
        s.failure.as_deref(),
        Some("max_steps (4) reached: node `body` would be attempt 5 of this execution")
    );
    assert_eq!(s.state["counter"], 4);
}

#[tokio::test]
async fn retryable_errors_are_retried_with_backoff_each_attempt_its_own_boundary() {
    let h = Harness::new();
    let exec = h.executor().await;
    let manifest = r#"name = "flaky"
[[nodes]]
id = "flaky"
component = "probe.wasm"
config = { action = "flaky", succeed_on = 3 }
retry = { max_attempts = 3, backoff_ms = 5, max_backoff_ms = 20 }
"#;
    let wf = exec.load_workflow(&h.file("flaky.toml", manifest)).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!(s.state["attempts"], 3);
    let report = exec.inspect().describe(s.execution).await.unwrap();
    let attempts: Vec<(u32, AttemptStatus)> =
        report.nodes.iter().map(|n| (n.boundary.attempt, n.boundary.status)).collect();
    assert_eq!(
        attempts,
        [(1, AttemptStatus::GuestError), (2, AttemptStatus::GuestError), (3, AttemptStatus::Succeeded)]
    );
    assert!(report.nodes.iter().all(|n| n.boundary.exit_checkpoint.is_some()));
    assert_eq!(
        wtb_tests::files_under(&h.workspace(&exec, s.execution).await),
        ["attempt-3.txt"],
        "failed attempts' writes are undone"
    );
    let retry_in: Vec<Value> = report
        .events
        .iter()
        .filter(|e| e.kind == "node.failed")
        .map(|e| e.payload["retry_in_ms"].clone())
        .collect();
    assert_eq!(retry_in, [json!(5), json!(10)]);

    let exhausted = manifest.replace("succeed_on = 3", "succeed_on = 9");
    let wf = exec.load_workflow(&h.file("exhausted.toml", exhausted)).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    assert!(s.failure.unwrap().contains("retryable: attempt 3 is too early"));
}

#[tokio::test]
async fn breakpoints_pause_and_resume_continues_with_state_and_files_intact() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&h.file("d.toml", diamond("left.txt", "right.txt", 0))).await.unwrap();
    let opts = RunOptions {
        breakpoints: Breakpoints { before: vec!["merge".into()], after: vec!["router".into()] },
        parallelism: 2,
        ..RunOptions::default()
    };
    let s = exec.run_with(&wf, Map::new(), &opts).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Paused);
    assert_eq!(s.paused.as_deref(), Some("breakpoint after `router`"));
    assert_eq!(s.attempts, 1);
    let report = exec.inspect().describe(s.execution).await.unwrap();
    assert_eq!(report.execution.status, ExecutionStatus::Paused);
    assert_eq!(
        wtb_tests::files_under(&h.workspace(&exec, s.execution).await),
        ["base.txt"],
        "files at the pause are inspectable"
    );

    let resumed_at = exec.clock().now();
    let s = exec.resume(s.execution, 2).await.unwrap();
    assert_eq!((s.status, s.paused.as_deref()), (ExecutionStatus::Paused, Some("breakpoint before `merge`")));
    // The branches' entries were written before the pause; their attempts started after it,
    // and that is what their rows say (the pause is not the nodes' time).
    let report = exec.inspect().describe(s.execution).await.unwrap();
    let entry_at =
        |id| report.checkpoints.iter().find(|c| c.checkpoint.id == id).unwrap().checkpoint.created_at;
    for b in report.nodes.iter().map(|n| &n.boundary).filter(|b| ["left", "right"].contains(&b.node.as_str()))
    {
        assert!(entry_at(b.entry_checkpoint) < resumed_at, "{b:?}");
        assert!(b.started_at >= resumed_at && b.finished_at.is_some_and(|f| f >= b.started_at), "{b:?}");
    }
    assert_eq!(s.attempts, 2, "both branches ran, the join waits");
    let s = exec.resume(s.execution, 2).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!(s.state["total"], 111);

    let err = exec.resume(s.execution, 2).await.unwrap_err();
    assert_eq!(err.to_string(), "cannot resume an execution that is completed");
    let unknown = ExecutionId::from_uuid(uuid::Uuid::from_u128(42));
    assert!(matches!(exec.request_pause(unknown).await, Err(ExecError::UnknownExecution(_))));
    assert!(matches!(exec.request_pause(s.execution).await, Err(ExecError::Illegal(_))));
    assert!(matches!(exec.cancel(s.execution).await, Err(ExecError::Illegal(_))));
    let events = exec.inspect().describe(s.execution).await.unwrap().events;
    let kinds: Vec<&str> =
        events.iter().map(|e| e.kind.as_str()).filter(|k| k.starts_with("execution.")).collect();
    assert_eq!(
        kinds,
        [
            "execution.started",
            "execution.paused",
            "execution.resumed",
            "execution.paused",
            "execution.resumed",
            "execution.completed"
        ]
    );
}

#[tokio::test]
async fn cancel_interrupts_a_running_guest_and_records_it() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&spinning(&h)).await.unwrap();
    let started = Instant::now();
    let (s, asked) = tokio::join!(exec.run(&wf, Map::new()), cancel_once_running(&exec, started));
    let s = s.unwrap();
    assert_eq!(s.status, ExecutionStatus::Cancelled);
    assert!(
        asked.elapsed() < Duration::from_secs(5) && started.elapsed() < Duration::from_secs(30),
        "interrupted, not timed out"
    );
    let report = exec.inspect().describe(s.execution).await.unwrap();
    assert_eq!(report.nodes[0].boundary.status, AttemptStatus::Cancelled);
    assert_eq!(report.execution.status, ExecutionStatus::Cancelled);
    assert!(
        wtb_tests::files_under(&h.workspace(&exec, s.execution).await).is_empty(),
        "the interrupted node's writes are undone"
    );
}

/// A one-node workflow whose guest spins until it is stopped (time limit 60 s).
fn spinning(h: &Harness) -> std::path::PathBuf {
    h.probe_workflow_with_limits(
        "spin",
        &[("spin", json!({ "action": "spin" }))],
        Some(json!({ "timeout_ms": 60_000 })),
    )
}

/// Waits until an execution shows up as `running`, asks its process to cancel it, and
/// returns when it asked.
async fn cancel_once_running(exec: &wtb::executor::Executor, started: Instant) -> Instant {
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "the execution never showed up as running");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let running = exec.inspect().recent(10).await.unwrap();
        if let Some(e) = running.iter().find(|e| e.status == ExecutionStatus::Running) {
            assert!(exec.cancel(e.id).await.unwrap().is_none(), "a live run is asked, not taken over");
            return Instant::now();
        }
    }
}

#[tokio::test]
async fn a_resumed_execution_shows_as_running_and_can_be_cancelled() {
    // A running drive leaves the status column alone; the resumed drive's first transaction
    // must still turn `paused` back into `running` (else `wtb pause`/`cancel` would not reach it).
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&spinning(&h)).await.unwrap();
    let opts = RunOptions {
        breakpoints: Breakpoints { before: vec!["spin".into()], after: vec![] },
        ..RunOptions::default()
    };
    let paused = exec.run_with(&wf, Map::new(), &opts).await.unwrap();
    assert_eq!(paused.status, ExecutionStatus::Paused);
    let started = Instant::now();
    let (s, _) = tokio::join!(exec.resume(paused.execution, 1), cancel_once_running(&exec, started));
    assert_eq!(s.unwrap().status, ExecutionStatus::Cancelled);
    assert_eq!(
        exec.inspect().describe(paused.execution).await.unwrap().execution.status,
        ExecutionStatus::Cancelled
    );
}

#[tokio::test]
async fn the_branching_and_loop_examples_run() {
    let h = Harness::new();
    let exec = h.executor().await;
    let dir = h.dir.path().join("examples");
    wtb::demo::materialize(&dir).unwrap();
    let wf = exec.load_workflow(&dir.join("branching.toml")).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!(
        (s.state["last_route"].as_str(), s.state["counter"].as_u64(), s.state["report"].as_str()),
        (Some("full"), Some(1), Some("report.md"))
    );
    let report = exec.inspect().describe(s.execution).await.unwrap();
    let ran: Vec<&str> = report.nodes.iter().map(|n| n.boundary.node.as_str()).collect();
    assert_eq!(ran.len(), 5, "{ran:?}");
    assert!(!ran.contains(&"nothing"));
    let s = exec.run(&wf, serde_json::from_value(json!({ "rows": 0 })).unwrap()).await.unwrap();
    assert_eq!((s.status, s.state["greeted"].as_str()), (ExecutionStatus::Completed, Some("nobody")));

    let wf = exec.load_workflow(&dir.join("loop.toml")).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!((s.state["counter"].as_u64(), s.attempts), (Some(5), 11));
    // Without the `append` reducer, each counter reads the whole list and returns it longer.
    assert_eq!(s.state["log"], json!(vec!["step was here"; 5]));
}
