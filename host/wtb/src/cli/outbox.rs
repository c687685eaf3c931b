//! `wtb outbox relay|list|retry|stats`.

use super::format::micros;
use anyhow::{Context as _, bail};
use std::process::ExitCode;
use tokio::sync::watch;
use wtb_core::model::{EventId, ExecutionId};
use wtb_engine::executor::Executor;
use wtb_engine::outbox::{self, relay_for};
use wtb_engine::service::maintain;
use wtb_store::db::{DeliveryFilter, DeliveryStatus};

/// `wtb outbox relay [--once]`.
pub async fn relay(exec: &Executor, once: bool, json: bool) -> anyhow::Result<ExitCode> {
    let relay = relay_for(exec)?;
    if relay.sink_names().is_empty() {
        bail!("no outbox sinks are configured (`sinks = []` in wtb.toml): nothing to deliver to");
    }
    if once {
        let r = relay.drain().await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!(
                "delivered {} (sinks: {}); {} to retry later, {} dead",
                r.delivered,
                relay.sink_names().join(", "),
                r.retried,
                r.dead
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    eprintln!("relaying to {} until interrupted (Ctrl-C or SIGTERM)", relay.sink_names().join(", "));
    let (m, ()) = tokio::join!(maintain(exec, &relay, stop_rx), async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        println!(
            "delivered {}; {} retries scheduled, {} dead",
            m.relay.delivered, m.relay.retried, m.relay.dead
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// `wtb outbox list`.
pub async fn list(
    exec: &Executor,
    status: Option<&str>,
    sink: Option<String>,
    execution: Option<&str>,
    after: Option<i64>,
    limit: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let status: Option<DeliveryStatus> =
        status.map(str::parse).transpose().context("--status (pending, delivered or dead)")?;
    let execution: Option<ExecutionId> = execution.map(str::parse).transpose().context("--execution")?;
    let filter = DeliveryFilter { status, sink, execution, after_pos: after };
    let page = outbox::deliveries(exec, &filter, limit).await?;
    let (rows, next) = (&page.deliveries, page.next);
    if json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "no deliveries match (events appear here once a relay has seen them: `wtb outbox relay --once`)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>7}  {:<38} {:<44} {:<12} {:<9} {:>8}  detail",
        "pos", "event", "key", "sink", "status", "attempts"
    );
    for r in rows {
        let detail = match (r.status, &r.last_error) {
            (DeliveryStatus::Delivered, _) => {
                format!("delivered {}", r.delivered_at.map(|t| t.to_string()).unwrap_or_default())
            }
            (DeliveryStatus::Pending, Some(e)) => format!("next attempt {}: {e}", r.next_attempt_at),
            (_, Some(e)) => e.clone(),
            (_, None) => r.kind.clone(),
        };
        println!(
            "{:>7}  {:<38} {:<44} {:<12} {:<9} {:>8}  {detail}",
            r.pos,
            r.event.to_string(),
            r.idempotency_key,
            r.sink,
            r.status,
            r.attempts
        );
    }
    if let Some(n) = next {
        println!("more: wtb outbox list --after {n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `wtb outbox retry <event|--all-dead>`.
pub async fn retry(exec: &Executor, event: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let event: Option<EventId> = event.map(str::parse).transpose()?;
    let n = outbox::revive(exec, event).await?;
    if json {
        println!("{}", serde_json::json!({ "revived": n }));
    } else {
        println!("{n} dead deliveries are pending again; a relay delivers them next");
    }
    Ok(ExitCode::SUCCESS)
}

/// `wtb outbox stats`.
pub async fn stats(exec: &Executor, json: bool) -> anyhow::Result<ExitCode> {
    let stats = outbox::stats(exec).await?;
    let (now, all, former) = (stats.now, &stats.sinks, &stats.unconfigured);
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>11}  oldest pending",
        "sink", "depth", "pending", "dead", "delivered"
    );
    for c in all {
        let age = c
            .oldest_pending
            .map(|t| format!("{} ago", micros(now.micros_since(t))))
            .unwrap_or_else(|| "-".into());
        let note = if former.contains(&c.sink) { "  (no longer configured)" } else { "" };
        println!(
            "{:<14} {:>9} {:>9} {:>9} {:>11}  {age}{note}",
            c.sink,
            c.pending + c.unseen,
            c.pending,
            c.dead,
            c.delivered
        );
    }
    Ok(ExitCode::SUCCESS)
}
