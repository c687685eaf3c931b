//! Outbox delivery against real sinks: a webhook receiver on 127.0.0.1 (failing, throttling,
//! rejecting, stalling), relays in this process and as separate processes (two at once, one
//! SIGKILLed mid-delivery), the JSONL file of `wtb run --follow`, and misconfigured sinks.

use serde_json::{Map, Value, json};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wtb::clock::SystemClock;
use wtb::db::sql::query;
use wtb::executor::Executor;
use wtb::model::ExecutionId;
use wtb::outbox::{Relay, RelayOptions, build_sinks};
use wtb_tests::Harness;
use wtb_tests::receiver::{Behaviour, Receiver};

pub(crate) const SECRET: &str = "s3cr3t-for-tests";

/// `wtb.toml` with one webhook sink (fast retries) plus `extra` lines in `[outbox]`.
pub(crate) fn webhook_config(h: &Harness, url: &str, extra: &str) {
    std::fs::create_dir_all(h.data_dir()).unwrap();
    let text = format!(
        "[outbox]\nbackoff_initial_ms = 20\nbackoff_max_ms = 80\n{extra}\n\n[[outbox.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntimeout_ms = 2000\n"
    );
    h.config(text).unwrap();
}

/// Runs a 3-node workflow `n` times; each execution writes files and emits a guest event.
pub(crate) async fn run_some(h: &Harness, exec: &Executor, n: usize) -> Vec<ExecutionId> {
    let node = |i: usize| json!({ "action": "write", "files": { format!("n{i}.txt"): format!("node {i}") }, "events": [["step", { "i": i }]] });
    let wf = exec
        .load_workflow(&h.probe_workflow("events", &[("a", node(1)), ("b", node(2)), ("c", node(3))]))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(exec.run(&wf, Map::new()).await.unwrap().execution);
    }
    ids
}

/// A relay over the executor's configured sinks, on the real clock (retries wait real time).
fn relay(exec: &Executor) -> Relay {
    let sinks = build_sinks(exec.data_root(), exec.config(), Arc::new(SystemClock)).unwrap();
    Relay::new(
        exec.database().clone(),
        sinks,
        RelayOptions::from_config(&exec.config().outbox),
        Arc::new(SystemClock),
        "test-relay".into(),
    )
}

/// Every event in commit order: `(key, execution, seq)`.
pub(crate) async fn all_events(exec: &Executor) -> Vec<(String, String, u64)> {
    let rows: Vec<(String, uuid::Uuid, i64)> = wtb_tests::fetch_all(
        exec,
        query("SELECT idempotency_key, execution_id, seq FROM outbox ORDER BY pos, created_at, execution_id, seq"),
    )
    .await;
    rows.into_iter().map(|(k, x, s)| (k, x.to_string(), s as u64)).collect()
}

pub(crate) async fn count(exec: &Executor, status: &str) -> i64 {
    let (n,): (i64,) = wtb_tests::fetch_one(
        exec,
        query("SELECT COUNT(*) FROM outbox_deliveries WHERE status = ?").bind(status.to_owned()),
    )
    .await;
    n
}

