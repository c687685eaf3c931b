//! `wtb bench --only limits`: what each sandbox safeguard adds per node. The same linear
//! workflow runs under three engine tunings, one executor (and data dir) each, interleaved run
//! by run so that machine noise falls on every mode alike. Besides the whole node, the guest
//! part alone (sandbox set-up and run, as recorded on each boundary) is reported: it is where
//! the safeguards act, and far less noisy than a whole node with its capture and commit. (The
//! disk quota is part of the in-memory workspace itself, so it is on in every mode.)

use anyhow::ensure;
use serde_json::Map;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_engine::config::DataDir;
use wtb_engine::executor::Executor;
use wtb_runtime::{Tuning, WorkspaceKind};
use wtb_store::db::Durability;

/// One tuning's figures.
#[derive(Debug, serde::Serialize)]
pub struct LimitsResult {
    /// Which safeguards were on.
    pub mode: &'static str,
    /// Median whole-node time.
    pub us_per_node: f64,
    /// Median time inside the sandbox (set-up and guest).
    pub guest_us_per_node: f64,
    /// Whole-node time over the mode with nothing on, in percent.
    pub extra_percent: f64,
    /// Guest time over the mode with nothing on, in percent.
    pub guest_extra_percent: f64,
}

const MODES: [(&str, Tuning); 3] = [
    (
        "epoch + fuel (default)",
        Tuning { epoch: true, fuel: true, disk_accounting: true, workspace: WorkspaceKind::Virtual },
    ),
    (
        "epoch, no fuel",
        Tuning { epoch: true, fuel: false, disk_accounting: true, workspace: WorkspaceKind::Virtual },
    ),
    (
        "no interruption",
        Tuning { epoch: false, fuel: false, disk_accounting: true, workspace: WorkspaceKind::Virtual },
    ),
];

/// Runs the comparison under `dir`.
pub async fn limits(
    dir: &Path,
    nodes: usize,
    runs: usize,
    file_size: usize,
) -> anyhow::Result<Vec<LimitsResult>> {
    let manifest_path = super::bench::linear_workflow(dir, nodes, file_size)?;
    let mut lanes = Vec::new();
    for (i, (_, tuning)) in MODES.iter().enumerate() {
        let mut data = DataDir::open(&dir.join(format!("data-{i}")))?;
        data.config.durability = Durability::Normal;
        data.config.tuning = *tuning;
        let exec = Executor::open(data, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
        let wf = exec.load_workflow(&manifest_path).await?;
        let warm = exec.run(&wf, Map::new()).await?;
        ensure!(warm.failure.is_none(), "bench workflow failed: {:?}", warm.failure);
        lanes.push((exec, wf, Vec::with_capacity(runs), Vec::with_capacity(runs)));
    }
    for _ in 0..runs {
        for (exec, wf, totals, guests) in &mut lanes {
            let t = Instant::now();
            let s = exec.run(wf, Map::new()).await?;
            totals.push(t.elapsed().as_secs_f64() * 1e6 / nodes as f64);
            let r = exec.inspect().describe(s.execution).await?;
            let guest: u64 = r.nodes.iter().filter_map(|n| n.boundary.guest_micros).sum();
            guests.push(guest as f64 / nodes as f64);
        }
    }
    let mut medians = Vec::new();
    for (exec, _, mut totals, mut guests) in lanes {
        exec.close().await;
        medians.push((median(&mut totals), median(&mut guests)));
    }
    let (bare, bare_guest) = medians[medians.len() - 1];
    Ok(MODES
        .iter()
        .zip(medians)
        .map(|((mode, _), (total, guest))| LimitsResult {
            mode,
            us_per_node: total,
            guest_us_per_node: guest,
            extra_percent: (total - bare) / bare * 100.0,
            guest_extra_percent: (guest - bare_guest) / bare_guest * 100.0,
        })
        .collect())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
