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
    Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(args)
        .env("WTB_DATA_DIR", h.data_dir())
        .envs(AWS)
        .env_remove("WTB_TENANT")
        .env_remove("WTB_TOKEN")
        .current_dir(h.dir.path())
        .output()
        .expect("running wtb")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_paused_on_one_machine_is_finished_by_a_server_on_another() {
    let (pg, s3) = match (services::postgres(), services::s3()) {
        (Ok(pg), Ok(s3)) => (pg, s3),
        (Err(why), _) | (_, Err(why)) => {
            return wtb_tests::skipped("an_execution_paused_on_one_machine", &why);
        }
    };
    let shared = format!("database = {{ url = \"{}\" }}\n{}", pg.database(), s3.blobs_config());
    let (one, two) = (Harness::new(), Harness::new());
    one.config(&shared).unwrap();
    two.config(&shared).unwrap();
    assert!(wtb(&one, &["tenant", "create", "alpha"]).status.success());
    let token = String::from_utf8(wtb(&one, &["--tenant", "alpha", "token", "create"]).stdout).unwrap();
    let token = token.trim();

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
    assert!(two.workspace(&id).exists(), "`two` ran on the second machine");

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
