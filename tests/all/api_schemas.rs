//! Every body a live `wtb serve` sends for the demo's runs — executions, reports, histories,
//! checkpoints, diffs, forks, rollbacks, events, experiments and their progress, tests,
//! replays, tenants, and problems — validates against the schema `/openapi.json` gives for that operation and
//! status (JSON Schema 2020-12, the document's own components resolving its `$ref`s). Where
//! schemathesis explores with generated requests, this walks the paths real data takes.

use super::server::{Server, token, wtb};
use reqwest::Method;
use serde_json::{Value, json};
use wtb_tests::Harness;

/// The admin token the server is started with.
const ADMIN: &str = "admin-secret-schemas-0123456789";

/// Checks bodies against one document.
struct Contract {
    doc: Value,
    http: reqwest::Client,
    server: Server,
    checked: usize,
}

impl Contract {
    /// Sends `method path` (with `body` as JSON) as `token`, requires `status`, and validates
    /// the body against the schema of operation `template` for that status and media type.
    async fn call(
        &mut self,
        token: &str,
        method: Method,
        (path, template): (&str, &str),
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let mut req = self.http.request(method.clone(), self.server.url(path)).bearer_auth(token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let media = r.headers()["content-type"].to_str().unwrap().to_owned();
        let got = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        let errors = self.mismatches(&method, template, status, &media, &value);
        assert!(
            errors.is_empty(),
            "{method} {path} ({status}) does not match its schema:\n{errors:#?}\n{value:#}"
        );
        self.checked += 1;
        value
    }

    /// How `value` breaks the schema of `method template`'s `status` response in `media`
    /// (formats asserted: uuid, date-time).
    fn mismatches(
        &self,
        method: &Method,
        template: &str,
        status: u16,
        media: &str,
        value: &Value,
    ) -> Vec<String> {
        let op = &self.doc["paths"][template][method.as_str().to_lowercase()];
        let schema = op["responses"][status.to_string()]["content"][media]["schema"].clone();
        assert!(schema.is_object(), "{method} {template}: no {status} {media} in the document");
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{template}: {e}"));
        validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_body_the_demo_produces_matches_its_documented_schema() {
    let h = Harness::new();
    std::fs::create_dir_all(h.data_dir()).unwrap();
    h.config("[serve]\nadmin_token_env = \"WTB_TEST_ADMIN_SCHEMAS\"\n").unwrap();
    let alpha = token(&h, "alpha");
    wtb::demo::materialize(&h.dir.path().join("demo")).unwrap();
    let cli = |args: &[&str]| {
        let out = wtb(&h, &[&["--tenant", "alpha", "--json"], args].concat());
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"))
    };
    let done = cli(&["run", "demo/branching.toml"])["execution"].as_str().unwrap().to_owned();
    let paused = cli(&["run", "demo/branching.toml", "--break-after", "triage"])["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    let experiment = cli(&["experiment", "run", "demo/greeting-experiment.toml"])["experiment"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Server::start(&h, &[("WTB_TEST_ADMIN_SCHEMAS", ADMIN)]);
    let http = reqwest::Client::new();
    let doc: Value = http.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut c = Contract { doc, http, server, checked: 0 };
    let (get, post) = (Method::GET, Method::POST);

    c.call(&alpha, get.clone(), ("/executions", "/executions"), None, 200).await;
    let e = format!("/executions/{done}");
    let report = c.call(&alpha, get.clone(), (&e, "/executions/{id}"), None, 200).await;
    assert_eq!(report["nodes"].as_array().map(Vec::len), Some(5));
    // The check has teeth: an unknown status, a malformed id, an instant as a number and a
    // malformed digest each fail it.
    for (pointer, bad) in [
        ("/execution/status", json!("bogus")),
        ("/execution/id", json!("not-a-uuid")),
        ("/nodes/0/started_at", json!(1_795_428_688_123_456_i64)),
        ("/checkpoints/0/created_at", json!("yesterday")),
    ] {
        let mut tampered = report.clone();
        *tampered.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = bad;
        let found = c.mismatches(&get, "/executions/{id}", 200, "application/json", &tampered);
        assert!(!found.is_empty(), "{pointer} = {} passed", tampered.pointer(pointer).unwrap());
    }
    let h_path = format!("/executions/{done}/history");
    let history = c.call(&alpha, get.clone(), (&h_path, "/executions/{id}/history"), None, 200).await;
    let ids: Vec<&str> =
        history["checkpoints"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    let (first, last) = (ids[0], ids[ids.len() - 1]);
    let ev = format!("/executions/{done}/events");
    c.call(&alpha, get.clone(), (&ev, "/executions/{id}/events"), None, 200).await;
    let f = format!("/checkpoints/{last}/files");
    let mut files = c.call(&alpha, get.clone(), (&f, "/checkpoints/{id}/files"), None, 200).await;
    *files.pointer_mut("/files/report.md/digest").expect("report.md has a digest") = json!("sha256:00");
    assert!(!c.mismatches(&get, "/checkpoints/{id}/files", 200, "application/json", &files).is_empty());
    let d = format!("/checkpoints/{first}/diff/{last}");
    let diff = c.call(&alpha, get.clone(), (&d, "/checkpoints/{a}/diff/{b}"), None, 200).await;
    assert!(diff["files"].as_array().is_some_and(|f| !f.is_empty()), "{diff}");
    let k = format!("/checkpoints/{first}/fork");
    c.call(&alpha, post.clone(), (&k, "/checkpoints/{id}/fork"), Some(json!({})), 201).await;
    // Nothing runs after the last checkpoint: a documented conflict.
    let k = format!("/checkpoints/{last}/fork");
    c.call(&alpha, post.clone(), (&k, "/checkpoints/{id}/fork"), Some(json!({})), 409).await;

    // The paused run: rolled back to its first checkpoint, then cancelled.
    let ph = format!("/executions/{paused}/history");
    let ph = c.call(&alpha, get.clone(), (&ph, "/executions/{id}/history"), None, 200).await;
    let to = ph["checkpoints"][0]["id"].as_str().unwrap().to_owned();
    let rb = format!("/executions/{paused}/rollback");
    c.call(&alpha, post.clone(), (&rb, "/executions/{id}/rollback"), Some(json!({ "to": to })), 200).await;
    let cancel = format!("/executions/{paused}/cancel");
    c.call(&alpha, post.clone(), (&cancel, "/executions/{id}/cancel"), None, 202).await;

    c.call(&alpha, get.clone(), ("/experiments", "/experiments"), None, 200).await;
    let r = format!("/experiments/{experiment}/report");
    let er = c.call(&alpha, get.clone(), (&r, "/experiments/{id}/report"), None, 200).await;
    assert!(er["cells"].as_array().is_some_and(|c| c.len() >= 4), "{er}");
    let pr = format!("/experiments/{experiment}/progress");
    let progress = c.call(&alpha, get.clone(), (&pr, "/experiments/{id}/progress"), None, 200).await;
    assert_eq!(progress["finished"].as_u64(), er["cells"].as_array().map(|c| c.len() as u64), "{progress}");

    let workflows = c.call(&alpha, get.clone(), ("/workflows", "/workflows"), None, 200).await;
    let branching = workflows["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "branching")
        .and_then(|w| w["id"].as_str())
        .unwrap()
        .to_owned();
    let tests = format!(
        "[[case]]\nname = \"full\"\nworkflow = \"{branching}\"\n[case.expect]\nstatus = \"completed\"\n\
         [[case]]\nname = \"wrong\"\nworkflow = \"{branching}\"\n[case.expect]\nstatus = \"failed\"\n"
    );
    let run = c.call(&alpha, post.clone(), ("/tests", "/tests"), Some(json!({ "tests": tests })), 200).await;
    assert_eq!((run["cases"].as_u64(), run["failed"].as_u64()), (Some(2), Some(1)), "{run}");
    let replay = json!({ "execution": done });
    c.call(&alpha, post.clone(), ("/replays", "/replays"), Some(replay), 200).await;

    c.call(ADMIN, get.clone(), ("/admin/tenants", "/admin/tenants"), None, 200).await;
    let t = "/admin/tenants/alpha/tokens";
    c.call(ADMIN, get.clone(), (t, "/admin/tenants/{name}/tokens"), None, 200).await;

    // Problems, as `application/problem+json` with their schema.
    let missing = "/executions/019a0000-0000-7000-8000-000000000000";
    let p = c.call(&alpha, get.clone(), (missing, "/executions/{id}"), None, 404).await;
    assert_eq!(p["status"], 404);
    c.call(&alpha, get, ("/executions?limit=0", "/executions"), None, 400).await;
    assert_eq!(c.checked, 21);
}
