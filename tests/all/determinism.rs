//! Deterministic mode: two runs with one seed are byte-identical in states, files and guest
//! events; another seed (or no deterministic mode) reads different clocks and randomness.

use serde_json::{Map, Value, json};
use wtb::executor::{Executor, RunOptions};
use wtb::model::ExecutionId;
use wtb_tests::Harness;

/// What a run produced that a guest could make differ: final state, every checkpoint's files,
/// the guest's events.
async fn outputs(exec: &Executor, id: ExecutionId) -> (Value, Vec<Value>, Vec<Value>) {
    let r = exec.inspect().describe(id).await.unwrap();
    let files = r.checkpoints.iter().map(|c| serde_json::to_value(&c.files).unwrap()).collect();
    let events = r
        .events
        .iter()
        .filter(|e| e.kind.starts_with("guest."))
        .map(|e| json!([e.kind, e.payload]))
        .collect();
    ((*r.checkpoints.last().unwrap().checkpoint.state).clone(), files, events)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_seed_gives_byte_identical_runs() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec
        .load_workflow(&h.probe_workflow(
            "observe",
            &[("first", json!({ "action": "observe" })), ("second", json!({ "action": "observe" }))],
        ))
        .await
        .unwrap();
    let seeded = |seed| RunOptions { seed: Some(seed), ..RunOptions::default() };
    let a = exec.run_with(&wf, Map::new(), &seeded(42)).await.unwrap();
    let b = exec.run_with(&wf, Map::new(), &seeded(42)).await.unwrap();
    let (oa, ob) = (outputs(&exec, a.execution).await, outputs(&exec, b.execution).await);
    assert_eq!(oa, ob, "same seed, same bytes");
    assert_eq!(oa.2.len(), 2, "both nodes emitted: {:?}", oa.2);
    let seen = &a.state["observed"];
    assert_eq!(seen["random"].as_array().unwrap().len(), 16);
    let wall_secs = seen["wall_nanos"].as_u64().unwrap() / 1_000_000_000;
    assert!(
        (1_577_836_800..1_577_836_800 + 5 * 365 * 86_400).contains(&wall_secs),
        "the clock starts at a seeded instant: {wall_secs}"
    );
    assert!(seen["elapsed_nanos"].as_u64().unwrap() < 1_000_000, "virtual time, not host time");
    // The seed is recorded on the execution.
    assert_eq!(exec.inspect().describe(a.execution).await.unwrap().execution.environment.seed, Some(42));

    let c = exec.run_with(&wf, Map::new(), &seeded(43)).await.unwrap();
    assert_ne!(outputs(&exec, c.execution).await.0, oa.0, "another seed, other values");
    let real = exec.run(&wf, Map::new()).await.unwrap();
    assert_ne!(real.state["observed"]["random"], seen["random"]);
    assert_eq!(exec.inspect().describe(real.execution).await.unwrap().execution.environment.seed, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_can_ask_for_determinism_itself() {
    let h = Harness::new();
    let exec = h.executor().await;
    let m = h.file("det.toml", "name = \"det\"\nseed = 7\n[[nodes]]\nid = \"o\"\ncomponent = \"probe.wasm\"\nconfig = { action = \"observe\" }\n");
    let wf = exec.load_workflow(&m).await.unwrap();
    let a = exec.run(&wf, Map::new()).await.unwrap();
    let b = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(a.state, b.state);
    assert_eq!(exec.inspect().describe(a.execution).await.unwrap().execution.environment.seed, Some(7));
    // `deterministic = true` without a seed: a fresh seed per run, recorded so it can be replayed.
    let m = h.file("det2.toml", "name = \"det2\"\ndeterministic = true\n[[nodes]]\nid = \"o\"\ncomponent = \"probe.wasm\"\nconfig = { action = \"observe\" }\n");
    let wf = exec.load_workflow(&m).await.unwrap();
    let first = exec.run(&wf, Map::new()).await.unwrap();
    let seed = exec
        .inspect()
        .describe(first.execution)
        .await
        .unwrap()
        .execution
        .environment
        .seed
        .expect("a seed is recorded");
    let replay = exec
        .run_with(&wf, Map::new(), &RunOptions { seed: Some(seed), ..RunOptions::default() })
        .await
        .unwrap();
    assert_eq!(first.state, replay.state);
}

#[test]
fn wtb_run_seed_replays_and_wtb_show_names_the_seed() {
    let h = Harness::new();
    let wf = h.probe_workflow("observe-cli", &[("o", json!({ "action": "observe" }))]);
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
            .args(["run", wf.to_str().unwrap(), "--json"])
            .args(extra)
            .env("WTB_DATA_DIR", h.data_dir())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let (a, b) = (run(&["--seed", "5"]), run(&["--seed", "5"]));
    assert_eq!(a["state"], b["state"]);
    let fresh = run(&["--deterministic"]);
    assert_ne!(fresh["state"], a["state"]);
    let show = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["show", a["execution"].as_str().unwrap()])
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&show.stdout)
            .contains("deterministic, seed 5 (rerun with `wtb run --seed 5`)"),
        "{show:?}"
    );
}
