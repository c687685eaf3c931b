//! `wtb new`: the Rust template builds for wasm32-wasip2 with plain cargo, its unit test
//! passes natively, and the component it builds runs with `wtb node run`.

use crate::{guests, wtb};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wtb_tests::Harness;

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
    assert!(
        readme.contains("cargo build --release --target wasm32-wasip2")
            && readme.contains("wtb node run target/wasm32-wasip2/release/greeter.wasm")
            && readme.contains("wtb run workflow.toml"),
        "{readme}"
    );
    // Pin the dependencies to the versions this workspace tested (a user's project resolves its own).
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    std::fs::copy(workspace.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let target = wtb_tests::target_dir();
    // The guests' target dir: the SDK and its dependencies are already built there.
    let built = cargo(
        &project,
        &target.join("wasm-guests"),
        &["build", "--offline", "--release", "--target", "wasm32-wasip2"],
    );
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let tested = cargo(&project, &target.join("scaffold-test"), &["test", "--offline"]);
    assert!(tested.status.success(), "{}", String::from_utf8_lossy(&tested.stderr));
    assert!(
        String::from_utf8_lossy(&tested.stdout).contains("test tests::counts_and_writes_its_file ... ok")
    );
    let component = target.join("wasm-guests/wasm32-wasip2/release/greeter.wasm");
    let ran = wtb(
        &h,
        &[
            "node",
            "run",
            component.to_str().unwrap(),
            "--state",
            r#"{"count": 1}"#,
            "--config",
            r#"{"greeting": "hi"}"#,
            "--json",
        ],
    );
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

/// Scaffolds `name` in `lang`, checks its native unit test passes, builds it with `build`
/// (given the toolchains dir), runs it alone and in its workflow; returns `wtb node run`'s report.
fn new_polyglot_node(
    lang: &str,
    name: &str,
    test: &[&str],
    build: impl Fn(&Path, &Path) -> Output,
    run_args: &[&str],
) -> Option<Value> {
    let tools = match wtb_tests::polyglot_tools() {
        Ok(t) => t,
        Err(why) => {
            wtb_tests::skipped(&format!("wtb new --lang {lang}"), &why);
            return None;
        }
    };
    let h = Harness::new();
    let out = wtb(&h, &["new", name, "--lang", lang]);
    assert!(out.status.success(), "{out:?}");
    let project = h.dir.path().join(name);
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("wtb node run {name}.wasm")) && readme.contains("wtb run workflow.toml"),
        "{readme}"
    );
    let tested = Command::new(test[0]).args(&test[1..]).current_dir(&project).output().unwrap();
    assert!(tested.status.success(), "{tested:?}");
    let built = build(&project, &tools);
    assert!(built.status.success(), "{built:?}");
    let mut args = vec!["node", "run"];
    let wasm = format!("{name}/{name}.wasm");
    args.push(&wasm);
    args.extend(run_args);
    args.extend(["--state", r#"{"count": 1}"#, "--config", r#"{"greeting": "hi"}"#, "--json"]);
    let ran = wtb(&h, &args);
    assert!(ran.status.success(), "{ran:?}");
    let in_workflow = crate::wtb_command(&h)
        .args(["run", "workflow.toml", "--json"])
        .current_dir(&project)
        .output()
        .expect("running wtb");
    assert!(in_workflow.status.success(), "{in_workflow:?}");
    assert_eq!(serde_json::from_slice::<Value>(&in_workflow.stdout).unwrap()["status"], "completed");
    let again = wtb(&h, &["new", name, "--lang", lang]);
    assert_eq!(again.status.code(), Some(2), "an existing directory is refused");
    Some(serde_json::from_slice(&ran.stdout).unwrap())
}

#[test]
fn a_new_python_node_passes_its_test_builds_and_runs() {
    let build = |project: &Path, tools: &Path| {
        Command::new(tools.join("py/bin/componentize-py"))
            .args(["-d", "wit", "-w", "node", "componentize", "app", "-o", "greeter-py.wasm"])
            .env("PYTHONPATH", tools.join("py"))
            .current_dir(project)
            .output()
            .unwrap()
    };
    let Some(r) = new_polyglot_node(
        "python",
        "greeter-py",
        &["python3", "-m", "unittest", "-q"],
        build,
        &["--network", "deny"],
    ) else {
        return;
    };
    assert_eq!(r["update"], json!({ "count": 2 }));
    assert_eq!(r["files"][0]["path"], "greeter-py.txt");
}

#[test]
fn a_new_javascript_node_passes_its_test_builds_and_runs() {
    let build = |project: &Path, tools: &Path| {
        Command::new(tools.join("js/node_modules/.bin/componentize-js"))
            .args([
                "app.js",
                "--wit",
                "wit",
                "-n",
                "node",
                "-d",
                "http",
                "-d",
                "fetch-event",
                "-o",
                "greeter-js.wasm",
            ])
            .current_dir(project)
            .output()
            .unwrap()
    };
    let Some(r) = new_polyglot_node("js", "greeter-js", &["node", "--test"], build, &[]) else { return };
    assert_eq!(r["update"], json!({ "count": 2, "greeting": "hi from greeter-js" }));
    assert_eq!(r["events"][0]["kind"], "greeter-js.ran");
}

#[test]
fn the_templates_and_the_polyglot_example_pin_the_same_toolchains() {
    let tools = include_str!("../../../examples/polyglot/tools.sh");
    assert!(tools.contains(&format!("componentize_py={}", wtb::scaffold::COMPONENTIZE_PY)));
    assert!(tools.contains(&format!("componentize_js={}", wtb::scaffold::COMPONENTIZE_JS)));
}

#[test]
fn a_missing_python_or_node_toolchain_names_the_install_step() {
    let tools = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/polyglot/tools.sh");
    // A PATH with a shell's basics but no python3 and no npm.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["dirname", "mkdir"] {
        let found =
            ["/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists()).unwrap();
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let out = Command::new("/bin/sh")
        .arg(&script)
        .env("WTB_TOOLS", tools.path())
        .env("PATH", bin.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("`python3` is needed: install Python 3.9 or newer with pip"),
        "{out:?}"
    );
}
