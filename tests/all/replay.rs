//! `wtb replay` end to end through the real binary: a recorded run replays the same; a new
//! component for one node shows what it changes (state, files) and a failing one fails; a node
//! whose input changed outside the sandbox is caught as nondeterministic; bad input is exit 2
//! with the reason, and a replay writes nothing.

use serde_json::{Value, json};
use wtb::executor::RunOptions;
use wtb::model::ExecutionId;
use wtb_tests::Harness;

/// `wtb --json replay <args>`: exit status and the report (`Null` when it printed none).
fn replay(h: &Harness, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = crate::wtb(h, &[&["--json", "replay"], args].concat());
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), report, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    let nodes = report["nodes"].as_array().unwrap_or_else(|| panic!("no nodes in {report}"));
    nodes
        .iter()
        .map(|n| (n["node"].as_str().unwrap().to_owned(), n["verdict"].as_str().unwrap().to_owned()))
        .collect()
}

/// Runs the two-node probe workflow deterministically from `state`; returns the execution.
async fn recorded(h: &Harness, state: Value) -> ExecutionId {
    let exec = h.executor().await;
    let path = h.probe_workflow("rec", &[
        ("a", json!({ "action": "write", "files": { "a.txt": "alpha" }, "update": { "n": 1 }, "events": [["made", { "x": 1 }]] })),
        ("b", json!({ "action": "write", "files": { "b.txt": "bee" }, "update": { "n": 2 } })),
    ]);
    let wf = exec.load_workflow(&path).await.unwrap();
    let Value::Object(state) = state else { panic!("a state is an object") };
    let opts = RunOptions { seed: Some(7), ..RunOptions::default() };
    let s = exec.run_with(&wf, state, &opts).await.unwrap();
    assert!(s.failure.is_none(), "{:?}", s.failure);
    exec.close().await;
    s.execution
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_replays_the_same_and_a_new_component_shows_what_it_changes() {
    let h = Harness::new();
    std::fs::write(h.dir.path().join("cmd.wasm"), wtb_tests::COMMAND_NODE).unwrap();
    let id = recorded(&h, json!({})).await;
    let id_text = id.to_string();
    let before = crate::wtb(&h, &["--json", "history", &id_text]).stdout;

    let (code, r, err) = replay(&h, &[&id_text]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(verdicts(&r), [("a".into(), "same".into()), ("b".into(), "same".into())]);
    assert_eq!(r["seed"], 7);

    // `b` on another component: it reads the state `a` left and writes its own file.
    let (code, r, err) = replay(&h, &[&id_text, "--component", "b=cmd.wasm"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(verdicts(&r), [("a".into(), "same".into()), ("b".into(), "differs".into())]);
    let b = &r["nodes"][1];
    assert_eq!((b["replaced"].as_bool(), b["nondeterministic"].as_bool()), (Some(true), Some(false)));
    let lines: Vec<&str> =
        b["differences"]["state"]["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(lines.contains(&"+ /by: \"b\""), "{lines:?}");
    let files: Vec<(&str, bool, bool)> = b["differences"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["before"].is_object(), f["after"].is_object()))
        .collect();
    assert_eq!(files, [("b.txt", true, false), ("from-command.txt", false, true)]);
    // Text files come with a unified diff: the recorded side from the store, the replayed
    // one from the replay's own capture.
    let added = &b["differences"]["files"][1]["content"]["unified"];
    assert!(added.as_str().is_some_and(|u| u.contains("+n was 1")), "{added}");
    let removed = &b["differences"]["files"][0]["content"]["unified"];
    assert!(removed.as_str().is_some_and(|u| u.contains("-bee")), "{removed}");
    // Only `b`, in text: the line says what differs.
    let out = crate::wtb(&h, &["replay", &id_text, "--node", "b", "--component", "b=cmd.wasm"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains(&format!(
            "differs  b (attempt 1, new component {})",
            wtb_tests::digest(wtb_tests::COMMAND_NODE)
        )),
        "{text}"
    );
    assert!(text.contains("file from-command.txt: recorded absent, replayed 8 bytes"), "{text}");
    assert!(text.contains("        +n was 1"), "the diff under the file line: {text}");
    assert!(text.contains("1 of 1 boundaries differ or failed"), "{text}");
    assert_eq!(crate::wtb(&h, &["--json", "history", &id_text]).stdout, before, "a replay writes nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_new_component_fails_and_a_changed_fixture_is_nondeterminism() {
    let h = Harness::new();
    std::fs::write(h.dir.path().join("cmd.wasm"), wtb_tests::COMMAND_NODE).unwrap();
    // The command node exits with status 3 when the state says so.
    let id = recorded(&h, json!({ "fail": 3 })).await.to_string();
    let (code, r, err) = replay(&h, &[&id, "--node", "b", "--component", "b=cmd.wasm"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(verdicts(&r), [("b".into(), "failed".into())]);
    assert!(r["nodes"][0]["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");

    // A fixture the host changes between the run and the replay: the recorded component, the
    // same seed, another result.
    let input = h.drift_workflow(Some(7));
    let out = crate::wtb(&h, &["--json", "run", "drift.toml"]);
    assert!(out.status.success(), "{out:?}");
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = run["execution"].as_str().unwrap();
    assert_eq!(replay(&h, &[id]).0, Some(0), "unchanged, it replays the same");
    std::fs::write(input.join("drift.txt"), "second").unwrap();
    let (code, r, _) = replay(&h, &[id]);
    assert_eq!(code, Some(1));
    let n = &r["nodes"][0];
    assert_eq!(
        (n["verdict"].as_str(), n["nondeterministic"].as_bool()),
        (Some("differs"), Some(true)),
        "{r}"
    );
    assert_eq!(n["differences"]["state"]["lines"], json!(["~ /read: \"first\" → \"second\""]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_s_recorded_runs_are_replayed_together() {
    let h = Harness::new();
    std::fs::write(h.dir.path().join("cmd.wasm"), wtb_tests::COMMAND_NODE).unwrap();
    let (first, second) = (recorded(&h, json!({})).await, recorded(&h, json!({ "n": 5 })).await);
    let (code, r, err) = replay(&h, &["--workflow", "rec"]);
    assert_eq!(code, Some(0), "{err}");
    let ids: Vec<&str> =
        r["executions"].as_array().unwrap().iter().map(|e| e["execution"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.to_string(), first.to_string()], "newest first");
    let (code, r, _) = replay(&h, &["--workflow", "rec", "--limit", "1", "--component", "b=cmd.wasm"]);
    assert_eq!(code, Some(1));
    let only = &r["executions"].as_array().unwrap()[..];
    assert_eq!(only.len(), 1);
    assert_eq!(verdicts(&only[0]), [("a".into(), "same".into()), ("b".into(), "differs".into())]);
    let out = crate::wtb(&h, &["replay", "--workflow", "rec", "--since", "2020-01-01"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("2 recorded executions of `rec` replayed: 2 the same, 0 with differences\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_replays_are_refused_with_the_reason() {
    let h = Harness::new();
    let id = recorded(&h, json!({})).await.to_string();
    let unknown = "01930000-0000-7000-8000-000000000000";
    for (args, says) in [
        (vec![unknown], "01930000-0000-7000-8000-000000000000"),
        (vec!["not-an-id"], "`not-an-id` is not an execution id"),
        (vec![&id, "--node", "nope"], "--node nope: workflow `rec` has no node `nope`"),
        (vec![&id, "--component", "nope=x.wasm"], "--component nope: workflow `rec` has no node `nope`"),
        (vec![&id, "--component", "b=missing.wasm"], "--component b=missing.wasm: "),
        (vec![&id, "--component", "b"], "--component `b`: expected NODE=VALUE"),
        (vec!["--workflow", "nope"], "no recorded execution of workflow `nope`"),
        (
            vec!["--workflow", "rec", "--since", "2999-01-01"],
            "no recorded execution of workflow `rec` since 2999-01-01",
        ),
        (vec!["--workflow", "rec", "--since", "soon"], "--since `soon`: expected an RFC 3339 time"),
        (vec!["--workflow", "rec", &id], "cannot be used with"),
        (vec![], "required"),
    ] {
        let (code, report, err) = replay(&h, &args);
        assert_eq!((code, report), (Some(2), Value::Null), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
