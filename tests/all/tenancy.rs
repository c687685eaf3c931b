//! Multi-tenancy: one tenant cannot see or touch another's executions, files or events, by id
//! guessing or otherwise; tokens are shown once and stored hashed; quotas stop with the
//! tenant, the quota and the value named.

use serde_json::{Map, Value, json};
use std::process::Command;
use wtb::executor::{ExecError, Executor, ForkOptions, RunOptions};
use wtb::model::{ExecutionStatus, Quotas};
use wtb::travel::TravelError;
use wtb_tests::Harness;

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_cannot_reach_another_tenant_s_executions() {
    let h = Harness::new();
    let host = h.executor().await;
    let a = host.for_tenant(host.tenancy().create_tenant("alpha", Quotas::default()).await.unwrap().id);
    let b = host.for_tenant(host.tenancy().create_tenant("beta", Quotas::default()).await.unwrap().id);
    let wf_path = h.probe_workflow("secret", &[("w", json!({ "action": "write", "files": { "secret.txt": "beta's data" }, "events": [["private", { "x": 1 }]] }))]);
    let wf = b.load_workflow(&wf_path).await.unwrap();
    let run = b.run(&wf, Map::new()).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Completed);
    let id = run.execution;
    let report = b.inspect().describe(id).await.unwrap();
    let (first, last) =
        (report.checkpoints[0].checkpoint.id, report.checkpoints.last().unwrap().checkpoint.id);

    let unknown_execution =
        |r: Result<_, ExecError>| matches!(r, Err(ExecError::UnknownExecution(x)) if x == id);
    let unknown_checkpoint = |r: Result<_, ExecError>| matches!(r, Err(ExecError::UnknownCheckpoint(_)));
    assert!(unknown_execution(a.inspect().describe(id).await.map(|_| ())), "show");
    assert!(unknown_execution(a.inspect().history(id).await.map(|_| ())), "history");
    assert!(unknown_execution(a.status(id).await.map(|_| ())), "status");
    assert!(unknown_execution(a.resume(id, 1).await.map(|_| ())), "resume");
    assert!(unknown_execution(a.cancel(id).await.map(|_| ())), "cancel");
    assert!(a.request_pause(id).await.is_err(), "pause");
    assert!(unknown_checkpoint(a.inspect().diff(first, last).await.map(|_| ())), "diff");
    assert!(unknown_checkpoint(a.inspect().files(last).await.map(|_| ())), "files");
    assert!(unknown_checkpoint(a.inspect().cat(last, "secret.txt").await.map(|_| ())), "cat");
    assert!(
        unknown_checkpoint(a.inspect().export(last, &h.dir.path().join("stolen"), false).await.map(|_| ())),
        "export"
    );
    assert!(!h.dir.path().join("stolen/secret.txt").exists());
    assert!(
        matches!(
            a.travel().fork(last, &ForkOptions::default()).await,
            Err(TravelError::Exec(ExecError::UnknownCheckpoint(c))) if c == last
        ),
        "fork"
    );
    assert!(a.travel().rollback(id, first).await.is_err(), "rollback");
    assert!(a.inspect().list(&Default::default(), None, 100).await.unwrap().executions.is_empty(), "list");
    let events = a.database().deliveries().list(a.tenant(), &Default::default(), 100).await.unwrap();
    assert!(events.is_empty(), "a tenant reads only its own events");
    // Nothing of beta's changed, and beta still sees all of it.
    assert_eq!(b.inspect().describe(id).await.unwrap().execution.status, ExecutionStatus::Completed);
    assert_eq!(b.inspect().cat(last, "secret.txt").await.unwrap(), b"beta's data");

    // The same bytes stored by both tenants are two objects: no cross-tenant dedup, so
    // nobody can learn whether another tenant holds a file.
    let wf_a = a.load_workflow(&wf_path).await.unwrap();
    a.run(&wf_a, Map::new()).await.unwrap();
    let digest = wtb_tests::digest(b"beta's data");
    for t in [a.tenant(), b.tenant()] {
        assert!(
            a.database().blobs().get_one(t, &digest).await.unwrap().is_some(),
            "each tenant has its own blob row"
        );
    }
    assert_ne!(
        wtb::cas::LocalCas::object_path(a.tenant(), &digest),
        wtb::cas::LocalCas::object_path(b.tenant(), &digest)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_stop_with_the_tenant_the_quota_and_the_value() {
    let h = Harness::new();
    let host = h.executor().await;
    let t = host
        .tenancy()
        .create_tenant("small", Quotas { max_nodes_per_hour: Some(2), ..Quotas::default() })
        .await
        .unwrap();
    let exec = host.for_tenant(t.id);
    let wf = exec
        .load_workflow(&h.probe_workflow(
            "three",
            &[
                ("a", json!({ "action": "write" })),
                ("b", json!({ "action": "write" })),
                ("c", json!({ "action": "write" })),
            ],
        ))
        .await
        .unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Paused, "the third node waits for the quota");
    assert!(s.paused.as_deref().unwrap().contains("`max_nodes_per_hour` = 2 reached"), "{:?}", s.paused);
    assert_eq!(
        exec.inspect()
            .describe(s.execution)
            .await
            .unwrap()
            .nodes
            .iter()
            .filter(|n| n.boundary.finished_at.is_some())
            .count(),
        2
    );
    let e = exec.resume(s.execution, 1).await.unwrap_err().to_string();
    assert_eq!(e, "tenant `small` is at its quota: `max_nodes_per_hour` = 2 (now 2)");
    let e = exec.run(&wf, Map::new()).await.unwrap_err().to_string();
    assert!(e.contains("`max_nodes_per_hour`"), "{e}");
    // Raising the quota lets the paused execution finish.
    host.tenancy()
        .set_quotas(
            "small",
            Quotas { max_nodes_per_hour: Some(10), max_stored_bytes: Some(1), ..Quotas::default() },
        )
        .await
        .unwrap();
    let e = exec.resume(s.execution, 1).await.unwrap_err().to_string();
    assert!(e.starts_with("tenant `small` is at its quota: `max_stored_bytes` = 1 (now "), "{e}");
    host.tenancy()
        .set_quotas("small", Quotas { max_concurrent: Some(1), ..Quotas::default() })
        .await
        .unwrap();
    assert_eq!(exec.resume(s.execution, 1).await.unwrap().status, ExecutionStatus::Completed);

    // max_concurrent: while one execution of the tenant runs (its node spins until cancelled;
    // `start_detached` returns once its start is durable), a second cannot start.
    let spin =
        exec.load_workflow(&h.probe_workflow("spin", &[("s", json!({ "action": "spin" }))])).await.unwrap();
    let first =
        host.for_tenant(t.id).start_detached(spin.clone(), Map::new(), RunOptions::default()).await.unwrap();
    let second = exec.run_with(&spin, Map::new(), &RunOptions::default()).await;
    assert_eq!(
        second.unwrap_err().to_string(),
        "tenant `small` is at its quota: `max_concurrent` = 1 (now 1)"
    );
    exec.cancel(first).await.unwrap();
    while exec.inspect().describe(first).await.unwrap().execution.status == ExecutionStatus::Running {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Another tenant is not limited by this one's quota.
    assert_eq!(
        host.run(&slow_default(&host, &h).await, Map::new()).await.unwrap().status,
        ExecutionStatus::Completed
    );
}

/// A host that has read a tenant without quotas starts its executions without reading the
/// tenant again; a quota another host (process) sets meanwhile still stops the next start, in
/// the start's own transaction, and nothing of the refused start is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_quota_set_by_another_host_stops_the_next_start() {
    let h = Harness::new();
    let here = h.executor().await;
    let t = here.tenancy().create_tenant("free", Quotas::default()).await.unwrap();
    let exec = here.for_tenant(t.id);
    let wf = slow_default(&exec, &h).await;
    for _ in 0..2 {
        // The first start reads the tenant; the second assumes it has no quota.
        assert_eq!(exec.run(&wf, Map::new()).await.unwrap().status, ExecutionStatus::Completed);
    }
    let there = h.executor().await;
    let hourly = Quotas { max_nodes_per_hour: Some(2), ..Quotas::default() };
    let e = refused_once_set(&there, &exec, &wf, hourly).await;
    assert_eq!(e, "tenant `free` is at its quota: `max_nodes_per_hour` = 2 (now 2)");
    assert_eq!(exec.inspect().recent(10).await.unwrap().len(), 2, "the refused start stored nothing");
    // Lifted again: starts read the tenant once more, then assume again.
    there.tenancy().set_quotas("free", Quotas::default()).await.unwrap();
    for _ in 0..2 {
        assert_eq!(exec.run(&wf, Map::new()).await.unwrap().status, ExecutionStatus::Completed);
    }
    let none_at_once = Quotas { max_concurrent: Some(0), ..Quotas::default() };
    let e = refused_once_set(&there, &exec, &wf, none_at_once).await;
    assert_eq!(e, "tenant `free` is at its quota: `max_concurrent` = 0 (now 0)");
    assert_eq!(exec.inspect().recent(10).await.unwrap().len(), 4);
}

