//! Bad workflows get an error naming file, line and field, and change nothing.

use serde_json::json;
use wtb_tests::{Harness, PLAIN_COMMAND};

async fn load_err(h: &Harness, manifest: &str) -> String {
    let exec = h.executor().await;
    let path = h.file("wf.toml", manifest);
    let err = match exec.load_workflow(&path).await {
        Ok(_) => panic!("loaded an invalid manifest:\n{manifest}"),
        Err(e) => e,
    };
    assert!(exec.recent(10).await.unwrap().is_empty(), "nothing may be written");
    let text = format!("{err}");
    assert!(text.starts_with(&path.display().to_string()), "names the file: {text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_invalid_manifests_are_located() {
    let h = Harness::new();
    let e = load_err(&h, "name = \"w\"\n[[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\ncolor = 1\n").await;
    assert!(e.contains(":5:") && e.contains("unknown field `color`"), "{e}");
    let e = load_err(&h, "name = \"w\"\n[[nodes]\n").await;
    assert!(e.contains(":2:"), "{e}");
    let e = load_err(&h, "name = \"w\"\n[[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\n[[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\n").await;
    assert!(e.contains(":6:") && e.contains("nodes[1].id") && e.contains("duplicate"), "{e}");
    let e = load_err(&h, "name = \"w\"\n[[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\nlimits = { memory_mib = \"lots\" }\n").await;
    assert!(e.contains(":5:"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_invalid_components_are_named_with_their_line() {
    let h = Harness::new();
    let manifest = |component: &str| format!("name = \"w\"\n\n[[nodes]]\nid = \"a\"\ncomponent = \"{component}\"\n");
    let e = load_err(&h, &manifest("nope.wasm")).await;
    assert!(e.contains(":5:13:") && e.contains("nodes[0].component") && e.contains("nope.wasm"), "{e}");

    h.file("garbage.wasm", b"this is not wasm");
    let e = load_err(&h, &manifest("garbage.wasm")).await;
    assert!(e.contains("not a valid WebAssembly component"), "{e}");
    h.file("empty.wasm", b"");
    let e = load_err(&h, &manifest("empty.wasm")).await;
    assert!(e.contains("not a valid WebAssembly component"), "{e}");
    // A core module (the smallest valid one) is not a component.
    h.file("core.wasm", b"\0asm\x01\0\0\0");
    let e = load_err(&h, &manifest("core.wasm")).await;
    assert!(e.contains("not a valid WebAssembly component"), "{e}");
    h.file("command.wasm", PLAIN_COMMAND);
    let e = load_err(&h, &manifest("command.wasm")).await;
    assert!(e.contains("does not implement the wtb:node/node world"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_manifest_loads_with_a_stable_digest() {
    let h = Harness::new();
    let exec = h.executor().await;
    let path = h.probe_workflow("stable", &[("a", json!({ "action": "write" }))]);
    let (one, two) = (exec.load_workflow(&path).await.unwrap(), exec.load_workflow(&path).await.unwrap());
    assert_eq!(one.digest, two.digest);
    assert_eq!(one.nodes[0].prepared.digest(), wtb_tests::digest(wtb_tests::PROBE));
}
