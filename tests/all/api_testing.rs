//! `POST /tests` and `POST /replays` against a live `wtb serve`: a test file sent as text runs
//! its cases (stubs included) on a registered workflow and answers with each case's result;
//! the recorded case replays the same, and on an uploaded component; what names the host's
//! files, another tenant's rows or nothing at all is a 4xx problem, and nothing runs.

use super::server::{Server, token};
use serde_json::{Value, json};
use wtb_tests::Harness;

#[tokio::test(flavor = "multi_thread")]
async fn tests_and_replays_run_over_http_for_the_tenant_only() {
    let h = Harness::new();
    let (alpha, beta) = (token(&h, "alpha"), token(&h, "beta"));
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| server.post_json(&http, path, token, body);
    let component = server.upload_probe(&http, &alpha).await;
    let manifest = format!(
        "name = \"remote\"\n[[nodes]]\nid = \"a\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", files = {{ \"a.txt\" = \"alpha\" }}, update = {{ n = 1 }} }}\n[[nodes]]\nid = \"b\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", update = {{ n = 2 }} }}\n"
    );
    let wf: Value =
        post("/workflows", &alpha, json!({ "manifest": manifest })).await.unwrap().json().await.unwrap();
    let wf_id = wf["id"].as_str().unwrap().to_owned();
    let tests = format!(
        "[[case]]\nname = \"real\"\nworkflow = \"{wf_id}\"\n[case.expect]\nstate = {{ n = 2 }}\nfiles = {{ \"a.txt\" = {{ content = \"alpha\" }} }}\n\n[[case]]\nname = \"stubbed b\"\nworkflow = \"{wf_id}\"\n[case.stub.b]\nupdate = {{ n = 20 }}\n[case.expect]\nstate = {{ n = 2 }}\n"
    );
    let r = post("/tests", &alpha, json!({ "tests": tests, "parallel": 2 })).await.unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!((report["cases"].as_u64(), report["failed"].as_u64()), (Some(2), Some(1)), "{report:#}");
    let cases = report["files"][0]["cases"].as_array().unwrap();
    assert_eq!(cases[0]["passed"], true);
    assert_eq!(cases[1]["failures"], json!(["state /n: expected 2, got 20"]));
    let execution = cases[0]["execution"].as_str().unwrap().to_owned();

    // The case's execution replays the same, also with `a` on the uploaded component.
    let r = post("/replays", &alpha, json!({ "execution": execution, "components": { "a": component } }))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let replayed: Value = r.json().await.unwrap();
    let verdicts: Vec<&str> =
        replayed["nodes"].as_array().unwrap().iter().map(|n| n["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["same", "same"], "{replayed:#}");

    // Refused with a problem, nothing run.
    let listed = |token: String| {
        let http = http.clone();
        let url = server.url("/executions");
        async move {
            let v: Value = http.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            v["executions"].as_array().unwrap().len()
        }
    };
    let before = listed(alpha.clone()).await;
    let case = |extra: &str| format!("[[case]]\nname = \"c\"\nworkflow = \"{wf_id}\"\n{extra}\n");
    for (body, status, says) in [
        (
            json!({ "tests": case("fixtures = { \"/in\" = \"/etc\" }") }),
            400,
            "fixtures name the host's files",
        ),
        (
            json!({ "tests": case("[case.expect]\ngolden = \"g\"") }),
            400,
            "golden snapshots name the host's files",
        ),
        (
            json!({ "tests": case("[case.expect]\nschema = \"s.json\"") }),
            400,
            "schema files name the host's files",
        ),
        (json!({ "tests": case("from = \"run.wtb\"") }), 400, "bundle files name the host's files"),
        (
            json!({ "tests": "[[case]]\nname = \"c\"\nworkflow = \"w.toml\"\n" }),
            400,
            "over the API, `workflow` is a registered workflow's id",
        ),
        (json!({ "tests": case("[case.stub.zz]") }), 400, "has no node `zz`"),
        (json!({ "tests": case(""), "parallel": 0 }), 400, "0 is not between 1 and 16"),
        (json!({ "tests": case(""), "colour": "red" }), 422, "unknown field `colour`"),
    ] {
        let r = post("/tests", &alpha, body.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap_or_default().contains(says), "{body}: {p}");
    }
    // Another tenant's workflow is nothing to it.
    let r = post("/tests", &beta, json!({ "tests": case("") })).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(listed(alpha.clone()).await, before, "nothing ran");
    assert_eq!(listed(beta.clone()).await, 0);
    for (who, body, status) in [
        (&beta, json!({ "execution": execution }), 404),
        (&alpha, json!({ "execution": "019a0000-0000-7000-8000-000000000000" }), 404),
        (&alpha, json!({ "execution": "nope" }), 400),
        (&alpha, json!({ "execution": execution, "nodes": ["zz"] }), 400),
        (&alpha, json!({ "execution": execution, "components": { "a": "sha256:00" } }), 400),
    ] {
        let r = post("/replays", who, body.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
}
