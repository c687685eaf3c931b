//! Rust, Python and JavaScript nodes in one workflow (`examples/polyglot`): the components are
//! built from source by the example's own `build.sh` (which installs componentize-py and
//! componentize-js with pip and npm on first use), then run like any other.

use crate::guests;
use serde_json::{Map, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use wtb::model::ExecutionStatus;
use wtb_tests::Harness;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Runs `build.sh` with the guests' cargo settings (so the Rust node is already built) and the
/// toolchains of [`wtb_tests::polyglot_tools`]; `None` (after saying why) when they cannot be had.
fn build(example: &Path) -> Option<()> {
    let tools = match wtb_tests::polyglot_tools() {
        Ok(t) => t,
        Err(why) => {
            wtb_tests::skipped("polyglot", &why);
            return None;
        }
    };
    let mut cmd = Command::new("sh");
    cmd.arg(example.join("build.sh")).env("WTB_TOOLS", tools);
    guests::guest_env(&mut cmd, &wtb_tests::target_dir().join("wasm-guests"));
    let out = cmd.output().expect("running sh");
    assert!(
        out.status.success(),
        "build.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_python_and_javascript_nodes_run_in_one_workflow() {
    let example = workspace().join("examples/polyglot");
    if build(&example).is_none() {
        return;
    }
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec.load_workflow(&example.join("workflow.toml")).await.unwrap();
    assert_eq!(wf.nodes.iter().map(|n| n.prepared.kind()).collect::<Vec<_>>(), ["node", "node", "node"]);
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!(
        serde_json::Value::Object(s.state.clone()),
        json!({ "greeted": "Ada", "shouted": "HELLO, ADA!", "letters": 8 })
    );
    let r = exec.inspect().describe(s.execution).await.unwrap();
    assert_eq!(
        exec.inspect().cat(r.checkpoints.last().unwrap().checkpoint.id, "shout.txt").await.unwrap(),
        b"HELLO, ADA!\n",
        "the Python node's file is captured"
    );
    assert!(
        r.events.iter().any(|e| e.kind == "guest.counted" && e.payload["data"] == json!({ "letters": 8 })),
        "the JavaScript node's event: {:?}",
        r.events
    );

    // A guest error from each language is the node's verdict, not a trap.
    let bad = h.file(
        "bad.toml",
        format!(
            "name = \"bad\"\n[[nodes]]\nid = \"shout\"\ncomponent = \"{}\"\nnetwork = \"deny\"\n",
            example.join("build/shout.wasm").display()
        ),
    );
    let s = exec.run(&exec.load_workflow(&bad).await.unwrap(), Map::new()).await.unwrap();
    let b = &exec.inspect().describe(s.execution).await.unwrap().nodes[0].boundary;
    assert_eq!(
        (b.status.as_str(), b.error.as_deref()),
        ("guest_error", Some("invalid-input: state.greeted must be a non-empty string"))
    );
    let bad = h.file(
        "bad-js.toml",
        format!(
            "name = \"bad-js\"\n[[nodes]]\nid = \"letters\"\ncomponent = \"{}\"\n",
            example.join("build/letters.wasm").display()
        ),
    );
    let s = exec.run(&exec.load_workflow(&bad).await.unwrap(), Map::new()).await.unwrap();
    let b = &exec.inspect().describe(s.execution).await.unwrap().nodes[0].boundary;
    assert_eq!(
        (b.status.as_str(), b.error.as_deref()),
        ("guest_error", Some("invalid-input: state.shouted must be a string"))
    );

    // Each node's logic has a native unit test in its own language.
    let py = Command::new("python3")
        .args(["-m", "unittest", "-q"])
        .current_dir(example.join("shout"))
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let js = Command::new("node").args(["--test"]).current_dir(example.join("letters")).output().unwrap();
    assert!(js.status.success(), "{}", String::from_utf8_lossy(&js.stdout));
}
