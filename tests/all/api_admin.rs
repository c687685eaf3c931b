//! `wtb serve` with an admin token: tenants, quotas and tokens over HTTP, `/metrics`; the
//! OpenAPI document against the routes that exist; registered workflows; tar export.

use super::server::{Server, token, wtb};
use serde_json::{Value, json};
use std::io::Read as _;
use wtb_tests::Harness;

const ADMIN: &str = "admin-secret-0123456789";

/// A data dir whose `wtb.toml` takes the admin token from `$WTB_TEST_ADMIN`.
fn with_admin() -> Harness {
    let h = Harness::new();
    std::fs::create_dir_all(h.data_dir()).unwrap();
    h.config("[serve]\nadmin_token_env = \"WTB_TEST_ADMIN\"\n").unwrap();
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_token_manages_tenants_tokens_quotas_and_reads_metrics() {
    let h = with_admin();
    let alpha = token(&h, "alpha");
    let server = Server::start(&h, &[("WTB_TEST_ADMIN", ADMIN)]);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut r = http.request(method, server.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    use reqwest::Method as M;

    // Only the admin token opens /admin and /metrics: no or a made-up credential is a 401, a
    // tenant's valid token (authenticated, without the right) a 403.
    assert_eq!(call(M::GET, "/admin/tenants", None, None).await.unwrap().status(), 401);
    assert_eq!(call(M::GET, "/admin/tenants", Some("wtb_00"), None).await.unwrap().status(), 401);
    assert_eq!(call(M::GET, "/admin/tenants", Some(&alpha), None).await.unwrap().status(), 403);
    assert_eq!(call(M::GET, "/metrics", Some(&alpha), None).await.unwrap().status(), 403);
    let all: Value = call(M::GET, "/admin/tenants", Some(ADMIN), None).await.unwrap().json().await.unwrap();
    assert!(all["tenants"].as_array().unwrap().iter().any(|t| t["tenant"]["name"] == "alpha"), "{all}");
    // And it is not a tenant's token either.
    assert_eq!(call(M::GET, "/executions", Some(ADMIN), None).await.unwrap().status(), 401);

    // Tenants: create, refuse a duplicate, a bad name, an unknown field.
    let r = call(M::POST, "/admin/tenants", Some(ADMIN), Some(json!({ "name": "gamma" }))).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        call(M::POST, "/admin/tenants", Some(ADMIN), Some(json!({ "name": "gamma" })))
            .await
            .unwrap()
            .status(),
        409
    );
    let p: Value = call(M::POST, "/admin/tenants", Some(ADMIN), Some(json!({ "name": "Not Valid!" })))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((p["status"].as_u64(), p["field"].as_str()), (Some(400), Some("name")), "{p}");
    assert_eq!(
        call(M::POST, "/admin/tenants", Some(ADMIN), Some(json!({ "name": "x", "colour": 1 })))
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(call(M::GET, "/admin/tenants/nobody/tokens", Some(ADMIN), None).await.unwrap().status(), 404);

    // A token for gamma works at once, and sees none of alpha's.
    let r = call(M::POST, "/admin/tenants/gamma/tokens", Some(ADMIN), Some(json!({ "name": "ci" })))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let gamma = created["secret"].as_str().unwrap().to_owned();
    let list: Value = call(M::GET, "/executions", Some(&gamma), None).await.unwrap().json().await.unwrap();
    assert_eq!(list["executions"], json!([]));
    let tokens: Value =
        call(M::GET, "/admin/tenants/gamma/tokens", Some(ADMIN), None).await.unwrap().json().await.unwrap();
    assert_eq!(tokens["tokens"][0]["name"], "ci");
    assert!(!tokens.to_string().contains(&gamma), "a secret is never shown again");

    // Quotas: none may run at once, so a start is a 429; lifted, it runs.
    let up = call(M::PUT, "/admin/tenants/gamma/quotas", Some(ADMIN), Some(json!({ "max_concurrent": 0 })))
        .await
        .unwrap();
    assert_eq!(up.status(), 200);
    let component = server.upload_probe(&http, &gamma).await;
    let manifest = format!(
        "name = \"q\"\n[[nodes]]\nid = \"w\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", files = {{ \"q.txt\" = \"q\" }} }}\n"
    );
    let r = call(M::POST, "/executions", Some(&gamma), Some(json!({ "manifest": manifest }))).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("max_concurrent"));
    assert_eq!(
        call(M::PUT, "/admin/tenants/gamma/quotas", Some(ADMIN), Some(json!({ "max_concurent": 1 })))
            .await
            .unwrap()
            .status(),
        422,
        "a misspelt quota"
    );
    call(M::PUT, "/admin/tenants/gamma/quotas", Some(ADMIN), Some(json!({}))).await.unwrap();
    let started: Value = call(M::POST, "/executions", Some(&gamma), Some(json!({ "manifest": manifest })))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["execution"].as_str().unwrap().to_owned();
    wait_final(&http, &server, &gamma, &id).await;

    // Metrics: every family, and the node just run counted.
    let r = call(M::GET, "/metrics", Some(ADMIN), None).await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    for family in [
        "wtb_executions",
        "wtb_nodes_total",
        "wtb_node_duration_seconds",
        "wtb_outbox_depth",
        "wtb_outbox_oldest_age_seconds",
        "wtb_blob_bytes",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{text}");
    }
    assert!(text.contains("wtb_executions{tenant=\"gamma\",status=\"completed\"} 1"), "{text}");
    let succeeded: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("wtb_nodes_total{outcome=\"succeeded\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(succeeded >= 1, "{text}");
    assert!(text.lines().any(|l| l.starts_with("wtb_outbox_depth{sink=\"jsonl\"} ")), "{text}");

    // Revoked: the token opens nothing; an unknown token id is a 404.
    let token_id = created["id"].as_str().unwrap();
    assert_eq!(
        call(M::DELETE, &format!("/admin/tenants/gamma/tokens/{token_id}"), Some(ADMIN), None)
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(call(M::GET, "/executions", Some(&gamma), None).await.unwrap().status(), 401);
    assert_eq!(
        call(M::DELETE, &format!("/admin/tenants/gamma/tokens/{token_id}"), Some(ADMIN), None)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        call(M::DELETE, "/admin/tenants/gamma/tokens/nope", Some(ADMIN), None).await.unwrap().status(),
        400
    );
    assert!(server.stop().success());
}

#[test]
fn a_malformed_admin_token_setting_is_refused_before_anything_starts() {
    let h = Harness::new();
    std::fs::create_dir_all(h.data_dir()).unwrap();
    h.config("[serve]\nadmin_token_sha256 = \"abc\"\n").unwrap();
    let out = wtb(&h, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("admin_token_sha256 must be 64 hex digits"),
        "{out:?}"
    );
    h.config("[serve]\nadmin_token_env = \"WTB_TEST_UNSET_VARIABLE\"\n").unwrap();
    let out = wtb(&h, &["serve", "--listen", "127.0.0.1:0"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("$WTB_TEST_UNSET_VARIABLE is not set"), "{out:?}");
}

/// Polls execution `id` until it is final; returns its report.
pub async fn wait_final(http: &reqwest::Client, server: &Server, token: &str, id: &str) -> Value {
    let ended =
        |r: &Value| matches!(r["execution"]["status"].as_str(), Some("completed" | "failed" | "cancelled"));
    wait_until(http, server, token, id, "finish", ended).await
}

/// The execution's JSON (`GET /executions/{id}`) once `reached` holds for it: a barrier on
/// committed state, not a time window. Panics after 60 s (generous: the suite runs tests in
/// parallel on two cores, some starting several `wtb` processes that each compile the probe),
/// naming `what` it did not do.
pub async fn wait_until(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    id: &str,
    what: &str,
    reached: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..1200 {
        let r: Value = http
            .get(server.url(&format!("/executions/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if reached(&r) {
            return r;
        }
        last = r;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("execution {id} did not {what}; last seen: {}", last["execution"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_exactly_the_routes_that_answer() {
    let h = Harness::new();
    let alpha = token(&h, "alpha");
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let doc: Value = http.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}: no responses"
            );
            // Every documented operation exists: with made-up ids it answers 4xx, but never the
            // "no such endpoint" fallback or a 405.
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "019a0000-0000-7000-8000-000000000000" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let r = http
                .request(method.to_uppercase().parse().unwrap(), server.url(&concrete))
                .bearer_auth(&alpha)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(
                status != 405 && !body.contains("no such endpoint"),
                "{method} {path} is documented but not routed: {status} {body}"
            );
        }
    }
    assert!(operations >= 25, "only {operations} operations documented");
    // And what is routed but undocumented is only the page, the document and the health check.
    for (path, expected) in
        [("/", 200), ("/openapi.json", 200), ("/healthz", 200), ("/executions/x/nothing", 404)]
    {
        assert_eq!(http.get(server.url(path)).send().await.unwrap().status().as_u16(), expected, "{path}");
    }
    for path in ["/", "/openapi.json", "/healthz"] {
        assert!(!paths.contains_key(path), "{path}");
    }
    // A known route with a method it does not take: 405 as a problem.
    let r = http.delete(server.url("/executions")).bearer_auth(&alpha).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()),
        (405, "application/problem+json")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_workflows_start_by_id_and_a_checkpoint_exports_as_tar() {
    let h = Harness::new();
    let (alpha, beta) = (token(&h, "alpha"), token(&h, "beta"));
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| server.post_json(&http, path, token, body);
    let component = server.upload_probe(&http, &alpha).await;
    let manifest = format!(
        "name = \"tarred\"\n[[nodes]]\nid = \"w\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", files = {{ \"out/r.txt\" = \"remote\", \"top.txt\" = \"top\" }} }}\n"
    );

    // Validate: no record; register: a record, the same one twice.
    let v: Value = post("/workflows/validate", &alpha, json!({ "manifest": manifest }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["name"].as_str(), v["nodes"].clone(), v.get("id")),
        (Some("tarred"), json!(["w"]), None),
        "{v}"
    );
    let listed: Value =
        http.get(server.url("/workflows")).bearer_auth(&alpha).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["workflows"], json!([]), "validate stores nothing");
    let p: Value =
        post("/workflows/validate", &alpha, json!({ "manifest": "name = \"x\"\n[[nodes]]\nid = \"a\"\n" }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!((p["status"].as_u64(), p["field"].as_str()), (Some(400), Some("manifest")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("missing field `component`"), "{p}");
    let r = post("/workflows", &alpha, json!({ "manifest": manifest })).await.unwrap();
    assert_eq!(r.status(), 201);
    let wf: Value = r.json().await.unwrap();
    let again: Value =
        post("/workflows", &alpha, json!({ "manifest": manifest })).await.unwrap().json().await.unwrap();
    assert_eq!(wf["id"], again["id"]);
    let listed: Value =
        http.get(server.url("/workflows")).bearer_auth(&alpha).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["workflows"].as_array().unwrap().len(), 1);
    let wf_id = wf["id"].as_str().unwrap();

    // Start by id; another tenant's id, a made-up one, both or neither: refused.
    let r = post("/executions", &alpha, json!({ "workflow": wf_id })).await.unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["execution"].as_str().unwrap().to_owned();
    assert_eq!(post("/executions", &beta, json!({ "workflow": wf_id })).await.unwrap().status(), 404);
    assert_eq!(
        post("/executions", &alpha, json!({ "workflow": "019a0000-0000-7000-8000-000000000000" }))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(post("/executions", &alpha, json!({ "workflow": "nope" })).await.unwrap().status(), 400);
    assert_eq!(
        post("/executions", &alpha, json!({ "workflow": wf_id, "manifest": manifest }))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(post("/executions", &alpha, json!({})).await.unwrap().status(), 400);
    let done = super::api_admin::wait_final(&http, &server, &alpha, &id).await;
    assert_eq!(done["execution"]["status"], "completed", "{done}");

    // The last checkpoint as a tar: the files, their contents, the directory.
    let last = done["checkpoints"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    let r = http
        .get(server.url(&format!("/checkpoints/{last}/export")))
        .bearer_auth(&alpha)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()),
        (200, "application/x-tar")
    );
    let bytes = r.bytes().await.unwrap();
    let mut archive = tar::Archive::new(bytes.as_ref());
    let mut found = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut text = String::new();
        e.read_to_string(&mut text).unwrap();
        found.insert(path, (e.header().entry_type().is_dir(), text));
    }
    assert_eq!(found.get("out/r.txt"), Some(&(false, "remote".to_owned())), "{found:?}");
    assert_eq!(found.get("top.txt"), Some(&(false, "top".to_owned())), "{found:?}");
    assert_eq!(found.get("out/"), Some(&(true, String::new())), "{found:?}");
    assert_eq!(
        http.get(server.url(&format!("/checkpoints/{last}/export")))
            .bearer_auth(&beta)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.get(server.url("/checkpoints/bad/export")).bearer_auth(&alpha).send().await.unwrap().status(),
        400
    );
}
