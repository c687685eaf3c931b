//! The adversarial guest suite: each hostile behaviour ends with its typed outcome in bounded
//! time, the workspace is put back, nothing lands on the host beyond the quota, and the same
//! process then runs a normal execution.

use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use wtb::executor::Executor;
use wtb::model::{AttemptStatus, ExecutionStatus, NodeBoundary, TrapKind};
use wtb_tests::Harness;

/// Runs one probe node with `config` and `limits`; returns the execution status and the
/// node's boundary, and checks the host can still run a normal node afterwards.
async fn run_one(
    h: &Harness,
    exec: &Executor,
    name: &str,
    config: Value,
    limits: Option<Value>,
) -> (ExecutionStatus, NodeBoundary, Duration) {
    let wf = exec
        .load_workflow(&h.probe_workflow_with_limits(name, &[("hostile", config)], limits))
        .await
        .unwrap();
    let started = Instant::now();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    let took = started.elapsed();
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let after = exec
        .load_workflow(&h.probe_workflow(
            &format!("{name}-after"),
            &[("ok", json!({ "action": "write", "files": { "a.txt": "a" } }))],
        ))
        .await
        .unwrap();
    assert_eq!(
        exec.run(&after, Map::new()).await.unwrap().status,
        ExecutionStatus::Completed,
        "a normal run after `{name}`"
    );
    (s.status, r.nodes[0].boundary.clone(), took)
}

