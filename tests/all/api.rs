//! `wtb serve` as a real process on 127.0.0.1: bearer-token auth scoped to the tenant, RFC 9457
//! problems for bad input, executions listed, shown, paused/resumed; graceful stop on SIGTERM.

use super::server::{Server, token, wtb};
use serde_json::{Value, json};
use wtb_tests::Harness;

#[tokio::test(flavor = "multi_thread")]
async fn the_api_serves_a_tenant_its_executions_and_nothing_else() {
    let h = Harness::new();
    let (alpha, beta) = (token(&h, "alpha"), token(&h, "beta"));
    let wf = h.probe_workflow(
        "api",
        &[
            ("one", json!({ "action": "write", "files": { "a.txt": "a" } })),
            ("two", json!({ "action": "write" })),
        ],
    );
    let run = wtb(&h, &["--tenant", "alpha", "run", wf.to_str().unwrap(), "--break-after", "one", "--json"]);
    let paused: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(paused["status"], "paused", "{run:?}");
    let id = paused["execution"].as_str().unwrap().to_owned();

    let server = Server::start(&h, &[]);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };

    // No token, a wrong token: 401 problems.
    let r = get("/executions", None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!((p["status"].as_u64(), p["title"].as_str()), (Some(401), Some("Unauthorized")));
    assert_eq!(get("/executions", Some("wtb_00")).await.unwrap().status(), 401);

    // alpha sees its execution; beta sees nothing, and alpha's id is a 404 for beta.
    let list: Value = get("/executions", Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!(list["executions"].as_array().unwrap().len(), 1);
    assert_eq!(list["executions"][0]["id"], id.as_str());
    let none: Value = get("/executions", Some(&beta)).await.unwrap().json().await.unwrap();
    assert_eq!(none["executions"], json!([]));
    assert_eq!(get(&format!("/executions/{id}"), Some(&beta)).await.unwrap().status(), 404);
    let shown: Value = get(&format!("/executions/{id}"), Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!(shown["execution"]["status"], "paused");
    assert!(get(&format!("/executions/{id}/history"), Some(&alpha)).await.unwrap().status().is_success());

    // Bad input: a 400 naming the field; unknown query keys; unknown routes.
    let p: Value = get("/executions/not-an-id", Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!((p["status"].as_u64(), p["field"].as_str()), (Some(400), Some("id")));
    let p: Value = get("/executions?status=sleeping", Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!((p["status"].as_u64(), p["field"].as_str()), (Some(400), Some("status")));
    assert_eq!(get("/executions?colour=red", Some(&alpha)).await.unwrap().status(), 400);
    // A NUL in a text filter is bad input on every backend (PostgreSQL's text refuses it: this
    // was a 500 there, found by the contract test).
    for q in ["workflow=a%00b", "variant=%00"] {
        let p: Value = get(&format!("/executions?{q}"), Some(&alpha)).await.unwrap().json().await.unwrap();
        assert_eq!(
            (p["status"].as_u64(), p["detail"].as_str()),
            (Some(400), Some("must not contain NUL")),
            "{q}"
        );
    }
    assert_eq!(get("/executions?limit=0", Some(&alpha)).await.unwrap().status(), 400);
    assert_eq!(get("/nowhere", Some(&alpha)).await.unwrap().status(), 404);

    // Resume over HTTP: 202, then the execution completes.
    let r = http.post(format!("{base}/executions/{id}/resume")).bearer_auth(&alpha).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let mut status = String::new();
    for _ in 0..100 {
        let s: Value = get(&format!("/executions/{id}"), Some(&alpha)).await.unwrap().json().await.unwrap();
        status = s["execution"]["status"].as_str().unwrap().to_owned();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");
    let r = http.post(format!("{base}/executions/{id}/resume")).bearer_auth(&alpha).send().await.unwrap();
    assert_eq!(r.status(), 409, "a completed execution cannot resume");

    // Time travel over HTTP: events, files, content, diff, fork, rollback.
    let events: Value =
        get(&format!("/executions/{id}/events"), Some(&alpha)).await.unwrap().json().await.unwrap();
    assert!(
        events["events"].as_array().unwrap().iter().any(|e| e["kind"] == "execution.completed"),
        "{events}"
    );
    let shown: Value = get(&format!("/executions/{id}"), Some(&alpha)).await.unwrap().json().await.unwrap();
    let cps = shown["checkpoints"].as_array().unwrap();
    let (first, last) =
        (cps[0]["id"].as_str().unwrap().to_owned(), cps.last().unwrap()["id"].as_str().unwrap().to_owned());
    let files: Value =
        get(&format!("/checkpoints/{last}/files"), Some(&alpha)).await.unwrap().json().await.unwrap();
    assert!(files["files"]["a.txt"].is_object(), "{files}");
    let r = get(&format!("/checkpoints/{last}/file?path=a.txt"), Some(&alpha)).await.unwrap();
    assert_eq!((r.status().as_u16(), r.bytes().await.unwrap().as_ref()), (200, b"a".as_ref()));
    for path in ["..%2F..%2Fetc%2Fpasswd", "nope.txt", "%2Fetc%2Fpasswd", "..", ""] {
        assert_eq!(
            get(&format!("/checkpoints/{last}/file?path={path}"), Some(&alpha)).await.unwrap().status(),
            404,
            "{path}"
        );
    }
    assert_eq!(
        get(&format!("/checkpoints/{last}/file"), Some(&alpha)).await.unwrap().status(),
        400,
        "no path"
    );
    assert_eq!(
        get(&format!("/checkpoints/{last}/file?path=a.txt"), Some(&beta)).await.unwrap().status(),
        404,
        "another tenant's checkpoint"
    );
    let d: Value =
        get(&format!("/checkpoints/{first}/diff/{last}"), Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!(d["files"][0]["path"], "a.txt");
    let post =
        |path: String, body: Value| http.post(format!("{base}{path}")).bearer_auth(&alpha).json(&body).send();
    let r = post(format!("/checkpoints/{first}/fork"), json!({ "state_patch": { "forked": true } }))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let forked: Value = r.json().await.unwrap();
    assert_eq!(forked["parent"], id.as_str());
    let r =
        post(format!("/checkpoints/{first}/fork"), json!({ "node_config": { "ghost": {} } })).await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        post(format!("/checkpoints/{first}/fork"), json!({ "colour": 1 })).await.unwrap().status(),
        422,
        "unknown fields"
    );
    let bad = http
        .post(format!("{base}/executions/{id}/rollback"))
        .bearer_auth(&alpha)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let r = post(format!("/executions/{id}/rollback"), json!({ "to": first })).await.unwrap();
    assert_eq!(r.status(), 200);
    let s: Value = get(&format!("/executions/{id}"), Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!(s["execution"]["status"], "paused");
    // Its own client: the server answers before reading the body and closes the connection,
    // which a pooled connection would otherwise be reused across.
    let huge = reqwest::Client::new()
        .post(format!("{base}/executions/{id}/rollback"))
        .bearer_auth(&alpha)
        .header("content-type", "application/json")
        .body(vec![b' '; 17 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413, "bodies over 16 MiB are refused");
    let exps: Value = get("/experiments", Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!(exps["experiments"], json!([]));
    wtb::demo::materialize(&h.dir.path().join("demo")).unwrap();
    let ran = wtb(&h, &["--tenant", "alpha", "experiment", "run", "demo/greeting-experiment.toml", "--json"]);
    assert!(ran.status.success(), "{ran:?}");
    let exp =
        serde_json::from_slice::<Value>(&ran.stdout).unwrap()["experiment"].as_str().unwrap().to_owned();
    let r = get(&format!("/experiments/{exp}/report?format=html"), Some(&alpha)).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()),
        (200, "text/html; charset=utf-8")
    );
    assert!(r.text().await.unwrap().contains("greeting-ab"));
    let j: Value =
        get(&format!("/experiments/{exp}/report"), Some(&alpha)).await.unwrap().json().await.unwrap();
    assert_eq!(j["passed"], true);
    assert_eq!(
        get(&format!("/experiments/{exp}/report?format=pdf"), Some(&alpha)).await.unwrap().status(),
        400
    );
    assert_eq!(get(&format!("/experiments/{exp}/report"), Some(&beta)).await.unwrap().status(), 404);
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);

    // Upload a component and start a run over HTTP.
    let up = |token: &str, bytes: Vec<u8>| {
        http.post(format!("{base}/components"))
            .bearer_auth(token)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
    };
    let r = up(&alpha, wtb_tests::PROBE.to_vec()).await.unwrap();
    assert_eq!(r.status(), 201);
    let component = r.json::<Value>().await.unwrap()["component"].as_str().unwrap().to_owned();
    assert_eq!(component, format!("sha256:{}", wtb_tests::digest(wtb_tests::PROBE)));
    let r = up(&alpha, b"not wasm".to_vec()).await.unwrap();
    assert_eq!(r.status(), 422);
    let manifest = |c: &str| {
        format!(
            "name = \"remote\"\n[[nodes]]\nid = \"w\"\ncomponent = \"{c}\"\nconfig = {{ action = \"write\", files = {{ \"r.txt\" = \"remote\" }}, update = {{ done = true }} }}\n"
        )
    };
    let start = |token: &str, body: Value| {
        http.post(format!("{base}/executions")).bearer_auth(token).json(&body).send()
    };
    let r = start(&alpha, json!({ "manifest": manifest(&component), "state": { "n": 1 } })).await.unwrap();
    assert_eq!(r.status(), 202);
    let started = r.json::<Value>().await.unwrap()["execution"].as_str().unwrap().to_owned();
    let mut done = Value::Null;
    for _ in 0..100 {
        done = get(&format!("/executions/{started}"), Some(&alpha)).await.unwrap().json().await.unwrap();
        if done["execution"]["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        done["checkpoints"].as_array().unwrap().last().unwrap()["state"],
        json!({ "n": 1, "done": true })
    );
    for (body, status, field) in [
        (json!({ "manifest": manifest("probe.wasm") }), 400, "manifest.nodes[0].component"),
        (json!({ "manifest": manifest("sha256:00") }), 400, "manifest.nodes[0].component"),
        (
            json!({ "manifest": manifest(&component).replace("config =", "fixtures = { \"/d\" = \"/etc\" }\nconfig =") }),
            400,
            "manifest.nodes[0].fixtures",
        ),
        (json!({ "manifest": "name = 5" }), 400, "manifest"),
    ] {
        let r = start(&alpha, body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["field"], field, "{p}");
    }
    assert_eq!(
        start(&alpha, json!({ "manifest": manifest(&component), "colour": 1 })).await.unwrap().status(),
        422,
        "unknown fields"
    );
    let r = start(&beta, json!({ "manifest": manifest(&component) })).await.unwrap();
    assert_eq!(r.status(), 400, "another tenant's upload is not beta's");
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("no uploaded component"));

    // SIGTERM: a graceful stop.
    let exit = server.stop();
    assert!(exit.success(), "{exit:?}");
}
