//! Bad workflows get an error naming file, line and field, and change nothing.

use serde_json::json;
use wtb_tests::{Harness, NET_COMMAND};

async fn load_err(h: &Harness, manifest: &str) -> String {
    let exec = h.executor().await;
    let path = h.file("wf.toml", manifest);
    let err = match exec.load_workflow(&path).await {
        Ok(_) => panic!("loaded an invalid manifest:\n{manifest}"),
        Err(e) => e,
    };
    assert!(exec.inspect().recent(10).await.unwrap().is_empty(), "nothing may be written");
    let text = format!("{err}");
    assert!(text.starts_with(&path.display().to_string()), "names the file: {text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_invalid_manifests_are_located() {
    let h = Harness::new();
    let e =
        load_err(&h, "name = \"w\"\n[[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\ncolor = 1\n").await;
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
    let manifest =
        |component: &str| format!("name = \"w\"\n\n[[nodes]]\nid = \"a\"\ncomponent = \"{component}\"\n");
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
    // A command importing wasi:sockets (never linked) is refused before anything runs.
    h.file("net.wasm", NET_COMMAND);
    let e = load_err(&h, &manifest("net.wasm")).await;
    assert!(
        e.contains("does not implement the wtb:node/node world and is not a usable wasi:cli command")
            && e.contains("wasi:sockets"),
        "{e}"
    );
    assert!(
        e.contains("(it exports: wasi:cli/run@") && e.contains("set `network = \"deny\"` on the node"),
        "names its exports and the way out: {e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_network_deny_sockets_are_linked_and_every_use_fails() {
    let h = Harness::new();
    let exec = h.executor().await;
    h.file("net.wasm", NET_COMMAND);
    let e =
        load_err(&h, "name = \"b\"\n[[nodes]]\nid = \"n\"\ncomponent = \"net.wasm\"\nnetwork = \"open\"\n")
            .await;
    assert!(e.contains("unknown variant `open`, expected `none` or `deny`"), "{e}");
    let path = h.file(
        "deny.toml",
        "name = \"deny\"\n[[nodes]]\nid = \"net\"\ncomponent = \"net.wasm\"\nnetwork = \"deny\"\n",
    );
    let wf = exec.load_workflow(&path).await.unwrap();
    let s = exec.run(&wf, serde_json::Map::new()).await.unwrap();
    // It ran, and TCP connect, UDP send and DNS lookup each failed: no connection was made.
    let r = exec.inspect().describe(s.execution).await.unwrap();
    assert_eq!(r.nodes[0].boundary.stdout.trim(), "false false false", "{:?}", r.nodes[0].boundary);
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

#[tokio::test(flavor = "multi_thread")]
async fn json_schemas_check_the_initial_state_and_every_update() {
    let h = Harness::new();
    let exec = h.executor().await;
    h.file(
        "state.schema.json",
        json!({
            "type": "object",
            "properties": { "count": { "type": "integer", "minimum": 0 } },
            "required": ["count"],
        })
        .to_string(),
    );
    // A flat JSON object is a TOML inline table once `:` becomes `=`.
    let manifest = |update: serde_json::Value| {
        format!(
            "name = \"schemas\"\nstate_schema = \"state.schema.json\"\n[state]\ncount = 1\n\n\
         [[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\nconfig = {{ action = \"write\", update = {} }}\n\
         update_schema = {{ type = \"object\", properties = {{ count = {{ type = \"integer\" }} }}, additionalProperties = false }}\n",
            update.to_string().replace(':', " = ")
        )
    };
    let good = h.file("good.toml", manifest(json!({ "count": 2 })));
    let wf = exec.load_workflow(&good).await.unwrap();
    let s = exec.run(&wf, serde_json::Map::new()).await.unwrap();
    assert_eq!((s.status, &s.state["count"]), (wtb::model::ExecutionStatus::Completed, &json!(2)));

    // The initial state (manifest `[state]` with `--state` over it) is checked before anything runs.
    let before = exec.inspect().recent(100).await.unwrap().len();
    let overrides = json!({ "count": "many" }).as_object().cloned().unwrap();
    let e = exec.run(&wf, overrides).await.unwrap_err().to_string();
    assert!(e.starts_with("the initial state does not match the workflow's `state_schema`"), "{e}");
    assert!(e.contains("at /count:") && e.contains("\"many\""), "{e}");
    let overrides = json!({ "count": -3 }).as_object().cloned().unwrap();
    assert!(exec.run(&wf, overrides).await.unwrap_err().to_string().contains("minimum"));
    assert_eq!(
        exec.inspect().recent(100).await.unwrap().len(),
        before,
        "a refused state starts no execution"
    );

    // An update outside the node's schema fails the node as invalid output, state kept.
    let bad = h.file("bad.toml", manifest(json!({ "count": 2, "extra": true })));
    let wf = exec.load_workflow(&bad).await.unwrap();
    let s = exec.run(&wf, serde_json::Map::new()).await.unwrap();
    assert_eq!(s.status, wtb::model::ExecutionStatus::Failed);
    let r = exec.inspect().describe(s.execution).await.unwrap();
    assert_eq!(r.checkpoints.last().unwrap().checkpoint.state["count"], 1, "the update was not applied");
    let b = &r.nodes[0].boundary;
    assert_eq!(b.status, wtb::model::AttemptStatus::InvalidOutput);
    let error = b.error.as_deref().unwrap();
    assert!(error.contains("update_schema") && error.contains("extra"), "{error}");

    // The definition stored with each execution holds the schemas themselves, not file names.
    let stored = &wf.definition;
    assert_eq!(stored["state_schema"]["required"], json!(["count"]));
    assert_eq!(stored["nodes"][0]["update_schema"]["additionalProperties"], json!(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schemas_are_located() {
    let h = Harness::new();
    let node = "[[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\n";
    let e = load_err(&h, &format!("name = \"w\"\nstate_schema = \"missing.json\"\n{node}")).await;
    assert!(e.contains(":2:16:") && e.contains("`state_schema`") && e.contains("missing.json"), "{e}");
    h.file("broken.json", "{ not json");
    let e = load_err(&h, &format!("name = \"w\"\nstate_schema = \"broken.json\"\n{node}")).await;
    assert!(e.contains(":2:16:") && e.contains("is not JSON"), "{e}");
    let e = load_err(&h, &format!("name = \"w\"\n{node}update_schema = {{ type = \"whatever\" }}\n")).await;
    assert!(
        e.contains(":5:17:")
            && e.contains("nodes[0].update_schema")
            && e.contains("not a usable JSON Schema"),
        "{e}"
    );
    let e = load_err(&h, &format!("name = \"w\"\n{node}update_schema = 3\n")).await;
    assert!(e.contains(":5:") && e.contains("path of a JSON Schema file or an inline table"), "{e}");
}