pub(crate) fn trapped(b: &NodeBoundary, kind: TrapKind) {
    assert_eq!((b.status, b.trap), (AttemptStatus::Trapped, Some(kind)), "{:?}", b.error);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disk_bomb_is_stopped_at_its_quota_while_it_writes() {
    let h = Harness::new();
    let exec = h.executor().await;
    let (status, b, took) = run_one(
        &h,
        &exec,
        "disk-bomb",
        json!({ "action": "fill", "path": "big.bin", "bytes": 1u64 << 30 }),
        Some(json!({ "disk_mib": 16 })),
    )
    .await;
    assert_eq!(status, ExecutionStatus::Failed);
    trapped(&b, TrapKind::DiskQuotaExceeded);
    assert!(b.error.as_deref().unwrap().contains("over the 16777216-byte disk quota"), "{:?}", b.error);
    assert!(b.disk_bytes.unwrap() <= 16 << 20, "charged {:?}", b.disk_bytes);
    assert!(took < Duration::from_secs(20), "stopped early, not after writing 1 GiB: {took:?}");
    // The failed attempt's file is gone: the workspace is back at the entry commit.
    assert!(wtb_tests::files_under(&h.workspace(&exec, b.execution).await).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_files_stop_at_the_file_limit() {
    let h = Harness::new();
    let exec = h.executor().await;
    let (_, b, _) = run_one(
        &h,
        &exec,
        "many-files",
        json!({ "action": "many_files", "dir": "swarm", "count": 100_000 }),
        Some(json!({ "max_files": 500 })),
    )
    .await;
    trapped(&b, TrapKind::DiskQuotaExceeded);
    assert!(b.error.as_deref().unwrap().contains("over the limit of 500"), "{:?}", b.error);
    assert_eq!(b.files_created, Some(500));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_deeper_than_any_path_is_refused_at_capture() {
    let h = Harness::new();
    let exec = h.executor().await;
    // 40 levels of 200-byte names: the deepest path is 8 KB, past the 4,095 bytes any one call
    // may pass; capture refuses it instead of recording it.
    let chain = json!({ "action": "deep_chain", "depth": 40, "name": "n".repeat(200) });
    let (status, b, _) = run_one(&h, &exec, "chain", chain, None).await;
    assert_eq!(status, ExecutionStatus::Failed);
    trapped(&b, TrapKind::SandboxViolation);
    assert!(b.error.as_deref().unwrap().contains("longer than 4095 bytes"), "{:?}", b.error);
    // 9,000 levels of 255-byte names would be 10 GB of paths listed whole; capture stops at
    // the first path too long, so memory stays bounded.
    let chain = json!({ "action": "deep_chain", "depth": 9_000, "name": "m".repeat(255) });
    let (_, b, _) = run_one(&h, &exec, "chain-deep", chain, Some(json!({ "timeout_ms": 120_000 }))).await;
    trapped(&b, TrapKind::SandboxViolation);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_sparse_file_is_refused_at_set_size_by_the_quota_or_the_host_s_memory() {
    let h = Harness::new();
    let exec = h.executor().await;
    let sparse = json!({ "action": "sparse", "path": "hole.bin", "size": 1u64 << 40 });
    let (_, b, _) = run_one(&h, &exec, "sparse", sparse.clone(), None).await;
    trapped(&b, TrapKind::DiskQuotaExceeded);
    assert!(
        b.error.as_deref().unwrap().starts_with("set-size would grow the workspace by 1099511627776 bytes"),
        "{:?}",
        b.error
    );
    // With a quota big enough to allow it, the host's memory for workspaces refuses it (a
    // terabyte of zeroes is not kept, nor read at capture).
    let (_, b, took) =
        run_one(&h, &exec, "sparse-big-quota", sparse, Some(json!({ "disk_mib": 2u64 << 20 }))).await;
    trapped(&b, TrapKind::DiskQuotaExceeded);
    assert!(b.error.as_deref().unwrap().contains("the host's memory for workspaces"), "{:?}", b.error);
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stdout_flood_is_output_too_large() {
    let h = Harness::new();
    let exec = h.executor().await;
    let (_, b, _) = run_one(
        &h,
        &exec,
        "flood",
        json!({ "action": "flood", "bytes": 200u64 << 20 }),
        Some(json!({ "output_bytes": 65536 })),
    )
    .await;
    trapped(&b, TrapKind::OutputTooLarge);
    assert_eq!(b.error.as_deref(), Some("wrote more than 65536 bytes to stdout"));
    assert_eq!(b.stdout.len(), 65536, "what fits is kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_recursion_is_a_stack_overflow() {
    let h = Harness::new();
    let exec = h.executor().await;
    let (_, b, _) = run_one(&h, &exec, "recurse", json!({ "action": "recurse" }), None).await;
    trapped(&b, TrapKind::StackOverflow);
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_stops_an_endless_loop_after_the_same_work_everywhere() {
    let h = Harness::new();
    let exec = h.executor().await;
    let (_, b, _) =
        run_one(&h, &exec, "fuel", json!({ "action": "spin" }), Some(json!({ "fuel": 5_000_000 }))).await;
    trapped(&b, TrapKind::OutOfFuel);
    assert_eq!(b.fuel_used, Some(5_000_000));
    // A node within its budget reports what it burned.
    let (status, b, _) = run_one(
        &h,
        &exec,
        "fuel-ok",
        json!({ "action": "write", "files": { "x": "y" } }),
        Some(json!({ "fuel": 50_000_000 })),
    )
    .await;
    assert_eq!(status, ExecutionStatus::Completed);
    assert!(b.fuel_used.unwrap() > 0 && b.fuel_used.unwrap() < 50_000_000, "{:?}", b.fuel_used);
    assert_eq!((b.disk_bytes, b.files_created), (Some(1), Some(1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_sees_only_its_declared_args_and_env() {
    let h = Harness::new();
    let exec = h.executor().await;
    let manifest = h.file("environ.toml", "name = \"environ\"\n[[nodes]]\nid = \"look\"\ncomponent = \"probe.wasm\"\nconfig = { action = \"environ\" }\nargs = [\"--flag\", \"value\"]\nenv = { ONLY = \"this\" }\n");
    let wf = exec.load_workflow(&manifest).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.state["args"], json!(["look", "--flag", "value"]));
    assert_eq!(s.state["env"], json!({ "ONLY": "this" }), "no host variable leaks in");
}

#[tokio::test(flavor = "multi_thread")]
async fn fixtures_are_readable_read_only_and_not_captured() {
    let h = Harness::new();
    std::fs::create_dir_all(h.dir.path().join("fixtures/data")).unwrap();
    h.file("fixtures/data/input.txt", "fixture text");
    let exec = h.executor().await;
    let manifest = h.file(
        "fixture.toml",
        "name = \"fixture\"\n[[nodes]]\nid = \"reader\"\ncomponent = \"probe.wasm\"\nconfig = { action = \"read_file\", path = \"/data/input.txt\", write_to = \"/data/new.txt\" }\nfixtures = { \"/data\" = \"fixtures/data\" }\n",
    );
    let wf = exec.load_workflow(&manifest).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!(s.state["read"], "fixture text");
    assert!(s.state["write"].as_str().unwrap().starts_with("denied"), "{}", s.state["write"]);
    assert!(!h.dir.path().join("fixtures/data/new.txt").exists());
    let r = exec.inspect().describe(s.execution).await.unwrap();
    assert!(r.checkpoints.last().unwrap().files.is_empty(), "fixture files are inputs, not workspace files");

    // A mount point that is not absolute, or a directory that is missing: refused at load.
    for (fixtures, expect) in [
        ("{ \"data\" = \"fixtures/data\" }", "must be an absolute path"),
        ("{ \"/data\" = \"nope\" }", "fixture directory"),
        ("{ \"/\" = \"fixtures\" }", "is the workspace"),
    ] {
        let bad = h.file(
            "bad-fixture.toml",
            format!(
                "name = \"b\"\n[[nodes]]\nid = \"r\"\ncomponent = \"probe.wasm\"\nfixtures = {fixtures}\n"
            ),
        );
        let e = exec.load_workflow(&bad).await.err().expect("refused").to_string();
        assert!(e.contains(expect) && e.contains("nodes[0].fixtures"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_that_make_no_sense_are_refused_with_the_limit_and_value() {
    let h = Harness::new();
    let exec = h.executor().await;
    for (limits, expect) in [
        ("{ memory_mib = 0 }", "`memory_mib` = 0 makes no sense"),
        ("{ timeout_ms = 0 }", "`timeout_ms` = 0 makes no sense"),
        ("{ memory_mib = 5000 }", "`memory_mib` = 5000 makes no sense: it must be between 1 and 4096"),
        ("{ fuel = 0 }", "`fuel` = 0"),
        ("{ timeout_ms = -5 }", "-5"),
        ("{ disk_gib = 1 }", "unknown field `disk_gib`"),
    ] {
        let path = h.file(
            "bad-limits.toml",
            format!("name = \"b\"\n[[nodes]]\nid = \"n\"\ncomponent = \"probe.wasm\"\nlimits = {limits}\n"),
        );
        let e = exec.load_workflow(&path).await.err().expect("refused").to_string();
        assert!(e.contains(expect) && e.contains("bad-limits.toml:5:"), "{limits}: {e}");
    }
    // The same checks guard the runtime config's defaults.
    h.config("[limits]\nmemory_mib = 0\n").unwrap();
    let e = wtb::config::DataDir::open(&h.data_dir()).err().map(|e| e.to_string()).expect("refused");
    assert!(e.contains("[limits] `memory_mib` = 0 makes no sense"), "{e}");
}

/// Finding 3 of the security issue: 40 events of ~1 MiB each were all held (as parsed trees,
/// then cloned). The total per attempt is capped, and going past it ends the attempt.
#[tokio::test(flavor = "multi_thread")]
async fn events_and_logs_are_capped_in_total_per_attempt() {
    let h = Harness::new();
    let exec = h.executor().await;
    let (status, b, _) = run_one(
        &h,
        &exec,
        "emit-flood",
        json!({ "action": "emit_many", "count": 40, "bytes": 1_000_000 }),
        None,
    )
    .await;
    assert_eq!(status, ExecutionStatus::Failed);
    trapped(&b, TrapKind::OutputTooLarge);
    assert!(b.error.as_deref().unwrap().contains("more than 4194304 bytes of events"), "{:?}", b.error);

    let (_, b, _) = run_one(
        &h,
        &exec,
        "log-flood",
        json!({ "action": "log_many", "count": 100, "bytes": 100_000 }),
        Some(json!({ "log_bytes": 1_000_000 })),
    )
    .await;
    trapped(&b, TrapKind::OutputTooLarge);
    assert!(b.error.as_deref().unwrap().contains("more than 1000000 bytes of log messages"), "{:?}", b.error);

    let (status, _, _) = run_one(
        &h,
        &exec,
        "emit-some",
        json!({ "action": "emit_many", "count": 3, "bytes": 1_000 }),
        Some(json!({ "event_bytes": 10_000 })),
    )
    .await;
    assert_eq!(status, ExecutionStatus::Completed, "within the budget");
}

/// Finding 4 of the security issue: `[limits.max]` in `wtb.toml` caps what any manifest may
/// ask; the refusal names the limit, the value and the ceiling. Defaults above a ceiling are
/// a config error.
#[tokio::test(flavor = "multi_thread")]
async fn limits_above_the_operator_s_ceilings_are_refused_naming_limit_value_and_ceiling() {
    let h = Harness::new();
    std::fs::create_dir_all(h.data_dir()).unwrap();
    h.config("[limits]\nmemory_mib = 64\n\n[limits.max]\nmemory_mib = 512\ntimeout_ms = 60000\n").unwrap();
    let exec = h.executor().await;
    let greedy = h.probe_workflow_with_limits(
        "greedy",
        &[("a", json!({ "action": "write" }))],
        Some(json!({ "memory_mib": 4096 })),
    );
    let e = exec.load_workflow(&greedy).await.err().expect("refused").to_string();
    assert!(e.contains("limit `memory_mib` = 4096 is above the operator's ceiling of 512"), "{e}");
    let slow = h.probe_workflow_with_limits(
        "slow",
        &[("a", json!({ "action": "write" }))],
        Some(json!({ "timeout_ms": 86_400_000 })),
    );
    let e = exec.load_workflow(&slow).await.err().expect("refused").to_string();
    assert!(e.contains("limit `timeout_ms` = 86400000 is above the operator's ceiling of 60000"), "{e}");
    let modest = h.probe_workflow_with_limits(
        "modest",
        &[("a", json!({ "action": "write" }))],
        Some(json!({ "memory_mib": 256 })),
    );
    assert_eq!(
        exec.run(&exec.load_workflow(&modest).await.unwrap(), Map::new()).await.unwrap().status,
        ExecutionStatus::Completed
    );

    h.config("[limits]\nmemory_mib = 1024\n\n[limits.max]\nmemory_mib = 512\n").unwrap();
    let Err(e) = wtb::config::DataDir::open(&h.data_dir()) else {
        panic!("a default above its ceiling was accepted")
    };
    let e = e.to_string();
    assert!(
        e.contains("[limits] default limit `memory_mib` = 1024 is above the operator's ceiling of 512"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nul_in_what_a_guest_says_is_stored_on_every_backend() {
    let h = Harness::new();
    let exec = h.executor().await;
    // A guest error's message, and a panic's (on stderr): PostgreSQL's text cannot hold a NUL,
    // so the host stores U+FFFD for it, on SQLite too (it used to keep the NUL there).
    let (status, b, _) =
        run_one(&h, &exec, "nul-error", json!({ "action": "fail", "message": "a\0b" }), None).await;
    assert_eq!((status, b.status), (ExecutionStatus::Failed, AttemptStatus::GuestError));
    assert_eq!(b.error.as_deref(), Some("failed: a\u{FFFD}b"));
    let (status, b, _) =
        run_one(&h, &exec, "nul-panic", json!({ "action": "panic", "message": "x\0y" }), None).await;
    assert_eq!((status, b.status), (ExecutionStatus::Failed, AttemptStatus::Trapped));
    assert!(b.stderr.contains("x\u{FFFD}y") && !b.stderr.contains('\0'), "{:?}", b.stderr);
}
