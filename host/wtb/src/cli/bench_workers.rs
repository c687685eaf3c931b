//! `wtb bench --only workers` (PostgreSQL): many short executions handed to `wtb worker`
//! processes, one worker and then two sharing the same number in flight, each run in a
//! database of its own. Measures what a deployment sees: submission, claims, drives and exit
//! transactions across processes, end to end.

use anyhow::{Context as _, ensure};
use serde_json::Map;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_engine::config::DataDir;
use wtb_engine::executor::{Executor, RunOptions};

/// Figures of one run with `workers` worker processes.
#[derive(Debug, serde::Serialize)]
pub struct WorkersResult {
    /// Worker processes.
    pub workers: usize,
    /// Executions each worker runs at once.
    pub concurrency_each: usize,
    /// Node attempts in all.
    pub nodes: usize,
    /// Aggregate throughput, from the first submission to the last end.
    pub nodes_per_second: f64,
    /// Transactions the database committed per node (submissions, exits, claims, renewals).
    pub commits_per_node: f64,
    /// WAL flushes to disk per node (group commit shares one between transactions).
    pub wal_flushes_per_node: f64,
}

/// `executions` runs of a 3-node workflow, handed off, with `workers` worker processes
/// running `in_flight` of them at once in all. `dir` holds a data dir whose `wtb.toml` names
/// a fresh database of `url`'s server.
pub async fn workers(
    dir: &Path,
    url: &str,
    workers: usize,
    executions: usize,
    in_flight: usize,
    file_size: usize,
) -> anyhow::Result<WorkersResult> {
    let data = dir.join("data");
    let config = data.join("wtb.toml");
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str("[workers]\nhand_off = true\n");
    std::fs::write(&config, text)?;
    std::fs::write(dir.join("counter.wasm"), crate::demo::COUNTER)?;
    let mut m = String::from("name = \"short\"\n[state]\ncounter = 0\nlog = []\n");
    for i in 1..=3 {
        let _ = write!(
            m,
            "\n[[nodes]]\nid = \"n{i}\"\ncomponent = \"counter.wasm\"\nconfig = {{ size = {file_size} }}\n"
        );
    }
    std::fs::write(dir.join("short.toml"), m)?;
    let exec =
        Arc::new(Executor::open(DataDir::open(&data)?, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?);
    let wf = exec.load_workflow(&dir.join("short.toml")).await?;
    let concurrency_each = in_flight.div_ceil(workers).max(1);
    let mut children = Vec::new();
    for _ in 0..workers {
        children.push(spawn_worker(&data, concurrency_each)?);
    }
    let result = async {
        // Warm-up: each worker compiles (or loads) the component once.
        exec.run(&wf, Map::new()).await?;
        let db = exec.config().database.url.clone().unwrap_or_else(|| url.to_owned());
        let (commits, flushes) = wtb_store::db::postgres::scratch::commit_counters(&db).await?;
        let t = Instant::now();
        // Submitted as a server would take them, many at once (their start transactions
        // share commits).
        let mut submitting = tokio::task::JoinSet::new();
        let gate = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
        for _ in 0..executions {
            let (exec, wf, gate) = (exec.for_tenant(exec.tenant()), wf.clone(), gate.clone());
            submitting.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                exec.start_detached(wf, Map::new(), RunOptions::default()).await?;
                anyhow::Ok(())
            });
        }
        while let Some(r) = submitting.join_next().await {
            r??;
        }
        // Polled rarely: listing thousands of running executions costs the server too (a
        // 200 ms poll adds at most that to a run of several seconds).
        loop {
            let running = exec.database().executions().list_running(exec.tenant()).await?.len();
            if running == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(if running > 100 { 200 } else { 10 })).await;
        }
        let elapsed = t.elapsed().as_secs_f64();
        anyhow::Ok((elapsed, commits, flushes, db))
    }
    .await;
    for child in &mut children {
        stop(child)?;
    }
    let (elapsed, commits, flushes, db) = result?;
    let failed = exec.inspect().recent(u32::MAX).await?.iter().filter(|e| e.error.is_some()).count();
    ensure!(failed == 0, "{failed} execution(s) failed");
    if let Ok(exec) = Arc::try_unwrap(exec) {
        exec.close().await;
    }
    let (commits_after, flushes_after) = wtb_store::db::postgres::scratch::commit_counters(&db).await?;
    let nodes = executions * 3;
    Ok(WorkersResult {
        workers,
        concurrency_each,
        nodes,
        nodes_per_second: nodes as f64 / elapsed,
        commits_per_node: (commits_after - commits) as f64 / nodes as f64,
        wal_flushes_per_node: (flushes_after - flushes) as f64 / nodes as f64,
    })
}

fn spawn_worker(data: &Path, concurrency: usize) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("finding this wtb binary")?;
    Command::new(exe)
        .arg("--data-dir")
        .arg(data)
        .args(["worker", "--no-maintenance", "--concurrency", &concurrency.to_string()])
        .env_remove("WTB_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting a worker")
}

/// SIGTERM, then waits: the worker gives back nothing (all done) and closes its sessions.
fn stop(child: &mut Child) -> anyhow::Result<()> {
    rustix::process::kill_process(rustix::process::Pid::from_child(child), rustix::process::Signal::TERM)?;
    child.wait()?;
    Ok(())
}
