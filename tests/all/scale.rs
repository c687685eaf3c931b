//! Two machines' worth of WTB: two data dirs, no disk in common, one PostgreSQL database and
//! one bucket. What a process on one starts, a server on the other shows, resumes and
//! finishes, rebuilding the workspace from the store (a file too large for a database row
//! comes from the bucket).

use super::api_admin::wait_until;
use super::server::Server;
use serde_json::{Value, json};
use std::process::{Command, Output};
use wtb_tests::Harness;
use wtb_tests::services;

const AWS: [(&str, &str); 3] =
    [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")];

fn wtb(h: &Harness, args: &[&str]) -> Output {
    crate::wtb_command(h)
        .args(args)
        .envs(AWS)
        .env_remove("WTB_TENANT")
        .env_remove("WTB_TOKEN")
        .current_dir(h.dir.path())
        .output()
        .expect("running wtb")
}

/// Two data dirs with no disk in common on one fresh database and one fresh bucket, and the
/// token of tenant `alpha`; `None` (skipped, or a failure under `CI`) without the services.
fn two_machines(test: &str) -> Option<(Harness, Harness, String)> {
    let (pg, s3) = match (services::postgres(), services::s3()) {
        (Ok(pg), Ok(s3)) => (pg, s3),
        (Err(why), _) | (_, Err(why)) => {
            wtb_tests::skipped(test, &why);
            return None;
        }
    };
    let shared = format!("database = {{ url = \"{}\" }}\n{}", pg.database(), s3.blobs_config());
    let (one, two) = (Harness::new(), Harness::with_own_cache());
    one.config(&shared).unwrap();
    two.config(&shared).unwrap();
    assert!(wtb(&one, &["tenant", "create", "alpha"]).status.success());
    let token = String::from_utf8(wtb(&one, &["--tenant", "alpha", "token", "create"]).stdout).unwrap();
    Some((one, two, token.trim().to_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_paused_on_one_machine_is_finished_by_a_server_on_another() {
    let Some((one, two, token)) = two_machines("an_execution_paused_on_one_machine") else { return };
    let token = token.as_str();

    let big = "wtb ".repeat(25_000); // 100 KB: over the inline limit, so a bucket object
    let wf = one.probe_workflow(
        "scale",
        &[
            ("one", json!({ "action": "write", "files": { "big.txt": big } })),
            ("two", json!({ "action": "read_file", "path": "big.txt" })),
        ],
    );
    let run =
        wtb(&one, &["--tenant", "alpha", "--json", "run", wf.to_str().unwrap(), "--break-after", "one"]);
    let paused: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|_| panic!("{run:?}"));
    assert_eq!(paused["status"], "paused", "{run:?}");
    let id = paused["execution"].as_str().unwrap().to_owned();

    // The other machine's server sees it, resumes it, and runs `two` there.
    let server = Server::start(&two, &AWS);
    let http = reqwest::Client::new();
    let r =
        http.post(server.url(&format!("/executions/{id}/resume"))).bearer_auth(token).send().await.unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let done =
        wait_until(&http, &server, token, &id, "complete", |v| v["execution"]["status"] == "completed").await;
    assert_eq!(done["execution"]["status"], "completed");
    // Its process compiled the component to run `two` (whatever the kind of workspace).
    let compiled = wtb_tests::files_under(&two.data_dir().join("cache"));
    assert!(!compiled.is_empty(), "`two` ran on the second machine");

    // The first machine reads what the second wrote: the state from the database, the file
    // from the bucket.
    let shown: Value =
        serde_json::from_slice(&wtb(&one, &["--tenant", "alpha", "--json", "show", &id]).stdout).unwrap();
    let last = shown["checkpoints"].as_array().and_then(|c| c.last()).unwrap_or_else(|| panic!("{shown}"));
    let state = if last["checkpoint"].is_object() { &last["checkpoint"]["state"] } else { &last["state"] };
    assert_eq!(state["read"].as_str().map(str::len), Some(big.len()), "`two` read the bucket's file: {last}");
    assert!(wtb_tests::files_under(&one.data_dir().join("blobs")).is_empty(), "no local blob store used");
    assert!(wtb_tests::files_under(&two.data_dir().join("blobs")).is_empty(), "no local blob store used");
}

/// An execution whose process was killed mid-node, and two servers (on two machines' data
/// dirs) started at once, each resuming every interrupted execution at start: one takes the
/// execution over (its lease), the other leaves it, and every node's checkpoints and events are
/// recorded once.
#[tokio::test(flavor = "multi_thread")]
async fn two_servers_starting_together_take_over_a_killed_run_once() {
    let Some((one, two, token)) = two_machines("two_servers_starting_together") else { return };
    let token = token.as_str();
    let gate = one.gate();
    let wf = one.probe_workflow(
        "orphan",
        &[
            ("a", json!({ "action": "write", "files": { "a.txt": "a" } })),
            ("b", gate.node()),
            ("c", json!({ "action": "write", "files": { "c.txt": "c" } })),
        ],
    );
    let mut run = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["--tenant", "alpha", "run", wf.to_str().unwrap()])
        .env("WTB_DATA_DIR", one.data_dir())
        .envs(AWS)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Barrier: `b` has its entry checkpoint (it waits at the gate); then the process dies.
    let mut polls = 0;
    let id = loop {
        polls += 1;
        assert!(polls < 600, "`b` never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let listed: Value =
            serde_json::from_slice(&wtb(&one, &["--tenant", "alpha", "--json", "list"]).stdout)
                .unwrap_or_default();
        let first = listed["executions"].as_array().and_then(|l| l.first());
        let Some(id) = first.and_then(|e| e["id"].as_str()) else { continue };
        let history: Value =
            serde_json::from_slice(&wtb(&one, &["--tenant", "alpha", "--json", "history", id]).stdout)
                .unwrap();
        if history["checkpoints"].as_array().unwrap().iter().any(|c| c["node"] == "b") {
            break id.to_owned();
        }
    };
    run.kill().unwrap();
    run.wait().unwrap();

    let (first, second) = (Server::start(&one, &AWS), Server::start(&two, &AWS));
    gate.open();
    let http = reqwest::Client::new();
    wait_until(&http, &first, token, &id, "complete", |v| v["execution"]["status"] == "completed").await;
    let history: Value =
        serde_json::from_slice(&wtb(&one, &["--tenant", "alpha", "--json", "history", &id]).stdout).unwrap();
    let live: Vec<&str> = history["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["superseded_at"].is_null())
        .map(|c| c["node"].as_str().unwrap())
        .collect();
    assert_eq!(live, ["a", "a", "b", "b", "c", "c"], "each node's entry and exit once: {history}");
    // The other server sees the same execution.
    wait_until(&http, &second, token, &id, "show completed on the other server", |v| {
        v["execution"]["status"] == "completed"
    })
    .await;
    let events = wtb(&one, &["--tenant", "alpha", "--json", "show", &id]);
    let events: Value = serde_json::from_slice(&events.stdout).unwrap();
    let completed =
        events["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "node.completed").count();
    assert_eq!(completed, 3, "each node's event once");
}
