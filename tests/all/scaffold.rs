//! `wtb new`: the Rust template builds for wasm32-wasip2 with plain cargo, its unit test
//! passes natively, and the component it builds runs with `wtb node run`.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wtb_tests::Harness;
use crate::guests;

fn wtb(h: &Harness, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wtb-under-test")).args(args).env("WTB_DATA_DIR", h.data_dir()).current_dir(h.dir.path()).output().unwrap()
}


fn cargo(dir: &Path, target_dir: &Path, args: &[&str]) -> Output {
    guests::guest_cargo(dir, target_dir).args(args).output().unwrap()
}

#[test]
fn a_new_rust_node_builds_passes_its_test_and_runs_alone() {
    let h = Harness::new();
    let out = wtb(&h, &["new", "greeter", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["files"].as_array().unwrap().len(), 5);
    let project = h.dir.path().join("greeter");
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.contains("cargo build --release --target wasm32-wasip2") && readme.contains("wtb node run target/wasm32-wasip2/release/greeter.wasm") && readme.contains("wtb run workflow.toml"), "{readme}");
    // Pin the dependencies to the versions this workspace tested (a user's project resolves its own).
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    std::fs::copy(workspace.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"));
    // The guests' target dir: the SDK and its dependencies are already built there.
    let built = cargo(&project, &target.join("wasm-guests"), &["build", "--offline", "--release", "--target", "wasm32-wasip2"]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let tested = cargo(&project, &target.join("scaffold-test"), &["test", "--offline"]);
    assert!(tested.status.success(), "{}", String::from_utf8_lossy(&tested.stderr));
    assert!(String::from_utf8_lossy(&tested.stdout).contains("test tests::counts_and_writes_its_file ... ok"));
    let component = target.join("wasm-guests/wasm32-wasip2/release/greeter.wasm");
    let ran = wtb(&h, &["node", "run", component.to_str().unwrap(), "--state", r#"{"count": 1}"#, "--config", r#"{"greeting": "hi"}"#, "--json"]);
    assert!(ran.status.success(), "{ran:?}");
    let r: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(r["update"], json!({ "count": 2 }));
    assert_eq!(r["files"][0]["path"], "greeter.txt");
}

#[test]
fn wtb_new_refuses_bad_names_occupied_dirs_and_a_missing_sdk() {
    let h = Harness::new();
    std::fs::create_dir_all(h.dir.path().join("taken")).unwrap();
    std::fs::write(h.dir.path().join("taken/file"), "x").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["new", "Bad Name"], "a node name is a lowercase letter"),
        (&["new", "ok", "--dir", "taken"], "already exists and is not empty"),
        (&["new", "ok", "--sdk", "no-such-sdk"], "the WTB guest SDK is not at no-such-sdk"),
        (&["new", "ok", "--lang", "cobol"], "invalid value 'cobol'"),
    ];
    for (args, expected) in cases {
        let out = wtb(&h, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!h.dir.path().join("ok").exists(), "nothing was created");
}
