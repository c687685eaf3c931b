//! `wtb bench --only api`: a load test of `wtb serve`'s API on 127.0.0.1 — `clients`
//! concurrent clients, each starting a short execution (3 nodes of a registered workflow) and
//! listing executions, over and over for `seconds`. Reports requests/s, latency percentiles and
//! errors, then waits for every started execution and counts the lost ones (goal: zero errors,
//! zero lost).

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_core::model::{ExecutionId, Quotas};
use wtb_engine::config::DataDir;
use wtb_engine::executor::Executor;

/// The load test's figures.
#[derive(Debug, serde::Serialize)]
pub struct ApiResult {
    /// Concurrent clients.
    pub clients: usize,
    /// Length of the load phase.
    pub seconds: f64,
    /// Requests made (starts and lists).
    pub requests: usize,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Latency of all requests (ms).
    pub p50_ms: f64,
    /// Latency of all requests (ms).
    pub p99_ms: f64,
    /// p99 of the starts alone (ms).
    pub start_p99_ms: f64,
    /// p99 of the lists alone (ms).
    pub list_p99_ms: f64,
    /// Requests that failed (transport error or non-2xx).
    pub errors: usize,
    /// Executions the API accepted.
    pub started: usize,
    /// Of those, completed once the backlog drained.
    pub completed: usize,
    /// Accepted but missing or not completed.
    pub lost: usize,
    /// Time for the backlog to drain after the load phase (s).
    pub drain_seconds: f64,
}

/// One client's record.
#[derive(Default)]
struct Client {
    starts: Vec<f64>,
    lists: Vec<f64>,
    errors: usize,
    started: Vec<String>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Runs the load test in `dir`.
pub async fn api(dir: &Path, clients: usize, seconds: u64) -> anyhow::Result<ApiResult> {
    let data = DataDir::open(&dir.join("data"))?;
    let exec = Executor::open(data, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
    let tenant = exec.tenancy().create_tenant("load", Quotas::default()).await?;
    let token = exec.for_tenant(tenant.id).tenancy().create_token("bench").await?.secret;
    let host = Arc::new(exec);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(
        axum::serve(listener, wtb_server::router(host.clone(), None, crate::demo::STUB.into()))
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .into_future(),
    );
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;

    let up: Value = http
        .post(format!("{base}/components"))
        .bearer_auth(&token)
        .body(crate::demo::COUNTER.to_vec())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let component = up["component"].as_str().context("upload answer")?;
    let manifest = format!(
        "name = \"load\"\n[state]\ncounter = 0\nlog = []\n{}",
        (1..=3)
            .map(|i| format!(
                "\n[[nodes]]\nid = \"n{i}\"\ncomponent = \"{component}\"\nconfig = {{ size = 64 }}\n"
            ))
            .collect::<String>()
    );
    let wf: Value = http
        .post(format!("{base}/workflows"))
        .bearer_auth(&token)
        .json(&json!({ "manifest": manifest }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let workflow = wf["id"].as_str().context("register answer")?.to_owned();

    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base, token, workflow) = (http.clone(), base.clone(), token.clone(), workflow.clone());
            tokio::spawn(async move {
                let mut c = Client::default();
                while Instant::now() < end {
                    let t = Instant::now();
                    match http
                        .post(format!("{base}/executions"))
                        .bearer_auth(&token)
                        .json(&json!({ "workflow": workflow }))
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => match r
                            .json::<Value>()
                            .await
                            .ok()
                            .and_then(|v| v["execution"].as_str().map(str::to_owned))
                        {
                            Some(id) => c.started.push(id),
                            None => c.errors += 1,
                        },
                        _ => c.errors += 1,
                    }
                    c.starts.push(t.elapsed().as_secs_f64() * 1e3);
                    let t = Instant::now();
                    let listed = match http
                        .get(format!("{base}/executions?limit=20"))
                        .bearer_auth(&token)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    };
                    c.errors += usize::from(!listed);
                    c.lists.push(t.elapsed().as_secs_f64() * 1e3);
                }
                c
            })
        })
        .collect();
    let mut all = Client::default();
    for t in tasks {
        let c = t.await?;
        all.starts.extend(c.starts);
        all.lists.extend(c.lists);
        all.errors += c.errors;
        all.started.extend(c.started);
    }
    let load = t0.elapsed().as_secs_f64();

    // Every accepted execution must complete.
    let drain = Instant::now();
    let scoped = host.for_tenant(tenant.id);
    let ids: Vec<ExecutionId> = all.started.iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
    let mut completed = 0;
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match scoped.status(*id).await {
                Ok(wtb_core::model::ExecutionStatus::Completed) => {
                    completed += 1;
                    break;
                }
                Ok(s) if s.is_final() => break,
                Ok(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
                _ => break,
            }
        }
    }
    let drain_seconds = drain.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    server.await??;

    let requests = all.starts.len() + all.lists.len();
    let mut every: Vec<f64> = all.starts.iter().chain(&all.lists).copied().collect();
    every.sort_by(f64::total_cmp);
    all.starts.sort_by(f64::total_cmp);
    all.lists.sort_by(f64::total_cmp);
    let result = ApiResult {
        clients,
        seconds: load,
        requests,
        requests_per_second: requests as f64 / load,
        p50_ms: percentile(&every, 0.50),
        p99_ms: percentile(&every, 0.99),
        start_p99_ms: percentile(&all.starts, 0.99),
        list_p99_ms: percentile(&all.lists, 0.99),
        errors: all.errors,
        started: ids.len(),
        completed,
        lost: ids.len() - completed,
        drain_seconds,
    };
    ensure!(
        result.errors == 0 && result.lost == 0,
        "API load test: {} error(s), {} lost execution(s): {result:?}",
        result.errors,
        result.lost
    );
    Ok(result)
}
