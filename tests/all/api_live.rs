//! What happens over time in `wtb serve`: the live event stream (SSE) of a running execution,
//! experiments started over HTTP, and an experiment that survives its server being killed.

use super::server::{Server, token};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use wtb_tests::Harness;

/// Reads a `text/event-stream` body to its end: (event, id, data) in order.
async fn read_stream(r: reqwest::Response) -> Vec<(String, Option<String>, String)> {
    let mut text = String::new();
    let mut body = r.bytes_stream();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, body.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(tokio::time::Instant::now() < deadline, "the stream did not end:\n{text}");
    text.split("\n\n")
        .filter(|b| b.lines().any(|l| l.starts_with("data:")))
        .map(|block| {
            let field =
                |name: &str| block.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()));
            (field("event:").unwrap_or_default(), field("id:"), field("data:").unwrap_or_default())
        })
        .collect()
}

/// Starts an execution of `manifest` over the API; its id.
async fn start(http: &reqwest::Client, server: &Server, token: &str, manifest: &str) -> String {
    let r = http
        .post(server.url("/executions"))
        .bearer_auth(token)
        .json(&json!({ "manifest": manifest }))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["execution"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_sends_each_event_once_in_order_and_ends_with_the_run() {
    let h = Harness::new();
    let (alpha, beta) = (token(&h, "alpha"), token(&h, "beta"));
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let component = server.upload_probe(&http, &alpha).await;
    // No edges: the nodes run in the order listed.
    let node = |id: &str| {
        format!(
            "[[nodes]]\nid = \"{id}\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", files = {{ \"{id}.txt\" = \"{id}\" }}, sleep_ms = 150 }}\n"
        )
    };
    let manifest = format!("name = \"live\"\n{}{}{}", node("a"), node("b"), node("c"));
    let id = start(&http, &server, &alpha, &manifest).await;

    // Subscribed while it runs: every event once, seq rising, then the final status, then the end.
    let stream = http
        .get(server.url(&format!("/executions/{id}/events")))
        .bearer_auth(&alpha)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let events = read_stream(stream).await;
    let seqs: Vec<u32> = events.iter().filter_map(|(_, id, _)| id.as_ref()?.parse().ok()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs.first() == Some(&1), "{events:?}");
    let kinds: Vec<&str> = events.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "node.completed").count(), 3, "{kinds:?}");
    assert!(kinds.contains(&"execution.completed"), "{kinds:?}");
    assert_eq!(events.last().unwrap(), &("status".to_owned(), None, "{\"status\":\"completed\"}".to_owned()));
    let json_events: Value = http
        .get(server.url(&format!("/executions/{id}/events")))
        .bearer_auth(&alpha)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json_events["events"].as_array().unwrap().len(), seqs.len(), "the stream and the list agree");

    // Reconnecting with Last-Event-ID: only what came after.
    let again = http
        .get(server.url(&format!("/executions/{id}/events")))
        .bearer_auth(&alpha)
        .header("accept", "text/event-stream")
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    let rest = read_stream(again).await;
    let rest_seqs: Vec<u32> = rest.iter().filter_map(|(_, id, _)| id.as_ref()?.parse().ok()).collect();
    assert_eq!(rest_seqs, seqs[3..].to_vec());
    let bad = http
        .get(server.url(&format!("/executions/{id}/events")))
        .bearer_auth(&alpha)
        .header("accept", "text/event-stream")
        .header("last-event-id", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let other = http
        .get(server.url(&format!("/executions/{id}/events")))
        .bearer_auth(&beta)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "another tenant's stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_experiment_started_over_http_runs_in_the_server_and_survives_a_kill() {
    let h = Harness::new();
    let alpha = token(&h, "alpha");
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let component = server.upload_probe(&http, &alpha).await;
    let manifest = format!(
        "name = \"exp\"\n[[nodes]]\nid = \"w\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", files = {{ \"w.txt\" = \"w\" }}, sleep_ms = 300 }}\n"
    );
    let wf: Value = http
        .post(server.url("/workflows"))
        .bearer_auth(&alpha)
        .json(&json!({ "manifest": manifest }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wf_id = wf["id"].as_str().unwrap();
    let spec = |extra: &str| {
        format!(
            "name = \"remote-ab\"\nworkflow = \"{wf_id}\"\nrepetitions = 3\n[[variants]]\nname = \"base\"\n[[variants]]\nname = \"loud\"\nnodes.w = {{ config = {{ action = \"write\", files = {{ \"w.txt\" = \"W\" }}, sleep_ms = 300 }} }}\n{extra}"
        )
    };
    let start = |body: Value| http.post(server.url("/experiments")).bearer_auth(&alpha).json(&body).send();

    // Refused: a file path for the workflow, fixtures, an unknown upload, bad parallelism.
    for (body, field) in [
        (json!({ "experiment": spec("").replace(wf_id, "wf.toml") }), "experiment.workflow"),
        (
            json!({ "experiment": spec("[[environments]]\nname = \"e\"\nfixtures = { \"/d\" = \"/etc\" }\n") }),
            "experiment.environments.e.fixtures",
        ),
        (
            json!({ "experiment": spec("").replace("nodes.w = {", &format!("nodes.w = {{ component = \"sha256:{}\", ", "0".repeat(64))) }),
            "experiment.variants.loud.nodes.w.component",
        ),
        (json!({ "experiment": spec(""), "parallelism": 0 }), "parallelism"),
    ] {
        let r = start(body.clone()).await.unwrap();
        let p: Value = r.json().await.unwrap();
        assert_eq!((p["status"].as_u64(), p["field"].as_str()), (Some(400), Some(field)), "{body}: {p}");
    }

    // Six cells, one at a time (300 ms each); the server is killed after the first ends.
    let r = start(json!({ "experiment": spec(""), "parallelism": 1 })).await.unwrap();
    assert_eq!(r.status(), 202);
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["cells"], 6);
    let exp = started["experiment"].as_str().unwrap().to_owned();
    let report = |server: &Server| {
        let url = server.url(&format!("/experiments/{exp}/report"));
        let http = http.clone();
        let alpha = alpha.clone();
        async move { http.get(url).bearer_auth(alpha).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let done =
        |r: &Value| r["cells"].as_array().unwrap().iter().filter(|c| c["status"] == "completed").count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while done(&report(&server).await) == 0 {
        assert!(std::time::Instant::now() < deadline, "no cell finished");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = Server::start(&h, &[]);
    let finished = loop {
        let r = report(&server).await;
        if done(&r) == 6 {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted server did not finish the experiment: {r}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(finished["passed"], true, "{finished}");
    // Exactly one execution per cell: nothing was run twice or lost.
    let list: Value = http
        .get(server.url("/executions?limit=100"))
        .bearer_auth(&alpha)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cells = list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["environment"]["cell"]["experiment"] == exp.as_str())
        .count();
    assert_eq!(cells, 6, "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_interrupted_by_sigterm_finishes_when_the_server_starts_again() {
    let h = Harness::new();
    let alpha = token(&h, "alpha");
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let component = server.upload_probe(&http, &alpha).await;
    let node = |id: &str| {
        format!(
            "[[nodes]]\nid = \"{id}\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", files = {{ \"{id}.txt\" = \"{id}\" }}, sleep_ms = 400 }}\n"
        )
    };
    let manifest = format!("name = \"long\"\n{}{}{}{}", node("a"), node("b"), node("c"), node("d"));
    let id = start(&http, &server, &alpha, &manifest).await;
    // Stopped gracefully once the first node's exit is committed, while the next one runs (each
    // takes 400 ms): a clean exit, the execution not finished.
    let succeeded = |r: &Value| {
        r["nodes"].as_array().map_or(0, |n| n.iter().filter(|n| n["status"] == "succeeded").count())
    };
    let first =
        super::api_admin::wait_until(&http, &server, &alpha, &id, "commit a node", |r| succeeded(r) >= 1)
            .await;
    assert!(succeeded(&first) < 4, "stopped before the run could end: {first}");
    assert!(server.stop().success());
    let server = Server::start(&h, &[]);
    let done = super::api_admin::wait_final(&http, &server, &alpha, &id).await;
    assert_eq!(done["execution"]["status"], "completed", "{done}");
    let last = done["checkpoints"].as_array().unwrap().last().unwrap()["files"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(last, ["a.txt", "b.txt", "c.txt", "d.txt"], "every node's file, nothing lost");
    // Each node succeeded exactly once (an interrupted attempt is re-run, not duplicated).
    let ok = done["nodes"].as_array().unwrap().iter().filter(|n| n["status"] == "succeeded").count();
    assert_eq!(ok, 4, "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relay_inside_serve_delivers_every_event_of_a_run_once_in_order() {
    use wtb_tests::receiver::{Behaviour, Receiver};
    let h = Harness::new();
    let rx = Receiver::start(super::outbox::SECRET, Behaviour::default()).await;
    super::outbox::webhook_config(&h, &rx.url, "poll_interval_ms = 20");
    let alpha = token(&h, "alpha");
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    let component = server.upload_probe(&http, &alpha).await;
    let node = |id: &str| {
        format!(
            "[[nodes]]\nid = \"{id}\"\ncomponent = \"{component}\"\nconfig = {{ action = \"write\", files = {{ \"{id}.txt\" = \"{id}\" }}, events = [[\"step\", {{ node = \"{id}\" }}]] }}\n"
        )
    };
    let manifest = format!("name = \"hooked\"\n{}{}", node("a"), node("b"));
    let id = start(&http, &server, &alpha, &manifest).await;
    let done = super::api_admin::wait_final(&http, &server, &alpha, &id).await;
    assert_eq!(done["execution"]["status"], "completed", "{done}");
    let recorded: Vec<(String, u64)> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_owned(), e["seq"].as_u64().unwrap()))
        .collect();
    assert!(recorded.len() >= 6, "started, 2 × (guest step, node completed, files), completed: {done}");
    // Nothing but the server runs a relay here: what arrives, it delivered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let delivered: Vec<(String, u64)> = rx.seen(|s| {
            s.accepted.iter().filter(|(_, e, _)| *e == id).map(|(k, _, seq)| (k.clone(), *seq)).collect()
        });
        if delivered.len() == recorded.len() {
            assert_eq!(delivered, recorded, "every event once, in the execution's order");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "delivered {delivered:?} of {recorded:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rx.seen(|s| (s.bad_signatures, s.key_mismatches)), (0, 0));
    assert!(server.stop().success(), "SIGTERM ends the server and its relay cleanly");
}
