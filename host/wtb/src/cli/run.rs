//! `wtb run` and `wtb demo`.

use super::format::{bytes, micros};
use anyhow::{Context as _, bail};
use serde_json::{Map, Value};
use std::path::Path;
use std::process::ExitCode;
use wtb_core::model::ExecutionStatus;
use wtb_engine::executor::{Executor, RunOptions, RunSummary};

/// Parses `--state`: a JSON object, or `@file` holding one.
pub fn parse_state(arg: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    arg.map_or_else(|| Ok(Map::new()), |arg| json_object("--state", arg))
}

/// Parses a flag's JSON object argument, given inline or as `@file`.
pub fn json_object(flag: &str, arg: &str) -> anyhow::Result<Map<String, Value>> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("{flag}: reading `{path}`"))?,
            path.to_owned(),
        ),
        None => (arg.to_owned(), flag.to_owned()),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => bail!("{origin}: must be a JSON object, got `{}`", truncate(&other.to_string(), 40)),
        Err(e) => bail!("{origin}: invalid JSON: {e}"),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Runs a manifest and prints the outcome. With `follow`, the process also relays the outbox
/// (and cleans, see [`wtb_engine::service`]) while the run lasts, then delivers what is left due.
pub async fn run(
    exec: &Executor,
    workflow: &Path,
    state: Option<&str>,
    opts: &RunOptions,
    follow: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let state = parse_state(state)?;
    let wf = exec.load_workflow(workflow).await?;
    if !follow {
        let summary = exec.run_with(&wf, state, opts).await?;
        print_summary(&summary, json)?;
        return Ok(exit_code(&summary));
    }
    // Sinks are checked before anything runs: a misconfigured one fails now, not mid-run.
    let relay = wtb_engine::outbox::relay_for(exec)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (summary, background) = tokio::join!(
        async {
            let s = exec.run_with(&wf, state, opts).await;
            let _ = stop.send(true);
            s
        },
        wtb_engine::service::maintain(exec, &relay, stopped)
    );
    let summary = summary?;
    let mut delivered = background.relay;
    delivered += relay.drain().await?;
    if json {
        let mut v = serde_json::to_value(&summary)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("outbox".into(), serde_json::to_value(delivered)?);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_summary(&summary, false)?;
        println!(
            "outbox: {} deliveries to {} ({} to retry later, {} dead)",
            delivered.delivered,
            relay.sink_names().join(", "),
            delivered.retried,
            delivered.dead
        );
    }
    Ok(exit_code(&summary))
}

/// 0 for completed or paused, 1 for failed or cancelled.
pub fn exit_code(s: &RunSummary) -> ExitCode {
    match s.status {
        ExecutionStatus::Completed | ExecutionStatus::Paused => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// Prints how a drive ended.
pub fn print_summary(s: &RunSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    match (s.status, &s.failure, &s.paused) {
        (ExecutionStatus::Paused, _, Some(why)) => {
            println!("execution {} paused ({why}) after {} node attempts", s.execution, s.attempts);
            println!("continue: wtb resume {}", s.execution);
        }
        (ExecutionStatus::Completed, _, _) => {
            println!("execution {} completed ({} node attempts)", s.execution, s.attempts)
        }
        (status, f, _) => println!("execution {} {status}: {}", s.execution, f.as_deref().unwrap_or("")),
    }
    println!("state: {}", Value::Object(s.state.clone()));
    println!("details: wtb show {}", s.execution);
    Ok(())
}

/// Materialises the example workflow under the data dir, runs it and summarises it.
pub async fn demo(exec: &Executor, data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let manifest = crate::demo::materialize(&data_dir.join("demo")).context("writing the demo workflow")?;
    let wf = exec.load_workflow(&manifest).await?;
    let summary = exec.run(&wf, Map::new()).await?;
    if json {
        print_summary(&summary, true)?;
        return Ok(exit_code(&summary));
    }
    let report = exec.inspect().describe(summary.execution).await?;
    println!(
        "WTB demo: workflow `{}` ({}), execution {}",
        report.workflow,
        manifest.display(),
        summary.execution
    );
    println!();
    for n in &report.nodes {
        let b = &n.boundary;
        let exit = report.checkpoints.iter().find(|c| Some(c.checkpoint.id) == b.exit_checkpoint);
        let files: Vec<String> = exit
            .map(|c| c.changes.iter().map(|ch| format!("{} {}", ch.change, ch.path)).collect())
            .unwrap_or_default();
        println!(
            "  {:<10} {:<10} {:>9}  mem {:>9}  files: {}",
            b.node,
            b.status,
            micros(b.guest_micros.unwrap_or(0)),
            bytes(b.peak_memory_bytes.unwrap_or(0)),
            if files.is_empty() { "-".into() } else { files.join(", ") }
        );
    }
    println!();
    println!(
        "{} checkpoints, {} outbox events (e.g. `{}`)",
        report.checkpoints.len(),
        report.events.len(),
        report.events.iter().find(|e| e.kind.starts_with("guest.")).map_or("-", |e| e.kind.as_str())
    );
    // Read from the last checkpoint, not a lane directory: the same on either kind of
    // workspace, and never through a path a guest could have made a link.
    let last = report.checkpoints.last().map(|c| c.checkpoint.id);
    let md = match last {
        Some(id) => exec.inspect().cat(id, "report.md").await.ok(),
        None => None,
    };
    if let Some(md) = md.map(|b| String::from_utf8_lossy(&b).into_owned()) {
        println!("\nreport.md, as the last node left it:\n");
        for line in md.lines() {
            println!("    {line}");
        }
    }
    println!("\nNext: wtb show {}   (or: wtb --json show {})", summary.execution, summary.execution);
    println!(
        "Or see its graph, attempts, checkpoints and diffs: `wtb token create`, then `wtb serve` and open\n\
         http://127.0.0.1:8080/#/executions/{} (paste the token once)",
        summary.execution
    );
    Ok(exit_code(&summary))
}