/// Steps the relay until `done` holds (at most 30 s).
async fn step_until(relay: &Relay, exec: &Executor, what: &str, done: impl AsyncFn(&Executor) -> bool) {
    let start = Instant::now();
    while !done(exec).await {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        relay.step().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Accepted deliveries must keep each execution's order.
pub(crate) fn assert_in_order_per_execution(accepted: &[(String, String, u64)]) {
    let mut last: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for (key, x, seq) in accepted {
        let prev = last.insert(x, *seq).unwrap_or(0);
        assert!(*seq > prev, "{key} arrived after seq {prev} of its execution");
    }
}

fn wtb(h: &Harness, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(args)
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_gets_every_event_once_in_order_through_failures_and_throttling() {
    let h = Harness::new();
    let rx =
        Receiver::start(SECRET, Behaviour { fail_first: 5, throttle_next: 2, ..Behaviour::default() }).await;
    webhook_config(&h, &rx.url, "");
    let exec = h.executor().await;
    run_some(&h, &exec, 3).await;
    let events = all_events(&exec).await;
    assert!(events.len() >= 3 * 9, "{} events", events.len());
    let relay = relay(&exec);
    step_until(&relay, &exec, "every delivery", async |e| count(e, "delivered").await == events.len() as i64)
        .await;
    rx.seen(|s| {
        let mut keys: Vec<&String> = s.accepted.iter().map(|a| &a.0).collect();
        keys.sort();
        let mut expected: Vec<&String> = events.iter().map(|e| &e.0).collect();
        expected.sort();
        assert_eq!(keys, expected, "exactly one accepted delivery per event");
        assert_in_order_per_execution(&s.accepted);
        assert_eq!(
            (s.bad_signatures, s.key_mismatches),
            (0, 0),
            "every signature verifies; header key = body key"
        );
        assert_eq!(s.requests, events.len() + 7, "5 failures and 2 throttles, each retried once");
        assert!(s.duplicates.is_empty(), "nothing accepted twice: {:?}", s.duplicates);
        assert_eq!(s.max_in_flight_per_key, 1);
    });
    let retried: i64 = wtb_tests::fetch_one::<(_,)>(
        &exec,
        query("SELECT COUNT(*) FROM outbox_deliveries WHERE attempts > 1"),
    )
    .await
    .0;
    assert!(retried >= 1, "failed attempts are counted");
    let pending = wtb(&h, &["outbox", "list", "--status", "pending"]);
    assert!(String::from_utf8_lossy(&pending.stdout).contains("no deliveries match"), "{pending:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_4xx_goes_dead_at_once_blocks_only_its_execution_and_retry_revives_it() {
    let h = Harness::new();
    let rx = Receiver::start(SECRET, Behaviour::default()).await;
    webhook_config(&h, &rx.url, "");
    let exec = h.executor().await;
    let ids = run_some(&h, &exec, 3).await;
    let victim = ids[1].to_string();
    rx.set(|b| b.reject = Some((victim.clone(), "node.completed".into())));
    let events = all_events(&exec).await;
    let relay = relay(&exec);
    step_until(&relay, &exec, "the 4xx to go dead", async |e| count(e, "dead").await == 1).await;
    // Drain whatever else is due: the other executions complete, the victim stops at its dead event.
    relay.drain().await.unwrap();
    let dead: (i64, String) = wtb_tests::fetch_one(
        &exec,
        query("SELECT attempts, last_error FROM outbox_deliveries WHERE status = 'dead'"),
    )
    .await;
    assert_eq!(dead.0, 1, "a 400 is not retried");
    assert!(dead.1.contains("400"), "{}", dead.1);
    let victim_events = events.iter().filter(|e| e.1 == victim).count();
    rx.seen(|s| {
        let others = s.accepted.iter().filter(|a| a.1 != victim).count();
        assert_eq!(others, events.len() - victim_events, "other executions are not held up");
        let mine: Vec<u64> = s.accepted.iter().filter(|a| a.1 == victim).map(|a| a.2).collect();
        assert!(mine.len() < victim_events, "events after the dead one wait: {mine:?}");
    });
    let listed = wtb(&h, &["outbox", "list", "--status", "dead", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["deliveries"].as_array().unwrap().len(), 1);
    let event_id = listed["deliveries"][0]["event"].as_str().unwrap().to_owned();
    // Retrying an unknown or a non-dead event is refused.
    let unknown = wtb(&h, &["outbox", "retry", "01a20963-0000-7000-8000-000000000001"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no event"), "{unknown:?}");
    let first = events.first().unwrap().0.clone();
    let first_id: uuid::Uuid = wtb_tests::fetch_one::<(_,)>(
        &exec,
        query("SELECT id FROM outbox WHERE idempotency_key = ?").bind(first.clone()),
    )
    .await
    .0;
    let not_dead = wtb(&h, &["outbox", "retry", &first_id.to_string()]);
    assert_eq!(not_dead.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_dead.stderr).contains("no dead delivery"), "{not_dead:?}");
    // Fixed on the receiver's side, revived: everything arrives, in order.
    rx.set(|b| b.reject = None);
    let revived = wtb(&h, &["outbox", "retry", &event_id]);
    assert!(revived.status.success(), "{revived:?}");
    step_until(&relay, &exec, "the revived execution", async |e| {
        count(e, "delivered").await == events.len() as i64
    })
    .await;
    rx.seen(|s| {
        assert_eq!(s.accepted.len(), events.len());
        assert_in_order_per_execution(&s.accepted);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_webhook_is_retried_with_backoff_then_dead() {
    let h = Harness::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    webhook_config(&h, &url, "max_attempts = 3");
    let exec = h.executor().await;
    run_some(&h, &exec, 1).await;
    let relay = relay(&exec);
    let started = Instant::now();
    step_until(&relay, &exec, "the first event to die", async |e| count(e, "dead").await >= 1).await;
    assert!(started.elapsed() >= Duration::from_millis(20), "two backoff waits happened");
    let (attempts, error): (i64, String) = wtb_tests::fetch_one(
        &exec,
        query("SELECT attempts, last_error FROM outbox_deliveries WHERE status = 'dead'"),
    )
    .await;
    assert_eq!(attempts, 3);
    assert!(
        error.contains("gave up after 3 attempts")
            && (error.contains("onnection refused") || error.contains("connect")),
        "{error}"
    );
    assert_eq!(
        count(&exec, "dead").await,
        1,
        "one dead event blocks the rest of its execution, which stay pending"
    );
    let stats = wtb(&h, &["outbox", "stats", "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["sinks"][0]["dead"], 1);
    assert!(stats["sinks"][0]["pending"].as_u64().unwrap() >= 8, "{stats}");
    let oldest = &stats["sinks"][0]["oldest_pending"];
    assert!(oldest.as_str().and_then(wtb::model::Timestamp::parse_exact).is_some(), "{oldest}");
}

#[tokio::test(flavor = "multi_thread")]
async fn misconfigured_sinks_fail_at_start_with_a_clear_error() {
    let h = Harness::new();
    let wf = h.probe_workflow("one", &[("a", json!({ "action": "write" }))]);
    let cases = [
        (
            "[[outbox.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"ftp://example.com/\"\nsecret = \"x\"\n",
            "sink `hook`: url `ftp://example.com/`: must be http:// or https://",
        ),
        (
            "[[outbox.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"http://127.0.0.1:9/\"\n",
            "sink `hook`: a webhook needs `secret`",
        ),
        (
            "[[outbox.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_env = \"WTB_TEST_NO_SUCH_VAR\"\n",
            "secret_env `WTB_TEST_NO_SUCH_VAR`",
        ),
        (
            "[[outbox.sinks]]\nkind = \"jsonl\"\nname = \"file\"\npath = \"no/such/dir/events.jsonl\"\n",
            "sink `file`:",
        ),
        (
            "[[outbox.sinks]]\nkind = \"jsonl\"\nname = \"a\"\n[[outbox.sinks]]\nkind = \"jsonl\"\nname = \"a\"\npath = \"b.jsonl\"\n",
            "two sinks have this name",
        ),
        (
            "[[outbox.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"x\"\ntimeout = 5\n",
            "unknown field `timeout`",
        ),
    ];
    std::fs::create_dir_all(h.data_dir()).unwrap();
    for (config, expected) in cases {
        h.config(config).unwrap();
        for args in [vec!["outbox", "relay", "--once"], vec!["run", "--follow", wf.to_str().unwrap()]] {
            let out = wtb(&h, &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} with {config}: {err}");
            assert!(err.contains(expected) && err.lines().count() == 1, "{args:?} with {config}: {err}");
        }
    }
    h.config("").unwrap();
    let list = wtb(&h, &["list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        list["executions"].as_array().unwrap().len(),
        0,
        "`run --follow` checked its sinks before starting anything"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_follow_writes_every_event_to_the_jsonl_file_once_in_order() {
    let h = Harness::new();
    let wf = h.probe_workflow(
        "follow",
        &[
            ("a", json!({ "action": "write", "files": { "a.txt": "a" } })),
            ("b", json!({ "action": "write", "events": [["note", { "x": 1 }]] })),
        ],
    );
    let out = wtb(&h, &["run", "--follow", wf.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("outbox: "), "{out:?}");
    let exec = h.executor().await;
    let events = all_events(&exec).await;
    let lines: Vec<Value> = std::fs::read_to_string(h.data_dir().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys: Vec<&str> = lines.iter().map(|l| l["idempotency_key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        "each event once, in commit order"
    );
    assert!(
        lines.iter().any(|l| l["kind"] == "guest.note" && l["payload"]["data"]["x"] == 1),
        "guest events carry their payload"
    );
    assert_eq!(count(&exec, "delivered").await, events.len() as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_webhook_is_delivered_when_its_ca_is_trusted_and_retried_when_not() {
    let h = Harness::new();
    let (rx, ca) = Receiver::start_tls(SECRET, Behaviour::default()).await;
    webhook_config(&h, &rx.url, "max_attempts = 2");
    let exec = h.executor().await;
    run_some(&h, &exec, 1).await;
    let events = all_events(&exec).await;
    // Not trusted (a self-signed certificate is not among the public roots): a TLS failure, retried.
    let untrusted = relay(&exec);
    step_until(&untrusted, &exec, "the untrusted delivery to die", async |e| count(e, "dead").await == 1)
        .await;
    let error: String = wtb_tests::fetch_one::<(_,)>(
        &exec,
        query("SELECT last_error FROM outbox_deliveries WHERE status = 'dead'"),
    )
    .await
    .0;
    assert!(error.contains("certificate") && error.contains("gave up after 2 attempts"), "{error}");
    assert_eq!(rx.seen(|s| s.requests), 0);
    // Trusted through ca_file: delivered over TLS, signatures intact.
    std::fs::write(h.data_dir().join("receiver-ca.pem"), &ca).unwrap();
    let text =
        std::fs::read_to_string(h.data_dir().join("wtb.toml")).unwrap() + "ca_file = \"receiver-ca.pem\"\n";
    h.config(text).unwrap();
    let revived = wtb(&h, &["outbox", "retry", "--all-dead"]);
    assert!(revived.status.success(), "{revived:?}");
    let out = wtb(&h, &["outbox", "relay", "--once"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        count(&exec, "delivered").await,
        events.len() as i64,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    rx.seen(|s| {
        assert_eq!(s.accepted.len(), events.len());
        assert_eq!(s.bad_signatures, 0);
        assert_in_order_per_execution(&s.accepted);
    });
    // A CA file that is missing or holds no certificate is a start-up error.
    for (content, expected) in
        [(None, "ca_file:"), (Some("not a certificate"), "ca_file: no PEM certificate")]
    {
        let _ = std::fs::remove_file(h.data_dir().join("receiver-ca.pem"));
        if let Some(c) = content {
            std::fs::write(h.data_dir().join("receiver-ca.pem"), c).unwrap();
        }
        let out = wtb(&h, &["outbox", "relay", "--once"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(2) && err.contains(expected) && err.contains("sink `hook`"),
            "{err}"
        );
    }
}
