//! `wtb bench --only experiment`: a 100-cell experiment (2 variants × 2 environments × 25
//! repetitions) of a 10-node linear workflow whose cells fork from the entry of its 6th node,
//! so 5 nodes run once and 5 per cell. Reports total time, cells/s and the blob bytes the cells
//! added (forks share blobs; equal contents deduplicate).

use anyhow::{Context as _, ensure};
use serde_json::Map;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_core::model::CheckpointKind;
use wtb_engine::config::DataDir;
use wtb_engine::executor::Executor;

/// The experiment scenario's figures.
#[derive(Debug, serde::Serialize)]
pub struct ExperimentResult {
    /// Cells run.
    pub cells: usize,
    /// Nodes per cell (after the fork point).
    pub nodes_per_cell: usize,
    /// Wall time of the whole run.
    pub total_ms: f64,
    /// Cells per second.
    pub cells_per_second: f64,
    /// Blob bytes stored before the cells ran.
    pub blob_bytes_before: u64,
    /// Blob bytes the cells added.
    pub blob_bytes_added: u64,
}

/// Runs the scenario in `dir`.
pub async fn experiment(
    dir: &Path,
    file_size: usize,
    parallelism: usize,
) -> anyhow::Result<ExperimentResult> {
    let manifest = super::bench::linear_workflow(dir, 10, file_size)?;
    let data = DataDir::open(&dir.join("data"))?;
    let exec = Executor::open(data, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
    let wf = exec.load_workflow(&manifest).await?;
    let first = exec.run(&wf, Map::new()).await?;
    ensure!(first.failure.is_none(), "bench workflow failed: {:?}", first.failure);
    let r = exec.inspect().describe(first.execution).await?;
    let from = r
        .checkpoints
        .iter()
        .find(|c| c.checkpoint.node == "n006" && c.checkpoint.kind == CheckpointKind::Entry)
        .context("no entry checkpoint of n006")?
        .checkpoint
        .id;
    let file = dir.join("experiment.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"bench\"\nworkflow = \"bench.toml\"\nfrom = \"{from}\"\nrepetitions = 25\n\
             [[variants]]\nname = \"same\"\n[[variants]]\nname = \"bigger\"\nnodes.n008 = {{ config = {{ size = {} }} }}\n\
             [[environments]]\nname = \"real\"\n[[environments]]\nname = \"seeded\"\nseed = 1\n",
            file_size * 2
        ),
    )?;
    let before = exec.inspect().blob_totals().await?.bytes;
    let loaded = exec.experiments().load(&file).await?;
    let record = exec.experiments().create(&loaded).await?;
    let t = Instant::now();
    let cells = exec.experiments().run(&loaded, &record, parallelism, &|| false, &|_| {}).await?;
    let total = t.elapsed().as_secs_f64();
    let after = exec.inspect().blob_totals().await?.bytes;
    let report = exec.experiments().report(record.id).await?;
    ensure!(
        report.cells.iter().all(|c| c.status == wtb_core::model::ExecutionStatus::Completed),
        "a bench cell failed: {:?}",
        report.cells.iter().find(|c| c.status != wtb_core::model::ExecutionStatus::Completed)
    );
    exec.close().await;
    Ok(ExperimentResult {
        cells: cells.len(),
        nodes_per_cell: 5,
        total_ms: total * 1e3,
        cells_per_second: cells.len() as f64 / total,
        blob_bytes_before: before,
        blob_bytes_added: after - before,
    })
}
