//! The `wtb` binary as a user runs it: exit codes and one-line errors.

use crate::wtb;
use serde_json::json;
use std::process::{Command, Output};
use wtb_tests::Harness;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_show_and_list_work_and_fail_cleanly() {
    let h = Harness::new();
    let path = h.probe_workflow(
        "ok",
        &[("a", json!({ "action": "write", "files": { "f.txt": "hi" }, "update": { "n": 1 } }))],
    );
    let out = wtb(&h, &["--json", "run", path.to_str().unwrap(), "--state", r#"{"start": 0}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["state"], json!({ "start": 0, "n": 1 }));
    let id = summary["execution"].as_str().unwrap();

    let out = wtb(&h, &["show", id]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("+ f.txt") && text.contains("sha256:") && text.contains("node.completed"),
        "{text}"
    );
    let out = wtb(&h, &["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(id));

    let failing = h.probe_workflow("bad", &[("a", json!({ "action": "fail", "message": "nope" }))]);
    let out = wtb(&h, &["run", failing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a failed execution exits 1");
    assert!(String::from_utf8_lossy(&out.stdout).contains("node `a` returned an error: failed: nope"));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let h = Harness::new();
    let ok = h.probe_workflow("ok", &[("a", json!({ "action": "write" }))]);
    let ok = ok.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", ok, "--state", "{not json"], "--state: invalid JSON"),
        (vec!["run", ok, "--state", "[1]"], "must be a JSON object"),
        (vec!["run", ok, "--state", "@missing.json"], "--state: reading `missing.json`"),
        (vec!["run", "missing.toml"], "missing.toml: No such file"),
        (vec!["show", "not-a-uuid"], "not a valid execution id"),
        (vec!["show", "01a207f8-4f55-727d-82d4-1c8c1190e143"], "no execution 01a207f8"),
    ];
    for (args, expected) in cases {
        let out = wtb(&h, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line: {err}");
    }
    let bad = h.file("bad.toml", "name = \"w\"\nnodes = 3\n");
    let out = wtb(&h, &["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.toml:2:"), "{}", stderr(&out));
}

#[test]
fn an_unusable_data_dir_is_a_clear_error() {
    let h = Harness::new();
    let file = h.file("plain-file", "x");
    let out = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["--data-dir", file.join("data").to_str().unwrap(), "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("data dir") && stderr(&out).contains("plain-file"), "{}", stderr(&out));
}

#[test]
fn processes_opening_a_fresh_data_dir_at_once_all_succeed() {
    // sqlx takes no migration lock on SQLite; without ours one of these fails with
    // "table already exists".
    for _ in 0..3 {
        let h = Harness::new();
        let children: Vec<_> = (0..6)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
                    .args(["--json", "list"])
                    .env("WTB_DATA_DIR", h.data_dir())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(page, json!({ "executions": [], "next": null }));
        }
    }
}

#[test]
fn demo_runs_the_example_workflow() {
    let h = Harness::new();
    let out = wtb(&h, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("guest.report.ready") && text.contains("# Sensor report"), "{text}");
}

#[test]
fn pause_resume_and_cancel_work_across_processes() {
    let h = Harness::new();
    // `a` waits at the gate until the running process has taken the pause request, so the
    // pause lands at the boundary after `a`, however fast or slow the machine is.
    let gate = h.gate();
    let slow = h.probe_workflow(
        "slow",
        &[("a", gate.node()), ("b", json!({ "action": "write", "files": { "b.txt": "b" } }))],
    );
    let child = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["--json", "run", slow.to_str().unwrap()])
        .env("WTB_DATA_DIR", h.data_dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let id = loop {
        assert!(std::time::Instant::now() < deadline, "the run never showed up in `list`");
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the run exited ({status}) before it could be paused: {:?}",
                child.wait_with_output().unwrap()
            );
        }
        let out = wtb(&h, &["--json", "list"]);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(json!({}));
        if let Some(id) = list["executions"].as_array().and_then(|l| l.first()).and_then(|e| e["id"].as_str())
        {
            break id.to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut waiter = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["pause", &id, "--wait"])
        .env("WTB_DATA_DIR", h.data_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(waiter.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("request seen by process") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut said, &mut line).unwrap() > 0,
            "`pause --wait` ended without saying the run took the request"
        );
    }
    gate.open();
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("paused"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let run = child.wait_with_output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        (summary["status"].as_str(), summary["attempts"].as_u64()),
        (Some("paused"), Some(1)),
        "paused at the boundary after `a`"
    );
    let out = wtb(&h, &["--json", "resume", &id]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "completed", "{}", stderr(&out));

    let out = wtb(&h, &["resume", &id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot resume an execution that is completed"), "{}", stderr(&out));
    for cmd in ["pause", "cancel", "resume"] {
        let out = wtb(&h, &[cmd, "01a20000-0000-7000-8000-000000000000"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(stderr(&out).contains("no execution"), "{cmd}: {}", stderr(&out));
    }

    // A paused execution is cancelled on the spot; its open node is recorded as cancelled.
    let out = wtb(&h, &["--json", "run", slow.to_str().unwrap(), "--break-before", "b"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "paused");
    let id = summary["execution"].as_str().unwrap();
    let out = wtb(&h, &["--json", "cancel", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = wtb(&h, &["--json", "show", id]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["execution"]["status"], "cancelled");
    assert_eq!(report["nodes"][1]["status"], "cancelled");
    let out = wtb(&h, &["run", slow.to_str().unwrap(), "--break-before", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("breakpoint on `nope`: the workflow has no such node"), "{}", stderr(&out));
    // The refusal says what it is about, not "initial state" (as it once did for every refusal).
    assert!(!stderr(&out).contains("initial state"), "{}", stderr(&out));
}

#[test]
fn time_travel_commands_work_and_refuse_bad_input_cleanly() {
    let h = Harness::new();
    let wf = h.probe_workflow(
        "tt",
        &[
            ("a", json!({ "action": "write", "files": { "notes.txt": "one\ntwo\n" }, "update": { "n": 1 } })),
            ("b", json!({ "action": "write", "files": { "notes.txt": "one\n2\n" }, "update": { "n": 2 } })),
        ],
    );
    let out = wtb(&h, &["--json", "run", wf.to_str().unwrap()]);
    let id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = wtb(&h, &["--json", "history", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cps: Vec<&serde_json::Value> = history["checkpoints"].as_array().unwrap().iter().collect();
    assert_eq!(cps.len(), 4);
    assert_eq!((cps[1]["status"].as_str(), cps[1]["files_changed"].as_u64()), (Some("succeeded"), Some(1)));
    let (a_exit, b_exit) =
        (cps[1]["id"].as_str().unwrap().to_owned(), cps[3]["id"].as_str().unwrap().to_owned());
    let text = String::from_utf8_lossy(&wtb(&h, &["history", &id]).stdout).into_owned();
    assert!(text.contains("seq") && text.contains("succeeded"), "{text}");

    let out = wtb(&h, &["diff", &a_exit, &b_exit]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("~ /n: 1 → 2") && text.contains("-two") && text.contains("+2"), "{text}");
    let out = wtb(&h, &["cat", &a_exit, "notes.txt"]);
    assert_eq!(out.stdout, b"one\ntwo\n");
    assert!(String::from_utf8_lossy(&wtb(&h, &["files", &b_exit]).stdout).contains("notes.txt"));
    let dir = h.dir.path().join("exported");
    assert!(wtb(&h, &["export", &a_exit, dir.to_str().unwrap()]).status.success());
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"one\ntwo\n");
    let out = wtb(&h, &["export", &b_exit, dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not empty; pass --force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"one\ntwo\n", "nothing changed");
    assert!(wtb(&h, &["export", &b_exit, dir.to_str().unwrap(), "--force"]).status.success());
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"one\n2\n");

    let out = wtb(&h, &["rollback", &id, "--to", &a_exit]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("runs b next"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = wtb(
        &h,
        &[
            "--json",
            "fork",
            &a_exit,
            "--state-patch",
            r#"{"n": 10}"#,
            "--node-config",
            r#"b={"action":"write","update":{"m":1}}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let fork = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = wtb(&h, &["--json", "resume", &fork]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["status"].as_str(), &summary["state"]),
        (Some("completed"), &json!({ "n": 10, "m": 1 }))
    );
    let out = wtb(&h, &["--json", "list", "--parent", &id, "--status", "completed"]);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["executions"][0]["id"], fork.as_str());

    let unknown = "01a20000-0000-7000-8000-000000000000";
    for (args, message) in [
        (vec!["history", unknown], "no execution"),
        (vec!["rollback", &id, "--to", unknown], "no checkpoint"),
        (vec!["rollback", &id, "--to", &b_exit], "superseded by a rollback"),
        (vec!["fork", unknown], "no checkpoint"),
        (vec!["fork", &a_exit, "--node-config", "b"], "expected NODE=VALUE"),
        (vec!["fork", &a_exit, "--state-patch", "[1]"], "must be a JSON object"),
        (vec!["diff", unknown, &a_exit], "no checkpoint"),
        (vec!["cat", &a_exit, "missing.txt"], "has no file `missing.txt`"),
        (vec!["list", "--status", "sleeping"], "--status `sleeping`"),
        (vec!["list", "--created-after", "yesterday"], "expected an RFC 3339 time"),
        (vec!["history", "not-an-id"], "not-an-id"),
    ] {
        let out = wtb(&h, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(message) && err.lines().count() == 1, "{args:?}: {err}");
    }
}
