//! `wtb bench`: per-node overhead of the whole protocol (sandbox, capture, one transaction),
//! what the sandbox's safeguards add to it, then the engine scenarios of [`super::bench_engine`], the time-travel ones of
//! [`super::bench_travel`] and outbox delivery ([`super::bench_outbox`]).
//!
//! The workflow: `nodes` counter nodes in a line; each increments a counter, appends to a list
//! in the state (through the `append` reducer: a node returns its own entry, as a workflow
//! whose list grows is meant to be written) and writes one file. Each mode runs in a fresh
//! data dir beside the real one.

use super::format::bytes;
use anyhow::{Context as _, ensure};
use serde_json::{Map, json};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_engine::config::DataDir;
use wtb_engine::executor::Executor;
use wtb_runtime::Tuning;
use wtb_store::db::Durability;

/// Figures of one durability mode.
#[derive(Debug, serde::Serialize)]
struct ModeResult {
    mode: String,
    nodes: usize,
    runs: usize,
    median_us_per_node: f64,
    best_us_per_node: f64,
    nodes_per_second: f64,
    db_bytes_per_run: u64,
    blob_bytes_total: u64,
}

pub use super::bench_shape::{Section, Shape};

/// Runs the benchmark in both modes and prints the figures. With `database` (a PostgreSQL
/// URL), the linear and engine sections run on that server instead of SQLite files: each
/// scenario in a database of its own, created for it and dropped at the end.
pub async fn bench(
    data_dir: &Path,
    shape: Shape,
    database: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let Shape { nodes, runs, file_size, .. } = shape;
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this wtb is an unoptimised (dev) build; for figures to compare, use a release build: `cargo install --locked --path host/wtb`"
        );
    }
    ensure!(nodes >= 1 && runs >= 1, "--nodes and --runs must be at least 1");
    ensure!(
        database.is_none()
            || matches!(shape.only, Some(Section::Linear | Section::Engine | Section::Workers)),
        "on PostgreSQL (--database-url), `wtb bench` runs `--only linear`, `--only engine` or `--only workers`"
    );
    ensure!(
        shape.only != Some(Section::Workers) || database.is_some(),
        "`--only workers` needs a PostgreSQL server every worker shares: pass --database-url"
    );
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating `{}`", data_dir.display()))?;
    let want = |section: Section| shape.only.is_none_or(|o| o == section);
    let mut results = Vec::new();
    // Scratch dirs are removed only at the end: on ext4, creating files right after deleting
    // thousands is measurably slower (inode allocation skips recently deleted inodes), which
    // would penalise the second mode.
    let mut scratch = Vec::new();
    let mut databases = Vec::new();
    let mut fresh = async || -> anyhow::Result<std::path::PathBuf> {
        let dir = tempfile::Builder::new().prefix("bench-").tempdir_in(data_dir)?;
        let path = dir.path().to_owned();
        scratch.push(dir);
        if let Some(url) = database {
            let name = format!("wtb_bench_{}_{}", std::process::id(), databases.len());
            let db = wtb_store::db::postgres::scratch::create_database(url, &name).await?;
            databases.push(name);
            std::fs::create_dir_all(path.join("data"))?;
            std::fs::write(path.join("data/wtb.toml"), format!("database = {{ url = {db:?} }}\n"))?;
        }
        Ok(path)
    };
    if want(Section::Linear) {
        let modes = match database {
            None => [
                ("durable (synchronous=FULL)", Durability::Full),
                ("normal (synchronous=NORMAL)", Durability::Normal),
            ],
            Some(_) => [
                ("durable (synchronous_commit=on)", Durability::Full),
                ("normal (synchronous_commit=off)", Durability::Normal),
            ],
        };
        for (mode, durability) in modes {
            results.push(
                run_mode(&fresh().await?, mode.to_owned(), durability, Tuning::default(), shape).await?,
            );
        }
    }
    let limits = match want(Section::Limits) {
        true => super::bench_limits::limits(&fresh().await?, shape.nodes, shape.runs, file_size).await?,
        false => Vec::new(),
    };
    let mut engine = Vec::new();
    if want(Section::Engine) {
        let inline = shape.inline_blob_max_bytes;
        engine.push(super::bench_engine::fan_out(&fresh().await?, runs, file_size, inline).await?);
        engine.push(
            super::bench_engine::concurrent(
                &fresh().await?,
                shape.executions,
                shape.in_flight,
                file_size,
                inline,
            )
            .await?,
        );
    }
    let travel = match want(Section::Travel) {
        true => Some(super::bench_travel::travel(&fresh().await?, shape.travel_files).await?),
        false => None,
    };
    let experiment = match want(Section::Experiment) {
        true => Some(
            super::bench_experiment::experiment(&fresh().await?, file_size, shape.in_flight.min(16)).await?,
        ),
        false => None,
    };
    // Not part of the default run (it takes `api_seconds` and a 50-client backlog to drain).
    let api = match shape.only == Some(Section::Api) {
        true => Some(super::bench_api::api(&fresh().await?, shape.clients, shape.api_seconds).await?),
        false => None,
    };
    // Only on request: it needs PostgreSQL.
    let mut workers = Vec::new();
    if let (Some(Section::Workers), Some(url)) = (shape.only, database) {
        // Two rounds, interleaved, so that the VM's drift hits both counts alike.
        for round in [1, 2, 1, 2] {
            let dir = fresh().await?;
            let r =
                super::bench_workers::workers(&dir, url, round, shape.executions, shape.in_flight, file_size)
                    .await?;
            workers.push(r);
        }
    }
    let outbox = match want(Section::Outbox) {
        true => super::bench_outbox::outbox(&fresh().await?).await?,
        false => Vec::new(),
    };
    if let Some(url) = database {
        for name in &databases {
            wtb_store::db::postgres::scratch::drop_database(url, name).await?;
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "linear": results, "limits": limits, "engine": engine, "time_travel": travel, "experiment": experiment, "outbox": outbox, "api": api, "workers": workers })
            )?
        );
    } else {
        if !results.is_empty() {
            println!(
                "{nodes}-node linear workflow, {file_size}-byte file per node, {runs} measured runs per mode, inline blobs up to {} bytes:\n",
                shape.inline_blob_max_bytes
            );
        }
        for r in &results {
            println!(
                "  {:<28} {:>6.0} µs/node (best {:.0})  {:>5.0} nodes/s  db {:>9}/run ({}/node)  blobs {:>9} in all (deduplicated)",
                r.mode,
                r.median_us_per_node,
                r.best_us_per_node,
                r.nodes_per_second,
                bytes(r.db_bytes_per_run),
                bytes(r.db_bytes_per_run / r.nodes.max(1) as u64),
                bytes(r.blob_bytes_total)
            );
        }
        if !limits.is_empty() {
            println!(
                "\nsandbox safeguards ({nodes}-node linear workflow, synchronous=NORMAL, modes interleaved run by run, medians):\n"
            );
        }
        for r in &limits {
            println!(
                "  {:<30} {:>6.0} µs/node  {:>+6.1} %   guest part {:>5.0} µs/node  {:>+6.1} %   (vs nothing)",
                r.mode, r.us_per_node, r.extra_percent, r.guest_us_per_node, r.guest_extra_percent
            );
        }
        if !engine.is_empty() {
            println!("\nengine (durable):\n");
        }
        for r in &engine {
            println!(
                "  {:<40} {:>6.0} nodes/s  cpu {:>4.0} µs/node  node latency p50 {:>6} µs  p99 {:>7} µs  ({} nodes)",
                r.scenario, r.nodes_per_second, r.cpu_us_per_node, r.p50_node_us, r.p99_node_us, r.nodes
            );
        }
        if !workers.is_empty() {
            println!("\nworkers (durable, handed off, PostgreSQL):\n");
        }
        for r in &workers {
            println!(
                "  {} worker(s) × {:<3} at once  {:>6.0} nodes/s  {:.2} commits/node  {:.3} WAL flushes/node  ({} nodes)",
                r.workers,
                r.concurrency_each,
                r.nodes_per_second,
                r.commits_per_node,
                r.wal_flushes_per_node,
                r.nodes
            );
        }
        if let Some(t) = &travel {
            println!("\ntime travel (durable, medians):\n");
            println!(
                "  list, {} executions: first page {:.2} ms, deep page {:.2} ms, filtered page {:.2} ms (50 per page)",
                t.executions, t.list_first_page_ms, t.list_deep_page_ms, t.list_filtered_page_ms
            );
            println!(
                "  rollback, {} files / {}, 1 % changed: {:.0} ms",
                t.workspace_files,
                bytes(t.workspace_bytes),
                t.rollback_ms
            );
            println!("  fork of that execution at the same checkpoint: {:.0} ms", t.fork_ms);
            println!(
                "  capture of the unchanged {}-file workspace: {:.1} µs",
                t.workspace_files,
                t.unchanged_capture_ms * 1e3
            );
            println!("  capture after a node added one file to it: {:.1} µs", t.one_file_capture_ms * 1e3);
            println!(
                "  the lane rebuilt from that checkpoint when the execution resumes: {:.1} ms",
                t.lane_restore_ms
            );
        }
        if let Some(x) = &experiment {
            println!(
                "\nexperiment (durable): {} cells of {} nodes each, forked from a checkpoint: {:.0} ms, {:.1} cells/s; blobs {} before, {} added by the cells",
                x.cells,
                x.nodes_per_cell,
                x.total_ms,
                x.cells_per_second,
                bytes(x.blob_bytes_before),
                bytes(x.blob_bytes_added)
            );
        }
        if let Some(a) = &api {
            println!(
                "\nAPI load (127.0.0.1, {} clients starting 3-node executions and listing, {:.0} s):\n",
                a.clients, a.seconds
            );
            println!(
                "  {:.0} requests/s ({} requests), latency p50 {:.1} ms, p99 {:.1} ms (starts p99 {:.1} ms, lists p99 {:.1} ms)",
                a.requests_per_second, a.requests, a.p50_ms, a.p99_ms, a.start_p99_ms, a.list_p99_ms
            );
            println!(
                "  errors {}, executions started {}, completed {}, lost {} (backlog drained in {:.1} s)",
                a.errors, a.started, a.completed, a.lost, a.drain_seconds
            );
        }
        if !outbox.is_empty() {
            println!("\noutbox delivery (durable):\n");
        }
        for r in &outbox {
            println!("  {:<48} {:>8.0} events/s  ({} events)", r.scenario, r.events_per_second, r.events);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_mode(
    dir: &Path,
    mode: String,
    durability: Durability,
    tuning: Tuning,
    shape: Shape,
) -> anyhow::Result<ModeResult> {
    let Shape { nodes, runs, file_size, inline_blob_max_bytes, .. } = shape;
    let manifest_path = linear_workflow(dir, nodes, file_size)?;
    let data_path = dir.join("data");
    let mut data = DataDir::open(&data_path)?;
    data.config.durability = durability;
    data.config.tuning = tuning;
    data.config.inline_blob_max_bytes = inline_blob_max_bytes;
    let server = data.config.database.url.clone();
    let exec = Executor::open(data, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
    let empty = match &server {
        Some(url) => wtb_store::db::postgres::scratch::database_size(url).await?,
        None => 0,
    };
    let wf = exec.load_workflow(&manifest_path).await?;
    let warm = exec.run(&wf, Map::new()).await?;
    ensure!(warm.failure.is_none(), "bench workflow failed: {:?}", warm.failure);
    let mut per_node = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let s = exec.run(&wf, Map::new()).await?;
        per_node.push(t.elapsed().as_secs_f64() * 1e6 / nodes as f64);
        ensure!(s.state.get("counter") == Some(&json!(nodes)), "bench run did not count to {nodes}");
        let logged = s.state.get("log").and_then(|l| l.as_array()).map_or(0, Vec::len);
        ensure!(logged == nodes, "bench run logged {logged} lines, not {nodes}");
    }
    let totals = exec.inspect().blob_totals().await?;
    exec.close().await;
    let db_bytes: u64 = match &server {
        Some(url) => wtb_store::db::postgres::scratch::database_size(url).await?.saturating_sub(empty),
        None => ["wtb.db", "wtb.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(data_path.join(f)).ok())
            .map(|m| m.len())
            .sum(),
    };
    per_node.sort_by(f64::total_cmp);
    let median = per_node[per_node.len() / 2];
    Ok(ModeResult {
        mode,
        nodes,
        runs,
        median_us_per_node: median,
        best_us_per_node: per_node[0],
        nodes_per_second: 1e6 / median,
        db_bytes_per_run: db_bytes / (runs as u64 + 1),
        // Every run writes the same bytes, so this is one run's files (plus the component):
        // deduplication at work.
        blob_bytes_total: totals.bytes,
    })
}

/// Writes the linear bench workflow into `dir`: `nodes` counter nodes in a line, each writing a
/// `file_size`-byte file; returns the manifest's path.
pub(super) fn linear_workflow(
    dir: &Path,
    nodes: usize,
    file_size: usize,
) -> anyhow::Result<std::path::PathBuf> {
    std::fs::write(dir.join("counter.wasm"), crate::demo::COUNTER)?;
    let mut manifest =
        String::from("name = \"bench\"\n[state]\ncounter = 0\nlog = []\n[reducers]\nlog = \"append\"\n");
    for i in 1..=nodes {
        let _ = write!(
            manifest,
            "\n[[nodes]]\nid = \"n{i:03}\"\ncomponent = \"counter.wasm\"\nconfig = {{ size = {file_size}, append = true }}\n"
        );
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, manifest)?;
    Ok(path)
}
