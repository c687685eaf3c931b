//! `wtb bench`, outbox section: events per second a relay delivers to the JSONL sink and to a
//! webhook on 127.0.0.1 (a real HTTP server in this process), across many executions and for
//! one execution alone (its events go one after another: FIFO).
//!
//! Events come from real executions (a counter node) topped up with guest events written
//! straight into the outbox, so the figure is the relay's, not the engine's.

use anyhow::ensure;
use serde_json::{Map, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_core::model::{EventId, EventKind, OutboxEvent};
use wtb_engine::config::DataDir;
use wtb_engine::executor::Executor;
use wtb_store::db::{UnitOfWork, Write};

/// One delivery scenario.
#[derive(Debug, serde::Serialize)]
pub struct DeliveryResult {
    /// What was measured.
    pub scenario: String,
    /// Events delivered.
    pub events: u64,
    /// Executions they belong to.
    pub executions: usize,
    /// Delivered per second (wall time of `drain`).
    pub events_per_second: f64,
}

/// Runs the three scenarios in scratch data dirs under `dir`.
pub async fn outbox(dir: &Path) -> anyhow::Result<Vec<DeliveryResult>> {
    let hits = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let webhook = format!(
        "[[outbox.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\nsecret = \"bench\"\n"
    );
    let results = vec![
        scenario(&dir.join("jsonl"), "JSONL file, 100 executions", "", 100, 200).await?,
        scenario(&dir.join("hook"), "webhook (HTTP/1.1, 127.0.0.1), 100 executions", &webhook, 100, 50)
            .await?,
        scenario(&dir.join("hook1"), "webhook, 1 execution (FIFO: one at a time)", &webhook, 1, 1000).await?,
    ];
    server.abort();
    ensure!(
        hits.load(Ordering::Relaxed) >= results[1].events + results[2].events,
        "the receiver saw fewer requests than deliveries"
    );
    Ok(results)
}

async fn scenario(
    dir: &Path,
    name: &str,
    sinks: &str,
    executions: usize,
    extra_per_execution: u32,
) -> anyhow::Result<DeliveryResult> {
    std::fs::create_dir_all(dir.join("data"))?;
    std::fs::write(dir.join("data/wtb.toml"), sinks)?;
    std::fs::write(dir.join("counter.wasm"), crate::demo::COUNTER)?;
    std::fs::write(
        dir.join("one.toml"),
        "name = \"events\"\n[[nodes]]\nid = \"n\"\ncomponent = \"counter.wasm\"\n",
    )?;
    let exec =
        Executor::open(DataDir::open(&dir.join("data"))?, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
    let wf = exec.load_workflow(&dir.join("one.toml")).await?;
    for _ in 0..executions {
        let id = exec.run(&wf, Map::new()).await?.execution;
        let first = exec.database().events().last_seq(exec.tenant(), id).await? + 1;
        let now = exec.clock().now();
        let events: Vec<OutboxEvent> = (first..first + extra_per_execution)
            .map(|seq| OutboxEvent {
                id: EventId::from_uuid(exec.ids().next()),
                tenant: exec.tenant(),
                execution: id,
                seq,
                kind: EventKind::Guest("bench".into()),
                payload: json!({ "node": "n", "data": { "seq": seq, "note": "a typical small event payload" } }),
                idempotency_key: OutboxEvent::key_for(id, seq),
                created_at: now,
            })
            .collect();
        let mut work = UnitOfWork::new();
        work.push(Write::Events(events));
        exec.database().write(work).await?;
    }
    let relay = wtb_engine::outbox::relay_for(&exec)?;
    let t = Instant::now();
    let r = relay.drain().await?;
    let secs = t.elapsed().as_secs_f64();
    ensure!(r.retried == 0 && r.dead == 0, "{name}: {} failed deliveries", r.retried + r.dead);
    exec.close().await;
    Ok(DeliveryResult {
        scenario: name.into(),
        events: r.delivered,
        executions,
        events_per_second: r.delivered as f64 / secs,
    })
}
