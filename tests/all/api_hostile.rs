//! A hostile tenant against a live `wtb serve`: limits above the operator's ceilings are
//! refused with a problem naming limit, value and ceiling; random and malformed bodies on
//! every write route get a 4xx answer, never a 5xx, and the server keeps serving.

use super::server::{Server, token};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use wtb_tests::Harness;

/// JSON values of every shape, small enough to send many.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = proptest::prop_oneof![
        proptest::strategy::Just(Value::Null),
        proptest::bool::ANY.prop_map(Value::Bool),
        proptest::num::i64::ANY.prop_map(|n| json!(n)),
        proptest::num::f64::NORMAL.prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::String),
        proptest::sample::select(
            &[
                "name = \"x\"\n[[nodes]]\nid = \"a\"\ncomponent = \"sha256:00\"\n",
                "[[[",
                "00000000-0000-7000-8000-000000000000"
            ][..]
        )
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        proptest::prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(
                    &[
                        "manifest",
                        "experiment",
                        "state",
                        "checkpoint",
                        "parallelism",
                        "seed",
                        "node_config",
                        "limits",
                        "x"
                    ][..]
                )
                .prop_map(str::to_owned),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_tenant_gets_clear_refusals_and_never_a_server_error() {
    let h = Harness::new();
    std::fs::create_dir_all(h.data_dir()).unwrap();
    h.config("[limits.max]\nmemory_mib = 128\ntimeout_ms = 60000\n").unwrap();
    let alpha = token(&h, "alpha");
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let component = server.upload_probe(&http, &alpha).await;
    let post = |path: &str, body: reqwest::Body, kind: &'static str| {
        http.post(server.url(path)).bearer_auth(&alpha).header("content-type", kind).body(body).send()
    };

    // Above a ceiling: a problem naming the limit, the value and the ceiling, on both routes
    // that take a manifest and on an experiment's environment.
    let greedy = format!(
        "name = \"greedy\"\n[[nodes]]\nid = \"a\"\ncomponent = \"{component}\"\nlimits = {{ memory_mib = 4096 }}\n"
    );
    for path in ["/executions", "/workflows"] {
        let r =
            post(path, json!({ "manifest": greedy }).to_string().into(), "application/json").await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let p: Value = r.json().await.unwrap();
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("limit `memory_mib` = 4096 is above the operator's ceiling of 128"),
            "{path}: {p}"
        );
    }
    let modest = format!(
        "name = \"modest\"\n[[nodes]]\nid = \"a\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\" }}\n"
    );
    let wf: Value = post("/workflows", json!({ "manifest": modest }).to_string().into(), "application/json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spec = format!(
        "name = \"slow\"\nworkflow = \"{}\"\n[[variants]]\nname = \"v\"\n[[environments]]\nname = \"slow\"\nlimits = {{ timeout_ms = 3600000 }}\n",
        wf["id"].as_str().unwrap()
    );
    let r = post("/experiments", json!({ "experiment": spec }).to_string().into(), "application/json")
        .await
        .unwrap();
    let status = r.status();
    let p: Value = r.json().await.unwrap();
    assert!(status.is_client_error(), "{status} {p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("limit `timeout_ms` = 3600000 is above the operator's ceiling of 60000"),
        "{p}"
    );

    // Random bodies, raw bytes and wrong content types on every write route.
    let routes = ["/executions", "/workflows", "/workflows/validate", "/experiments", "/components"];
    let mut runner = TestRunner::deterministic();
    let strategy = any_json();
    for i in 0..120 {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        let path = routes[i % routes.len()];
        let (body, kind): (Vec<u8>, &'static str) = match i % 4 {
            0 => (value.to_string().into_bytes(), "application/json"),
            1 => (value.to_string().into_bytes()[..value.to_string().len() / 2].to_vec(), "application/json"),
            2 => (value.to_string().into_bytes(), "text/plain"),
            _ => (vec![0xff, 0x00, b'{', 0x80], "application/wasm"),
        };
        let r = post(path, body.clone().into(), kind).await.unwrap();
        assert!(
            r.status().is_client_error() || r.status().is_success(),
            "{path} {kind} {:?}: {}",
            String::from_utf8_lossy(&body),
            r.status()
        );
    }
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert!(health.status().is_success(), "the server still serves");
}
