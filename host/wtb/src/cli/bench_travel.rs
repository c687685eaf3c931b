//! `wtb bench`, time-travel part: a `list` page among 10,000 executions, a rollback of a
//! workspace of 10,000 files of 10 KiB (`--travel-files`) where 1 % of the files changed, a
//! fork of it, and the capture of the workspace unchanged. Durable mode, in a fresh data dir
//! beside the real one.

use anyhow::{Context as _, ensure};
use serde_json::Map;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wtb_core::clock::{IdGen as _, SystemClock, UuidV7Ids};
use wtb_core::model::{CheckpointKind, Execution, ExecutionId, ExecutionStatus, Timestamp};
use wtb_engine::config::DataDir;
use wtb_engine::executor::Executor;
use wtb_store::capture::{CaptureTo, MemoryWorkspaces, Workspaces as _};
use wtb_store::db::ListFilter;
use wtb_store::db::{UnitOfWork, Write};

/// Figures of the time-travel scenarios, in milliseconds (medians).
#[derive(Debug, serde::Serialize)]
pub struct TravelResult {
    /// Executions in the database while listing.
    pub executions: usize,
    /// First page of 50, no filter.
    pub list_first_page_ms: f64,
    /// A page of 50 deep in the list (cursor in the middle).
    pub list_deep_page_ms: f64,
    /// A page with status + variant filters.
    pub list_filtered_page_ms: f64,
    /// Files and bytes in the rolled-back workspace.
    pub workspace_files: u32,
    /// Its total size.
    pub workspace_bytes: u64,
    /// `wtb rollback` to the checkpoint before 1 % of the files changed.
    pub rollback_ms: f64,
    /// `wtb fork` from the checkpoint after the files were written (a new execution holding
    /// the same files).
    pub fork_ms: f64,
    /// Capture of the same workspace, unchanged (as between nodes).
    pub unchanged_capture_ms: f64,
    /// Building the lane from the files' checkpoint, as the drive that resumes after a
    /// rollback does (contents are read later, when opened).
    pub lane_restore_ms: f64,
    /// Capture after one new file in that workspace.
    pub one_file_capture_ms: f64,
}

/// Writes a small new file at `path` of an in-memory workspace, as a guest would.
fn write_one(ws: &wtb_store::capture::Workspace, path: &str) -> anyhow::Result<()> {
    use wtb_vfs::{Follow, OpenFlags, Opened, Vfs};
    let mut vfs = ws.vfs().lock().unwrap_or_else(|e| e.into_inner());
    let flags = OpenFlags { create: true, write: true, ..OpenFlags::default() };
    let Opened::File(ino) = vfs.open(Vfs::ROOT, path, Follow::No, flags).map_err(anyhow::Error::msg)? else {
        anyhow::bail!("`{path}` is a directory")
    };
    vfs.write(ino, Some(0), path.as_bytes()).map_err(anyhow::Error::msg)?;
    Ok(())
}

const FILE_SIZE: usize = 10 * 1024;

