//! `wtb bench`, engine part: a 16-way fan-out into a join, and many short executions at
//! once. Durable mode; each in a fresh data dir beside the real one.

use anyhow::ensure;
use serde_json::{Map, json};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_engine::config::DataDir;
use wtb_engine::executor::{Executor, RunOptions};

/// Figures of one engine scenario.
#[derive(Debug, serde::Serialize)]
pub struct EngineResult {
    /// What ran.
    pub scenario: String,
    /// Node attempts in all (measured part).
    pub nodes: usize,
    /// Aggregate throughput.
    pub nodes_per_second: f64,
    /// Median node latency (entry checkpoint to exit commit), µs.
    pub p50_node_us: i64,
    /// 99th percentile node latency, µs.
    pub p99_node_us: i64,
    /// The whole process's CPU time (every thread: attempts, the commit writer, reads) per
    /// node, µs: steadier than throughput on a shared machine, and what a faster node path
    /// must lower on a saturated one.
    pub cpu_us_per_node: f64,
}

/// CPU time used so far by every thread of this process.
fn process_cpu() -> std::time::Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

async fn open(dir: &Path, inline: u64) -> anyhow::Result<Executor> {
    std::fs::write(dir.join("counter.wasm"), crate::demo::COUNTER)?;
    let mut data = DataDir::open(&dir.join("data"))?;
    data.config.inline_blob_max_bytes = inline;
    Ok(Executor::open(data, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?)
}

async fn percentiles(exec: &Executor) -> anyhow::Result<(i64, i64)> {
    let l = exec.database().boundaries().latencies().await?;
    ensure!(!l.is_empty(), "no node ran");
    Ok((l[l.len() / 2], l[(l.len() * 99 / 100).min(l.len() - 1)]))
}

/// `start` → 16 parallel branches → `join`, `runs` times (after one warm-up).
pub async fn fan_out(dir: &Path, runs: usize, file_size: usize, inline: u64) -> anyhow::Result<EngineResult> {
    let mut m = String::from(
        "name = \"fan-out\"\n[state]\ncounter = 0\n\n[[nodes]]\nid = \"start\"\ncomponent = \"counter.wasm\"\nconfig = { log = false }\n",
    );
    for i in 1..=16 {
        let _ = write!(
            m,
            "\n[[nodes]]\nid = \"b{i:02}\"\ncomponent = \"counter.wasm\"\nconfig = {{ size = {file_size}, log = false }}\n"
        );
    }
    m.push_str(
        "\n[[nodes]]\nid = \"join\"\ncomponent = \"counter.wasm\"\njoin = true\nconfig = { log = false }\n",
    );
    for i in 1..=16 {
        let _ = write!(
            m,
            "\n[[edges]]\nfrom = \"start\"\nto = \"b{i:02}\"\n\n[[edges]]\nfrom = \"b{i:02}\"\nto = \"join\"\n"
        );
    }
    std::fs::write(dir.join("fan-out.toml"), m)?;
    let exec = open(dir, inline).await?;
    let wf = exec.load_workflow(&dir.join("fan-out.toml")).await?;
    let opts = RunOptions { parallelism: 16, ..RunOptions::default() };
    let warm = exec.run_with(&wf, Map::new(), &opts).await?;
    ensure!(warm.failure.is_none(), "fan-out failed: {:?}", warm.failure);
    let (t, cpu) = (Instant::now(), process_cpu());
    for _ in 0..runs {
        let s = exec.run_with(&wf, Map::new(), &opts).await?;
        ensure!(s.state.get("counter") == Some(&json!(3)), "fan-out did not reach the join: {:?}", s.failure);
    }
    let (elapsed, cpu) = (t.elapsed().as_secs_f64(), process_cpu() - cpu);
    let (p50, p99) = percentiles(&exec).await?;
    exec.close().await;
    let nodes = runs * 18;
    Ok(EngineResult {
        scenario: "fan-out 16 → join".to_owned(),
        nodes,
        nodes_per_second: nodes as f64 / elapsed,
        p50_node_us: p50,
        p99_node_us: p99,
        cpu_us_per_node: cpu.as_secs_f64() * 1e6 / nodes as f64,
    })
}

/// `executions` runs of a 3-node workflow, `in_flight` at once in one process.
pub async fn concurrent(
    dir: &Path,
    executions: usize,
    in_flight: usize,
    file_size: usize,
    inline: u64,
) -> anyhow::Result<EngineResult> {
    let mut m = String::from("name = \"short\"\n[state]\ncounter = 0\nlog = []\n");
    for i in 1..=3 {
        let _ = write!(
            m,
            "\n[[nodes]]\nid = \"n{i}\"\ncomponent = \"counter.wasm\"\nconfig = {{ size = {file_size} }}\n"
        );
    }
    std::fs::write(dir.join("short.toml"), m)?;
    let exec = Arc::new(open(dir, inline).await?);
    let wf = Arc::new(exec.load_workflow(&dir.join("short.toml")).await?);
    exec.run(&wf, Map::new()).await?;
    let gate = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let (t, cpu) = (Instant::now(), process_cpu());
    // Spawned and joined on the runtime's workers, as a server would: joined from this
    // (`block_on`) thread, every execution's end woke it through a futex, about 1 % of the
    // scenario's CPU that no embedding of the engine pays.
    let (runner, workflow) = (exec.clone(), wf.clone());
    tokio::spawn(async move {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..executions {
            let (exec, wf, gate) = (runner.clone(), workflow.clone(), gate.clone());
            set.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                let s = exec.run(&wf, Map::new()).await?;
                ensure!(s.failure.is_none(), "execution failed: {:?}", s.failure);
                anyhow::Ok(())
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        anyhow::Ok(())
    })
    .await??;
    let (elapsed, cpu) = (t.elapsed().as_secs_f64(), process_cpu() - cpu);
    let (p50, p99) = percentiles(&exec).await?;
    if let Ok(exec) = Arc::try_unwrap(exec) {
        exec.close().await;
    }
    let nodes = executions * 3;
    Ok(EngineResult {
        scenario: format!("{executions} executions × 3 nodes, {in_flight} at once"),
        nodes,
        nodes_per_second: nodes as f64 / elapsed,
        p50_node_us: p50,
        p99_node_us: p99,
        cpu_us_per_node: cpu.as_secs_f64() * 1e6 / nodes as f64,
    })
}
