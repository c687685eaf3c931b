//! In-memory workspaces end to end: every kind of file change, failures undone, retries,
//! fan-out and join, rollback, resume and fork record the checkpoints (states and file trees)
//! they must, the same on two hosts, and leave nothing on the host disk. (That a guest sees
//! what it would see in a host directory is `vfs_differential`'s to prove.)

use crate::engine::diamond;
use serde_json::{Map, Value, json};
use wtb::executor::{Executor, ForkOptions};
use wtb::model::{CheckpointKind, ExecutionId, ExecutionStatus, TrapKind};
use wtb_tests::Harness;

/// What a run recorded, without ids and times: per live checkpoint its node, kind, state and
/// files (kind, digest, size).
async fn recorded(exec: &Executor, id: ExecutionId) -> Vec<Value> {
    let report = exec.inspect().describe(id).await.unwrap();
    report
        .checkpoints
        .iter()
        .map(|c| {
            let files: Vec<Value> = c
                .files
                .iter()
                .map(|(p, e)| json!([p, e.kind.to_string(), e.digest.map(|d| d.to_string()), e.size]))
                .collect();
            json!({ "node": c.checkpoint.node, "kind": format!("{:?}", c.checkpoint.kind),
                    "state": *c.checkpoint.state, "files": files })
        })
        .collect()
}

const MUTATE: &str = r#"{ action = "mutate", ops = [
    { op = "mkdir", path = "d" }, { op = "mkdir", path = "d/sub" },
    { op = "write", path = "d/a.txt", text = "alpha" }, { op = "append", path = "d/a.txt", text = "+more" },
    { op = "write", path = "t.txt", text = "0123456789" }, { op = "truncate", path = "t.txt", size = 4 },
    { op = "overwrite", path = "t.txt", at = 2, text = "XY" }, { op = "write_at", path = "t.txt", at = 8, text = "!" },
    { op = "hard_link", from = "d/a.txt", to = "hard.txt" }, { op = "append", path = "hard.txt", text = "|linked" },
    { op = "symlink", target = "d/a.txt", link = "ln" }, { op = "rename", from = "d/sub", to = "moved" },
    { op = "write", path = "moved/deep.txt", text = "deep" }, { op = "write", path = "gone.txt", text = "x" },
    { op = "unlink", path = "gone.txt" }, { op = "mkdir", path = "tree" }, { op = "write", path = "tree/f", text = "f" },
    { op = "remove_tree", path = "tree" } ] }"#;

/// Every kind of change, then a node that vandalises and fails (undone), then one that fails
/// twice before succeeding (each retry starts from the entry's files), then a fan-out.
fn workflow(h: &Harness) -> std::path::PathBuf {
    let manifest = format!(
        r#"name = "modes"
[[nodes]]
id = "mutate"
component = "probe.wasm"
config = {MUTATE}

[[nodes]]
id = "flaky"
component = "probe.wasm"
config = {{ action = "flaky", succeed_on = 3 }}
retry = {{ max_attempts = 3, backoff_ms = 1, max_backoff_ms = 2 }}

[[nodes]]
id = "big"
component = "probe.wasm"
config = {{ action = "write", files = {{ "d/a.txt" = "rewritten" }}, sized = {{ "large.bin" = 200000 }}, delete = ["hard.txt"] }}

[[edges]]
from = "mutate"
to = "flaky"

[[edges]]
from = "flaky"
to = "big"
"#
    );
    h.file("modes.toml", manifest)
}

