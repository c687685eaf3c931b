//! The OpenAPI document is the API: schemathesis (pinned below, installed once into a venv of
//! its own under the target dir) runs every check — status codes, content types, response schemas, schema-
//! valid requests accepted, invalid ones refused, missing credentials refused — over generated
//! requests and its stateful phase against a live `wtb serve` that has data (a workflow, a run,
//! its checkpoints), and finds nothing. `tests/services/schemathesis.toml` says why bodies of
//! TOML text may refuse schema-valid strings.

use super::server::{Server, token, wtb};
use serde_json::{Value, json};
use std::path::PathBuf;
use wtb_tests::Harness;

/// The schemathesis every run uses.
const SCHEMATHESIS: &str = "4.32.5";

/// `target/schemathesis-<version>/bin/schemathesis`, from a venv of its own (installed on
/// first use; concurrent callers wait); `Err` says why this machine cannot have it.
fn schemathesis() -> Result<PathBuf, String> {
    static BIN: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        wtb_tests::services::pypi::tool(
            &format!("schemathesis-{SCHEMATHESIS}"),
            &format!("schemathesis=={SCHEMATHESIS}"),
            "schemathesis",
        )
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_difference_between_the_document_and_the_server() {
    let st = match schemathesis() {
        Ok(dir) => dir,
        Err(why) => return wtb_tests::skipped("the OpenAPI contract test", &why),
    };
    let h = Harness::new();
    let alpha = token(&h, "alpha");
    // Data to find: a registered workflow and a finished run with checkpoints.
    let wf = h.probe_workflow("contract", &[("a", json!({ "action": "write", "files": { "a.txt": "a" } }))]);
    let run = wtb(&h, &["--tenant", "alpha", "--json", "run", wf.to_str().unwrap()]);
    assert!(run.status.success(), "{run:?}");
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let component = server.upload_probe(&http, &alpha).await;
    let manifest = format!(
        "name = \"remote\"\n[[nodes]]\nid = \"a\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\" }}\n"
    );
    let r =
        http.post(server.url("/workflows")).bearer_auth(&alpha).json(&json!({ "manifest": manifest })).send();
    assert_eq!(r.await.unwrap().status(), 201);

    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("services/schemathesis.toml");
    let out = std::process::Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &server.url("/openapi.json"), "--checks", "all", "--max-examples", "25", "--seed", "7"])
        .args(["--header", &format!("Authorization: Bearer {alpha}")])
        .current_dir(h.dir.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1")
        .output()
        .expect("running schemathesis");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("✅ Stateful") && text.contains("✅ Fuzzing"), "every phase ran:\n{text}");
    let generated: Option<u64> = text.lines().find_map(|l| {
        l.trim().strip_suffix(" skipped").and_then(|l| l.split(" generated").next()?.trim().parse().ok())
    });
    assert!(generated.is_some_and(|n| n >= 500), "too few cases: {generated:?}\n{text}");
    let doc: Value = http.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let problem =
        &doc["paths"]["/executions/{id}"]["get"]["responses"]["404"]["content"]["application/problem+json"];
    assert!(problem.is_object(), "problems are application/problem+json: {problem}");
}
