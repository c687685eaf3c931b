//! `wtb replay`: a recorded execution's node boundaries, or those of a workflow's recorded
//! executions, run again and compared.

use super::travel::{instant, node_pair};
use std::path::PathBuf;
use std::process::ExitCode;
use wtb_core::model::ExecutionId;
use wtb_engine::executor::Executor;
use wtb_engine::replay::{ComponentSource, Corpus, NodeReplay, ReplayOptions, ReplayReport, Verdict};

/// What to replay: one execution, or a workflow's recorded ones.
pub enum Which {
    /// `wtb replay <execution>`.
    One(ExecutionId),
    /// `wtb replay --workflow NAME [--since T] [--limit N]`.
    Corpus(Corpus),
    /// `wtb replay FILE`: a bundle, imported first.
    Bundle(PathBuf),
}

impl Which {
    /// From the command line (clap has made sure exactly one of the two is given).
    pub fn from_args(
        execution: Option<&str>,
        workflow: Option<&str>,
        since: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<Self> {
        match (execution, workflow) {
            (Some(e), _) => match e.parse() {
                Ok(id) => Ok(Self::One(id)),
                Err(_) if std::path::Path::new(e).is_file() => Ok(Self::Bundle(PathBuf::from(e))),
                Err(_) => anyhow::bail!("`{e}` is not an execution id or a bundle file"),
            },
            (None, Some(w)) => Ok(Self::Corpus(Corpus {
                workflow: w.to_owned(),
                since: since.map(|t| instant("--since", t)).transpose()?,
                limit,
            })),
            (None, None) => anyhow::bail!("name an execution, or a workflow with --workflow"),
        }
    }
}

/// Replays and prints a line per boundary (what differs under it); exit status 1 when any
/// boundary differs or fails.
pub async fn replay(
    exec: &Executor,
    which: &Which,
    components: &[String],
    nodes: &[String],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut opts = ReplayOptions { nodes: nodes.to_vec(), ..ReplayOptions::default() };
    for arg in components {
        let (node, path) = node_pair("--component", arg)?;
        opts.components.push((node, ComponentSource::Path(PathBuf::from(path))));
    }
    let reports = match which {
        Which::One(id) => vec![exec.replay(*id, &opts).await?],
        Which::Corpus(c) => exec.replay_corpus(c, &opts).await?,
        Which::Bundle(file) => {
            let imported = exec.bundles().import(file, false).await?;
            if !json {
                println!("{}: imported as execution {}", file.display(), imported.execution);
            }
            vec![exec.replay(imported.execution, &opts).await?]
        }
    };
    let off = reports.iter().filter(|r| !r.all_same()).count();
    let code = if off == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) };
    match which {
        Which::One(_) | Which::Bundle(_) if json => {
            println!("{}", serde_json::to_string_pretty(&reports[0])?)
        }
        Which::Corpus(_) if json => {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "executions": reports }))?)
        }
        Which::One(_) | Which::Bundle(_) => print_report(&reports[0]),
        Which::Corpus(c) => {
            for r in &reports {
                print_report(r);
            }
            println!(
                "{} recorded executions of `{}` replayed: {} the same, {off} with differences",
                reports.len(),
                c.workflow,
                reports.len() - off
            );
        }
    }
    Ok(code)
}

fn print_report(r: &ReplayReport) {
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
        if let Some(wtb_core::history::TextChange::Text { unified }) = &f.content {
            for line in unified.lines() {
                println!("        {line}");
            }
        }
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