/// Runs the scenarios in `dir`, on a workspace holding `files` files.
pub async fn travel(dir: &Path, files: u32) -> anyhow::Result<TravelResult> {
    // The nodes' new-entry limit: the default (10,000) has no room for the files' directory.
    let max_files = files + 100;
    std::fs::write(dir.join("counter.wasm"), crate::demo::COUNTER)?;
    // Two identical bulk nodes: `fill` writes the files, `change` rewrites the 1 % that vary.
    let node = |id: &str| {
        format!(
            "\n[[nodes]]\nid = \"{id}\"\ncomponent = \"counter.wasm\"\nconfig = {{ bulk = {{ files = {files}, size = {FILE_SIZE}, vary_every = 100 }} }}\n\
             limits = {{ timeout_ms = 120000, max_files = {max_files}, disk_mib = 1024 }}\n"
        )
    };
    let manifest = format!("name = \"bulk\"\n{}{}", node("fill"), node("change"));
    std::fs::write(dir.join("bulk.toml"), manifest)?;
    let data_path = dir.join("data");
    let data = DataDir::open(&data_path)?;
    let exec = Executor::open(data, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
    let wf = exec.load_workflow(&dir.join("bulk.toml")).await?;
    let s = exec.run(&wf, Map::new()).await?;
    ensure!(s.status == ExecutionStatus::Completed, "the bulk workflow did not complete: {:?}", s.failure);
    let report = exec.inspect().describe(s.execution).await?;
    let fill_exit = report
        .checkpoints
        .iter()
        .find(|c| c.checkpoint.node == "fill" && c.checkpoint.kind == CheckpointKind::Exit)
        .context("no exit of `fill`")?;
    let workspace_bytes = fill_exit.files.values().map(|e| e.size).sum();

    // The lane of a drive: restored from the checkpoint, then captured unchanged.
    let final_tree = Arc::new(report.checkpoints.last().context("no checkpoints")?.files.clone());
    let limits = exec.config().capture_limits();
    let lanes = MemoryWorkspaces::new(wtb_vfs::Pool::new(u64::MAX));
    let mut ws = lanes.empty();
    let t = Instant::now();
    lanes.restore(&mut ws, &final_tree, exec.lane_blobs(), &limits)?;
    let lane_restore_ms = t.elapsed().as_secs_f64() * 1e3;
    let to = CaptureTo { cas: &*exec.cas(), tenant: exec.tenant(), limits: &limits };
    let mut captures = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let c = lanes.capture(&mut ws, &final_tree, to)?;
        captures.push(t.elapsed().as_secs_f64() * 1e3);
        ensure!(c.changes.is_empty(), "an unchanged workspace captured changes");
    }
    // A node that adds one file: what the capture after it costs.
    let mut base = final_tree.clone();
    let mut one_file = Vec::new();
    for i in 0..9 {
        write_one(&ws, &format!("note-{i}.txt"))?;
        let t = Instant::now();
        let c = lanes.capture(&mut ws, &base, to)?;
        one_file.push(t.elapsed().as_secs_f64() * 1e3);
        ensure!(c.changes.len() == 1, "one new file, one change: {:?}", c.changes);
        base = c.tree;
    }

    let t = Instant::now();
    let forked = exec.travel().fork(fill_exit.checkpoint.id, &Default::default()).await?;
    let fork_ms = t.elapsed().as_secs_f64() * 1e3;
    ensure!(forked.execution != s.execution, "the fork is a new execution");

    let t = Instant::now();
    exec.travel().rollback(s.execution, fill_exit.checkpoint.id).await?;
    let rollback_ms = t.elapsed().as_secs_f64() * 1e3;

    let (first_page, deep_page, filtered_page) = list_pages(&exec).await?;
    exec.close().await;
    Ok(TravelResult {
        executions: 10_001,
        list_first_page_ms: first_page,
        list_deep_page_ms: deep_page,
        list_filtered_page_ms: filtered_page,
        workspace_files: files,
        workspace_bytes,
        rollback_ms,
        fork_ms,
        unchanged_capture_ms: median(&mut captures),
        lane_restore_ms,
        one_file_capture_ms: median(&mut one_file),
    })
}

/// Adds 10,000 executions, then times pages: first, deep (cursor in the middle), filtered.
async fn list_pages(exec: &Executor) -> anyhow::Result<(f64, f64, f64)> {
    let one = exec
        .inspect()
        .list(&ListFilter::default(), None, 1)
        .await?
        .executions
        .pop()
        .context("no execution to copy")?;
    let statuses = [
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Paused,
        ExecutionStatus::Cancelled,
    ];
    let mut rows = UnitOfWork::new();
    let mut middle = None;
    for i in 0..10_000u32 {
        let e = Execution {
            id: ExecutionId::from_uuid(UuidV7Ids.next()),
            status: statuses[i as usize % statuses.len()],
            variant: Some(format!("v{}", i % 3)),
            created_at: Timestamp::from_micros(one.created_at.micros() + i64::from(i)),
            ..one.clone()
        };
        if i == 5_000 {
            middle = Some(e.id);
        }
        rows.push(Write::Execution(e, None));
    }
    exec.database().write(rows).await?;
    let filtered = ListFilter {
        status: Some(ExecutionStatus::Failed),
        variant: Some("v1".into()),
        ..ListFilter::default()
    };
    let time = async |filter: &ListFilter, after: Option<ExecutionId>| -> anyhow::Result<f64> {
        let mut ms = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let page = exec.inspect().list(filter, after, 50).await?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            ensure!(page.executions.len() == 50, "a page came back short");
        }
        Ok(median(&mut ms))
    };
    Ok((
        time(&ListFilter::default(), None).await?,
        time(&ListFilter::default(), middle).await?,
        time(&filtered, None).await?,
    ))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
