//! `wtb replay`: a recorded execution's node boundaries run again and compared.

use super::travel::node_pair;
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use wtb_engine::executor::Executor;
use wtb_engine::replay::{NodeReplay, ReplayOptions, Verdict};

/// Replays `execution` and prints a line per boundary (what differs under it); exit status 1
/// when any boundary differs or fails.
pub async fn replay(
    exec: &Executor,
    execution: &str,
    components: &[String],
    nodes: &[String],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut opts = ReplayOptions { nodes: nodes.to_vec(), ..ReplayOptions::default() };
    for arg in components {
        let (node, path) = node_pair("--component", arg)?;
        opts.components.push((node, PathBuf::from(path)));
    }
    let id = execution.parse().with_context(|| format!("`{execution}` is not an execution id"))?;
    let r = exec.replay(id, &opts).await?;
    let code = if r.all_same() { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(code);
    }
    let mode = r.seed.map_or_else(|| "not deterministic".to_owned(), |s| format!("deterministic, seed {s}"));
    println!(
        "replay of execution {} (workflow `{}`, {mode}): {} boundaries",
        r.execution,
        r.workflow,
        r.nodes.len()
    );
    for n in &r.nodes {
        print_node(n);
    }
    let off = r.nodes.iter().filter(|n| n.verdict != Verdict::Same).count();
    match off {
        0 => println!("every boundary came out the same"),
        _ => println!("{off} of {} boundaries differ or failed", r.nodes.len()),
    }
    Ok(code)
}

fn print_node(n: &NodeReplay) {
    let verdict = match n.verdict {
        Verdict::Same => "same",
        Verdict::Differs => "differs",
        Verdict::Failed => "failed",
    };
    let component = if n.replaced { format!(", new component {}", n.component) } else { String::new() };
    let flag = if n.nondeterministic { "  NONDETERMINISTIC: the recorded component, same seed" } else { "" };
    println!("  {verdict:<8} {} (attempt {}{component}){flag}", n.node, n.attempt);
    if let Some(e) = &n.error {
        println!("      {e}");
    }
    let d = &n.differences;
    for line in d.state.iter().flat_map(|s| &s.lines) {
        println!("      state {line}");
    }
    for f in &d.files {
        let side = |s: &Option<wtb_core::history::FileSide>| {
            s.as_ref().map_or_else(|| "absent".to_owned(), |s| format!("{} bytes", s.size))
        };
        println!("      file {}: recorded {}, replayed {}", f.path, side(&f.before), side(&f.after));
    }
    if let Some([recorded, replayed]) = &d.route {
        println!("      route: recorded {recorded:?}, replayed {replayed:?}");
    }
    if let Some([recorded, replayed]) = &d.events {
        println!(
            "      events: recorded {}, replayed {}",
            serde_json::json!(recorded),
            serde_json::json!(replayed)
        );
    }
}
