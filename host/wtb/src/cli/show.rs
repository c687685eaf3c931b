//! `wtb show`, `wtb list`, and the reports of `wtb fsck` and `wtb gc`.

use super::format::{bytes, micros};
use anyhow::Context as _;
use std::process::ExitCode;
use wtb_core::model::{ChangeKind, EntryKind, ExecutionId};
use wtb_engine::executor::{ExecutionReport, Executor};
use wtb_store::db::ListFilter;

/// Prints everything recorded about one execution.
pub async fn show(exec: &Executor, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let id: ExecutionId = id.parse()?;
    let report = exec.inspect().describe(id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).context("encoding the report")?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &ExecutionReport) {
    let e = &r.execution;
    println!("execution {}  workflow `{}`  {}", e.id, r.workflow, e.status);
    println!("created {}  updated {}", e.created_at, e.updated_at);
    if let Some(seed) = e.environment.seed {
        println!("deterministic, seed {seed} (rerun with `wtb run --seed {seed}`)");
    }
    if let Some(err) = &e.error {
        println!("error: {err}");
    }
    println!("\nnodes:");
    println!(
        "  {:<16} {:>7}  {:<14} {:>10}  {:>10}  {:>10}  {:>12}  detail",
        "node", "attempt", "status", "time", "peak mem", "disk", "fuel"
    );
    for n in &r.nodes {
        let b = &n.boundary;
        let detail = match (&b.trap, &b.error) {
            (Some(t), Some(err)) => format!("{t}: {err}"),
            (None, Some(err)) => err.clone(),
            _ => String::new(),
        };
        println!(
            "  {:<16} {:>7}  {:<14} {:>10}  {:>10}  {:>10}  {:>12}  {detail}",
            b.node,
            b.attempt,
            b.status.as_str(),
            b.guest_micros.map(micros).unwrap_or_else(|| "-".into()),
            b.peak_memory_bytes.map(bytes).unwrap_or_else(|| "-".into()),
            b.disk_bytes.map(bytes).unwrap_or_else(|| "-".into()),
            b.fuel_used.map(|f| f.to_string()).unwrap_or_else(|| "-".into()),
        );
        for (name, text) in [("stdout", &b.stdout), ("stderr", &b.stderr)] {
            for line in text.lines().take(5) {
                println!("  {:<16} {name}| {line}", "");
            }
        }
    }
    println!("\ncheckpoints:");
    for c in &r.checkpoints {
        let cp = &c.checkpoint;
        let files: Vec<_> = c.files.iter().filter(|(_, e)| e.kind != EntryKind::Dir).collect();
        println!(
            "  {:>3} {:<5} {:<16} attempt {}  state {}  files {} ({})  {}",
            cp.seq,
            cp.kind.as_str(),
            cp.node,
            cp.attempt,
            bytes(cp.state.to_string().len() as u64),
            files.len(),
            bytes(files.iter().map(|(_, e)| e.size).sum()),
            cp.id
        );
        for ch in &c.changes {
            let sign = match ch.change {
                ChangeKind::Added => '+',
                ChangeKind::Modified => '~',
                ChangeKind::Deleted => '-',
            };
            match &ch.entry {
                Some(entry) => println!(
                    "        {sign} {:<40} {:>10}  {}",
                    ch.path,
                    if entry.kind == EntryKind::Dir { "dir".into() } else { bytes(entry.size) },
                    entry.digest.map(|d| format!("sha256:{}", d.short())).unwrap_or_default()
                ),
                None => println!("        {sign} {}", ch.path),
            }
        }
    }
    println!("\nevents:");
    for ev in &r.events {
        println!("  {:>3} {:<22} {}", ev.seq, ev.kind, ev.payload);
    }
}

/// Prints one page of executions; `--json` prints `{ "executions": [...], "next": id|null }`.
pub async fn list(
    exec: &Executor,
    filter: &ListFilter,
    after: Option<ExecutionId>,
    limit: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let page = exec.inspect().list(filter, after, limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(ExitCode::SUCCESS);
    }
    if page.executions.is_empty() && after.is_none() && *filter == ListFilter::default() {
        println!("no executions yet (try `wtb demo`)");
    }
    for e in &page.executions {
        let fork = e.parent_checkpoint.map(|c| format!("  fork of {c}")).unwrap_or_default();
        println!("{}  {:<10} {}  {}{fork}", e.id, e.status, e.created_at, e.cursor.as_deref().unwrap_or("-"));
    }
    if let Some(next) = page.next {
        println!("more: wtb list --after {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `fsck` and prints the problems; exit status 1 if there are any.
pub async fn fsck(exec: &Executor, json: bool) -> anyhow::Result<ExitCode> {
    let report = wtb_engine::gc::fsck(exec).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            println!("{} {}: {}", p.what, p.subject, p.detail);
        }
        println!(
            "checked {} blobs, {} file commits, {} checkpoints: {}",
            report.blobs,
            report.file_commits,
            report.checkpoints,
            if report.problems.is_empty() {
                "no problems".to_owned()
            } else {
                format!("{} problems", report.problems.len())
            }
        );
    }
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Runs the orphan cleaner and says what it deleted.
pub async fn orphans(
    exec: &Executor,
    grace: std::time::Duration,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let r = wtb_engine::gc::clean_orphans(exec, grace, dry_run).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    for d in &r.removed {
        println!("{verb} {d}");
    }
    println!(
        "{} objects; {verb} {} orphans ({}) and {} old temp files; {} orphans younger than {} s kept",
        r.objects,
        r.removed.len(),
        bytes(r.removed_bytes),
        r.temp_removed,
        r.young,
        grace.as_secs()
    );
    Ok(ExitCode::SUCCESS)
}

/// `wtb gc [--dry-run]`: retention, then sweep.
pub async fn gc(exec: &Executor, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let config = exec.config();
    let sinks: Vec<String> = config.sinks().iter().map(|s| s.name().to_owned()).collect();
    let grace = std::time::Duration::from_secs(config.orphan_grace_seconds);
    let r = wtb_engine::gc::collect_garbage(exec, &config.retention, &sinks, grace, dry_run).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    if r.no_policy {
        println!(
            "no retention rule in wtb.toml ([retention] keep_days / keep_last): every execution is kept"
        );
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    for id in &r.deleted {
        println!("{verb} execution {id}");
    }
    let kept: Vec<String> = r.kept.iter().map(|(why, n)| format!("{n} {why}")).collect();
    println!(
        "{verb} {} executions ({} checkpoints, {} events, {} file commits, {} blobs, {}); kept {} ({})",
        r.deleted.len(),
        r.swept.checkpoints,
        r.swept.events,
        r.swept.file_commits,
        r.swept.blobs.len(),
        bytes(r.bytes_reclaimed),
        r.kept.values().sum::<usize>(),
        if kept.is_empty() { "none".into() } else { kept.join(", ") }
    );
    Ok(ExitCode::SUCCESS)
}
