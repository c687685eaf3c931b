//! `wtb node run`: one node on its own, through the real CLI, with the probe component.

use serde_json::{Value, json};
use std::process::Output;
use wtb_tests::Harness;

fn node_run(h: &Harness, args: &[&str]) -> Output {
    crate::wtb_command(h).args(["node", "run"]).args(args).output().expect("running wtb")
}

#[test]
fn a_node_runs_alone_on_a_copy_of_a_directory_and_reports_everything() {
    let h = Harness::new();
    let src = h.dir.path().join("fixture");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("keep.txt"), "kept").unwrap();
    std::fs::write(src.join("sub/old.txt"), "old").unwrap();
    std::fs::write(src.join("edit.txt"), "before").unwrap();
    let config = json!({
        "action": "write",
        "files": { "new.txt": "fresh", "edit.txt": "after!" },
        "delete": ["sub/old.txt"],
        "events": [["checked", { "ok": true }]],
        "update": { "seen": 1 },
        "route": "next"
    });
    let out = node_run(
        &h,
        &[
            "probe.wasm",
            "--workspace",
            "fixture",
            "--state",
            r#"{"n": 41}"#,
            "--config",
            &config.to_string(),
            "--env",
            "MODE=test",
            "--json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["outcome"], "returned");
    assert_eq!(r["update"], json!({ "seen": 1 }));
    assert_eq!(r["route"], "next");
    assert_eq!(r["events"], json!([{ "kind": "checked", "payload": { "ok": true } }]));
    let files: Vec<(String, String)> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["change"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("edit.txt".into(), "modified".into()),
            ("new.txt".into(), "added".into()),
            ("sub/old.txt".into(), "deleted".into())
        ],
        "changes against the copy"
    );
    let new = r["files"].as_array().unwrap().iter().find(|f| f["path"] == "new.txt").unwrap();
    assert_eq!(
        (new["size"].as_u64(), new["digest"].as_str()),
        (Some(5), Some(wtb_tests::digest(b"fresh").to_hex().as_str()))
    );
    assert!(r["duration_us"].as_u64().unwrap() > 0 && r["peak_memory_bytes"].as_u64().unwrap() > 0);
    // The directory itself is untouched and nothing was stored.
    assert_eq!(std::fs::read_to_string(src.join("edit.txt")).unwrap(), "before");
    assert!(src.join("sub/old.txt").exists() && !src.join("new.txt").exists());
    let list = crate::wtb(&h, &["list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list["executions"], json!([]));
    let scratch: Vec<_> = std::fs::read_dir(h.data_dir().join("workspaces")).unwrap().collect();
    assert!(scratch.is_empty(), "the scratch workspace is removed");
    // Text output names the same things.
    let text = node_run(&h, &["probe.wasm", "--config", &config.to_string(), "--workspace", "fixture"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("returned in") && text.contains("modified") && text.contains("event: checked"),
        "{text}"
    );
}

#[test]
fn failures_exit_1_with_the_reason_and_bad_input_exits_2() {
    let h = Harness::new();
    let fail = node_run(&h, &["probe.wasm", "--config", r#"{"action": "fail", "message": "no thanks"}"#]);
    assert_eq!(fail.status.code(), Some(1), "{fail:?}");
    let err = String::from_utf8_lossy(&fail.stderr);
    assert!(err.contains("guest error") && err.contains("no thanks") && err.lines().count() == 1, "{err}");
    let spin =
        node_run(&h, &["probe.wasm", "--config", r#"{"action": "spin"}"#, "--timeout-ms", "300", "--json"]);
    assert_eq!(spin.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&spin.stdout).unwrap();
    assert_eq!((r["outcome"].as_str(), r["trap"].as_str()), (Some("trapped"), Some("timeout")), "{r}");
    std::fs::write(h.dir.path().join("net.wasm"), wtb_tests::NET_COMMAND).unwrap();
    std::fs::write(h.dir.path().join("garbage.wasm"), b"not wasm").unwrap();
    let cases: [(&[&str], &str); 10] = [
        (&["probe.wasm", "--memory-mib", "0"], "--memory-mib: `memory_mib` = 0 makes no sense"),
        (&["probe.wasm", "--fixture", "data"], "--fixture `data`: expected GUEST_PATH=DIR"),
        (&["probe.wasm", "--fixture", "/data=no-such-dir"], "fixture directory"),
        (&["missing.wasm"], "missing.wasm: "),
        (&["garbage.wasm"], "not a valid WebAssembly component"),
        (&["net.wasm"], "is not a usable wasi:cli command"),
        (&["probe.wasm", "--state", "[1]"], "--state: must be a JSON object"),
        (&["probe.wasm", "--config", "{nope"], "--config: invalid JSON"),
        (&["probe.wasm", "--env", "NOVALUE"], "--env `NOVALUE`: expected KEY=VALUE"),
        (&["probe.wasm", "--workspace", "no-such-dir"], "--workspace no-such-dir: not a directory"),
    ];
    for (args, expected) in cases {
        let out = node_run(&h, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected) && err.lines().count() == 1, "{args:?}: {err}");
    }
}

#[test]
fn args_fixtures_seed_and_limits_reach_the_node() {
    let h = Harness::new();
    std::fs::create_dir_all(h.dir.path().join("inputs")).unwrap();
    h.file("inputs/in.txt", "from a fixture");
    let read = node_run(
        &h,
        &[
            "probe.wasm",
            "--config",
            r#"{"action": "read_file", "path": "/in/in.txt", "write_to": "/in/x"}"#,
            "--fixture",
            "/in=inputs",
            "--json",
        ],
    );
    assert!(read.status.success(), "{read:?}");
    let r: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(r["update"]["read"], "from a fixture");
    assert!(r["update"]["write"].as_str().unwrap().starts_with("denied"), "{r}");
    let environ = node_run(
        &h,
        &["probe.wasm", "--config", r#"{"action": "environ"}"#, "--arg", "-v", "--arg", "x", "--json"],
    );
    let r: Value = serde_json::from_slice(&environ.stdout).unwrap();
    assert_eq!(r["update"]["args"], json!(["probe", "-v", "x"]));
    let observe = |seed: &str| {
        let out =
            node_run(&h, &["probe.wasm", "--config", r#"{"action": "observe"}"#, "--seed", seed, "--json"]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["update"]["observed"].clone()
    };
    assert_eq!(observe("9"), observe("9"));
    assert_ne!(observe("9"), observe("10"));
    let fuel =
        node_run(&h, &["probe.wasm", "--config", r#"{"action": "spin"}"#, "--fuel", "1000000", "--json"]);
    assert_eq!(fuel.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&fuel.stdout).unwrap();
    assert_eq!(r["trap"], "out_of_fuel", "{r}");
    let disk = node_run(
        &h,
        &[
            "probe.wasm",
            "--config",
            r#"{"action": "fill", "path": "f", "bytes": 5000000}"#,
            "--disk-mib",
            "1",
            "--json",
        ],
    );
    let r: Value = serde_json::from_slice(&disk.stdout).unwrap();
    assert_eq!(r["trap"], "disk_quota_exceeded", "{r}");
}

#[test]
fn a_plain_wasi_command_is_a_node_state_on_stdin_update_on_stdout() {
    let h = Harness::new();
    std::fs::write(h.dir.path().join("cmd.wasm"), wtb_tests::COMMAND_NODE).unwrap();
    std::fs::write(h.dir.path().join("plain.wasm"), wtb_tests::PLAIN_COMMAND).unwrap();
    let ok = node_run(&h, &["cmd.wasm", "--state", r#"{"n": 41}"#, "--json"]);
    assert!(ok.status.success(), "{ok:?}");
    let r: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        r["update"],
        json!({ "n": 42, "by": "cmd" }),
        "the update is what it printed; argv[0] is the node's name"
    );
    assert_eq!(r["files"][0]["path"], "from-command.txt");
    let quiet = node_run(&h, &["cmd.wasm", "--state", r#"{"quiet": true}"#, "--json"]);
    let r: Value = serde_json::from_slice(&quiet.stdout).unwrap();
    assert_eq!((quiet.status.code(), &r["update"]), (Some(0), &json!({})), "no output: no update");
    let failed = node_run(&h, &["cmd.wasm", "--state", r#"{"fail": 3}"#]);
    assert_eq!(failed.status.code(), Some(1));
    // wasi:cli 0.2's `exit` carries only success or failure: any non-zero status arrives as 1.
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("the command exited with status 1"),
        "{failed:?}"
    );
    assert!(
        String::from_utf8_lossy(&failed.stdout).contains("asked to fail with 3"),
        "its stderr is shown: {failed:?}"
    );
    let not_json = node_run(&h, &["plain.wasm"]);
    assert_eq!(not_json.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_json.stderr).contains("invalid output"), "{not_json:?}");
}

#[tokio::test]
async fn commands_and_nodes_mix_in_a_workflow() {
    let h = Harness::new();
    std::fs::write(h.dir.path().join("cmd.wasm"), wtb_tests::COMMAND_NODE).unwrap();
    let manifest = r#"
name = "mixed"
[state]
n = 1

[[nodes]]
id = "count"
component = "cmd.wasm"

[[nodes]]
id = "write"
component = "probe.wasm"
config = { action = "write", files = { "after.txt" = "probe ran" } }

[[nodes]]
id = "count-again"
component = "cmd.wasm"
"#;
    std::fs::write(h.dir.path().join("mixed.toml"), manifest).unwrap();
    let out = crate::wtb(&h, &["run", "mixed.toml", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["state"], json!({ "n": 3, "by": "count-again" }), "each command saw the state before it");
    let exec = h.executor().await;
    let ws = h.workspace(&exec, r["execution"].as_str().unwrap().parse().unwrap()).await;
    assert_eq!(std::fs::read_to_string(ws.join("from-command.txt")).unwrap(), "n was 2\n");
    assert!(ws.join("after.txt").exists());
}