/// A checkpoint's files as `path kind size`.
fn listing(checkpoint: &Value) -> Vec<String> {
    let files = checkpoint["files"].as_array().unwrap();
    files.iter().map(|f| format!("{} {} {}", f[0].as_str().unwrap(), f[1].as_str().unwrap(), f[3])).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_failure_retry_and_join_is_recorded_the_same_on_two_hosts() {
    let (one, two) = (Harness::new(), Harness::new());
    let (a, b) = (one.executor().await, two.executor().await);
    let (wa, wb) =
        (a.load_workflow(&workflow(&one)).await.unwrap(), b.load_workflow(&workflow(&two)).await.unwrap());
    let (ra, rb) = (a.run(&wa, Map::new()).await.unwrap(), b.run(&wb, Map::new()).await.unwrap());
    assert_eq!(ra.status, ExecutionStatus::Completed, "{:?}", ra.failure);
    let recorded_a = recorded(&a, ra.execution).await;
    assert_eq!(recorded(&b, rb.execution).await, recorded_a, "two hosts record the same");
    let exit =
        |node: &str| recorded_a.iter().rev().find(|c| c["kind"] == "Exit" && c["node"] == node).unwrap();
    // `hard.txt` is a second name of `d/a.txt` (both got `|linked`); `t.txt` was cut to 4
    // bytes, then written at 8 (a hole of 4); `ln` holds its target; `gone.txt` and `tree`
    // came and went.
    let mutated = [
        "d dir 0",
        "d/a.txt file 17",
        "hard.txt file 17",
        "ln symlink 7",
        "moved dir 0",
        "moved/deep.txt file 4",
        "t.txt file 9",
    ];
    assert_eq!(listing(exit("mutate")), mutated);
    // Two failed attempts of `flaky` wrote `partial.txt`; the retries start from the entry's
    // files, so only the third's file is there.
    let flaky: Vec<String> =
        listing(exit("flaky")).into_iter().filter(|f| !mutated.contains(&f.as_str())).collect();
    assert_eq!(flaky, ["attempt-3.txt file 2"]);
    assert_eq!(
        listing(exit("big")),
        [
            "attempt-3.txt file 2",
            "d dir 0",
            "d/a.txt file 9",
            "large.bin file 200000",
            "ln symlink 7",
            "moved dir 0",
            "moved/deep.txt file 4",
            "t.txt file 9",
        ]
    );
    // Fan-out and join: lanes of their own, merged at the join.
    let (wa, wb) = (
        a.load_workflow(&one.file("d.toml", diamond("left.txt", "right.txt", 0))).await.unwrap(),
        b.load_workflow(&two.file("d.toml", diamond("left.txt", "right.txt", 0))).await.unwrap(),
    );
    let opts = wtb::executor::RunOptions { parallelism: 2, ..Default::default() };
    let (ra, rb) = (
        a.run_with(&wa, Map::new(), &opts).await.unwrap(),
        b.run_with(&wb, Map::new(), &opts).await.unwrap(),
    );
    let (fa, fb) = (recorded(&a, ra.execution).await, recorded(&b, rb.execution).await);
    let sorted = |v: &[Value]| {
        let mut v: Vec<String> = v.iter().map(|c| c.to_string()).collect();
        v.sort(); // parallel lanes finish in either order
        v
    };
    assert_eq!(sorted(&fb), sorted(&fa), "fan-out and join");
    let joined = listing(fa.last().unwrap());
    assert!(
        joined.contains(&"left.txt file 9".to_owned()) && joined.contains(&"right.txt file 10".to_owned()),
        "{joined:?}"
    );
    for h in [&one, &two] {
        let workspaces = h.data_dir().join("workspaces");
        assert!(
            !workspaces.exists() || !workspaces.read_dir().unwrap().any(|_| true),
            "a run leaves nothing under workspaces/"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_resume_and_fork_restore_files_in_memory() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&workflow(&h)).await.unwrap();
    let id = exec.run(&wf, Map::new()).await.unwrap().execution;
    let straight = recorded(&exec, id).await;
    let report = exec.inspect().describe(id).await.unwrap();
    let entry = |node: &str| {
        report
            .checkpoints
            .iter()
            .find(|c| c.checkpoint.node == node && c.checkpoint.kind == CheckpointKind::Entry)
            .unwrap()
            .checkpoint
            .id
    };
    // Back to `big`'s entry: the rerun must see `mutate`'s files, loaded from the store.
    exec.travel().rollback(id, entry("big")).await.unwrap();
    let resumed = exec.resume(id, 1).await.unwrap();
    assert_eq!(resumed.status, ExecutionStatus::Completed, "{:?}", resumed.failure);
    assert_eq!(recorded(&exec, id).await, straight, "the live line is the straight run's again");
    let forked = exec.travel().fork(entry("flaky"), &ForkOptions::default()).await.unwrap();
    let fork = exec.resume(forked.execution, 1).await.unwrap();
    assert_eq!(fork.status, ExecutionStatus::Completed, "{:?}", fork.failure);
    assert_eq!(recorded(&exec, forked.execution).await, straight, "the fork ran the same way");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_memory_for_workspaces_bounds_a_guest_whatever_its_quota() {
    let h = Harness::new();
    h.config("workspace_memory_mib = 1\n").unwrap();
    let exec = h.executor().await;
    let wf = exec
        .load_workflow(&h.probe_workflow_with_limits(
            "bomb",
            &[("fill", json!({ "action": "fill", "path": "bomb.bin", "bytes": 8u64 << 20 }))],
            Some(json!({ "disk_mib": 1024 })),
        ))
        .await
        .unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    let report = exec.inspect().describe(s.execution).await.unwrap();
    let attempt = &report.nodes[0].boundary;
    assert_eq!(attempt.trap, Some(TrapKind::DiskQuotaExceeded), "{:?}", attempt.error);
    assert!(attempt.error.as_deref().unwrap_or("").contains("memory for workspaces"), "{:?}", attempt.error);
    // The memory went back to the pool: the next run of the same host can use it.
    let small = exec
        .load_workflow(&h.probe_workflow(
            "small",
            &[("w", json!({ "action": "fill", "path": "ok.bin", "bytes": 512 << 10 }))],
        ))
        .await
        .unwrap();
    let s = exec.run(&small, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
}

#[tokio::test(flavor = "multi_thread")]
async fn deterministic_mode_stamps_files_with_virtual_time_and_leaves_the_guest_s_clock_alone() {
    let manifest = "name = \"det\"\nseed = 7\n[[nodes]]\nid = \"m\"\ncomponent = \"probe.wasm\"\nconfig = { action = \"mtime\", path = \"t.txt\" }\n\n[[nodes]]\nid = \"o\"\ncomponent = \"probe.wasm\"\nconfig = { action = \"observe\" }\n\n[[edges]]\nfrom = \"m\"\nto = \"o\"\n";
    // The third run observes the clocks without writing a file first.
    let observe_only = "name = \"det\"\nseed = 7\n[[nodes]]\nid = \"o\"\ncomponent = \"probe.wasm\"\nconfig = { action = \"observe\" }\n";
    let mut observed = Vec::new();
    for manifest in [manifest, manifest, observe_only] {
        let h = Harness::new();
        let exec = h.executor().await;
        let wf = exec.load_workflow(&h.file("det.toml", manifest)).await.unwrap();
        let s = exec.run(&wf, Map::new()).await.unwrap();
        assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
        observed.push((s.state.get("mtime").and_then(Value::as_u64), s.state["observed"].clone()));
    }
    let (first, seen) = (observed[0].0.unwrap(), &observed[0].1);
    assert_eq!(observed[1], observed[0], "the same seed stamps the same file time and shows the same clocks");
    let year_2020 = 1_577_836_800_000_000_000u64;
    assert!(
        (year_2020..year_2020 + 5 * 365 * 86_400 * 1_000_000_000).contains(&first),
        "{first}: the seed's era"
    );
    assert_eq!(&observed[2].1, seen, "filesystem calls do not move the clocks the guest reads");
}