/// Sets tenant `free`'s quotas through `there`, then says why `exec`'s next start is refused.
async fn refused_once_set(
    there: &Executor,
    exec: &Executor,
    wf: &wtb::executor::LoadedWorkflow,
    quotas: Quotas,
) -> String {
    there.tenancy().set_quotas("free", quotas).await.unwrap();
    exec.run(wf, Map::new()).await.unwrap_err().to_string()
}

async fn slow_default(host: &Executor, h: &Harness) -> wtb::executor::LoadedWorkflow {
    host.load_workflow(&h.probe_workflow("quick", &[("q", json!({ "action": "write" }))])).await.unwrap()
}

fn wtb(h: &Harness, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"));
    c.args(args)
        .env("WTB_DATA_DIR", h.data_dir())
        .env_remove("WTB_TENANT")
        .env_remove("WTB_TOKEN")
        .current_dir(h.dir.path());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn tokens_are_shown_once_stored_hashed_and_revocable() {
    let h = Harness::new();
    let out = wtb(&h, &["tenant", "create", "acme", "--max-concurrent", "3"], &[]);
    assert!(out.status.success(), "{out:?}");
    let dup = wtb(&h, &["tenant", "create", "acme"], &[]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("a tenant named `acme` already exists"));
    let bad = wtb(&h, &["tenant", "create", "Bad Name"], &[]);
    assert_eq!(bad.status.code(), Some(2));

    let created = wtb(&h, &["--tenant", "acme", "token", "create", "--name", "ci"], &[]);
    assert!(created.status.success(), "{created:?}");
    let secret = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("wtb_") && secret.len() == 4 + 64, "256 random bits: {secret}");
    let hay = h.database_bytes();
    assert!(!hay.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is never stored");

    // The token acts for acme: it sees acme's (empty) list, not the default tenant's run.
    let wf = h.probe_workflow("mine", &[("w", json!({ "action": "write" }))]);
    assert!(wtb(&h, &["run", wf.to_str().unwrap()], &[]).status.success());
    let listed = wtb(&h, &["list", "--json"], &[("WTB_TOKEN", &secret)]);
    assert!(listed.status.success(), "{listed:?}");
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v["executions"], json!([]));
    let tokens = wtb(&h, &["--tenant", "acme", "token", "list", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&tokens.stdout).unwrap();
    let token_id = v[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(v[0]["name"], "ci");
    assert!(!String::from_utf8_lossy(&tokens.stdout).contains(&secret));

    // Another tenant cannot revoke it; acme can, and then it authenticates nobody.
    let other = wtb(&h, &["token", "revoke", &token_id], &[]);
    assert_eq!(other.status.code(), Some(2), "{other:?}");
    assert!(wtb(&h, &["--tenant", "acme", "token", "revoke", &token_id], &[]).status.success());
    let refused = wtb(&h, &["list"], &[("WTB_TOKEN", &secret)]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the API token is not valid"), "{refused:?}");
    let unknown = wtb(&h, &["--tenant", "nobody", "list"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no tenant named `nobody`"));
    let list = wtb(&h, &["tenant", "list"], &[]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("acme") && text.contains("0/3") && text.contains("default"), "{text}");
}

/// Finding 4 of the security issue: `max_stored_bytes` counted blobs only, and only when an
/// execution started. It now counts states, events and output too, and each exit is checked:
/// a run that starts under the quota pauses before the exit that would pass it, with nothing
/// of that attempt committed, and finishes once the quota allows.
#[tokio::test(flavor = "multi_thread")]
async fn the_stored_bytes_quota_is_checked_at_each_exit_and_counts_more_than_blobs() {
    let h = Harness::new();
    let host = h.executor().await;
    let t = host
        .tenancy()
        .create_tenant("thrifty", Quotas { max_stored_bytes: Some(150_000), ..Quotas::default() })
        .await
        .unwrap();
    let exec = host.for_tenant(t.id);
    let nodes = [
        (
            "a",
            json!({ "action": "write", "sized": { "a.bin": 100_000 }, "update": { "a": 1, "log": ["a"] } }),
        ),
        (
            "b",
            json!({ "action": "write", "sized": { "b.bin": 100_001 }, "update": { "b": 2, "log": ["b"] } }),
        ),
    ];
    let wf = exec.load_workflow(&h.probe_workflow("two-big", &nodes)).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Paused, "{:?}", s.failure);
    let why = s.paused.clone().unwrap();
    assert!(why.contains("tenant quota `max_stored_bytes` = 150000 reached"), "{why}");
    // b's update was applied to find what its exit would store, then undone.
    assert_eq!(Value::Object(s.state.clone()), json!({ "a": 1, "log": ["a"] }));
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let done: Vec<&str> = r
        .nodes
        .iter()
        .filter(|n| n.boundary.finished_at.is_some())
        .map(|n| n.boundary.node.as_str())
        .collect();
    assert_eq!(done, ["a"], "b's exit was not committed");
    let (_, usage) =
        host.tenancy().tenants().await.unwrap().into_iter().find(|(t, _)| t.name == "thrifty").unwrap();
    assert!(usage.stored_bytes > 100_000, "the blob and the states and events beside it: {usage:?}");
    host.tenancy()
        .set_quotas("thrifty", Quotas { max_stored_bytes: Some(1_000_000), ..Quotas::default() })
        .await
        .unwrap();
    let s = exec.resume(s.execution, 1).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    assert_eq!(Value::Object(s.state), json!({ "a": 1, "b": 2, "log": ["b"] }));
}
