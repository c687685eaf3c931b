//! `wtb experiment`: run, resume, list, show and report.

use super::args_experiment::{ExperimentCommand, ReportFormat};
use anyhow::Context as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use wtb_core::experiment::report;
use wtb_core::model::ExperimentId;
use wtb_engine::executor::{CellDone, Executor, LoadedExperiment};

/// Runs a `wtb experiment` command.
pub async fn experiment(exec: &Executor, what: &ExperimentCommand, json: bool) -> anyhow::Result<ExitCode> {
    match what {
        ExperimentCommand::Run { file, parallelism } => {
            let loaded = exec.experiments().load(file).await?;
            let record = exec.experiments().create(&loaded).await?;
            run(exec, &loaded, &record, usize::from(*parallelism), json).await
        }
        ExperimentCommand::Resume { id, parallelism } => {
            let record = exec.experiments().get(id.parse()?).await?;
            let loaded = match record.file.as_str() {
                wtb_engine::executor::API_FILE => {
                    exec.experiments()
                        .load_stored(record.spec.clone())
                        .await
                        .with_context(|| format!("loading experiment {} again", record.id))?
                }
                file => exec
                    .experiments()
                    .load(Path::new(file))
                    .await
                    .with_context(|| format!("reading experiment {} again from `{file}`", record.id))?,
            };
            run(exec, &loaded, &record, usize::from(*parallelism), json).await
        }
        ExperimentCommand::List { limit } => {
            let all = exec.experiments().list(*limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for e in &all {
                    let s = &e.spec;
                    println!(
                        "{}  {:<24} {} variant(s) × {} environment(s) × {}  created {}",
                        e.id,
                        e.name,
                        s.variants.len(),
                        s.environments.len(),
                        s.repetitions,
                        e.created_at
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ExperimentCommand::Show { id } => {
            report(exec, id, if json { ReportFormat::Json } else { ReportFormat::Table }, None).await
        }
        ExperimentCommand::Report { id, format, output } => {
            report(exec, id, *format, output.as_deref()).await
        }
    }
}

async fn run(
    exec: &Executor,
    loaded: &LoadedExperiment,
    record: &wtb_store::db::ExperimentRecord,
    parallelism: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let total = loaded.spec.cells().len() as u64;
    let bar = indicatif::ProgressBar::new(total);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cells, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("experiment {}", record.id));
    let stop = AtomicBool::new(false);
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
        stop.store(true, Ordering::SeqCst);
        bar.println("interrupted: no new cells start; the running ones finish");
        std::future::pending::<()>().await
    };
    let done = |c: &CellDone| {
        bar.inc(1);
        if c.status != wtb_core::model::ExecutionStatus::Completed {
            bar.println(format!(
                "{} × {} #{}: {} ({})",
                c.cell.variant, c.cell.environment, c.cell.repetition, c.status, c.execution
            ));
        }
    };
    let stopped = || stop.load(Ordering::SeqCst);
    let experiments = exec.experiments();
    let cells = tokio::select! {
        r = experiments.run(loaded, record, parallelism, &stopped, &done) => r?,
        () = interrupted => unreachable!("pending forever"),
    };
    bar.finish_and_clear();
    let r = exec.experiments().report(record.id).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "experiment": record.id, "ran": cells.len(), "report": r })
            )?
        );
    } else {
        print!("{}", report::table(&r));
        if (cells.len() as u64) < total {
            println!(
                "\nstopped with {} cell(s) pending: wtb experiment resume {}",
                total - cells.len() as u64,
                record.id
            );
        }
    }
    Ok(if r.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn report(
    exec: &Executor,
    id: &str,
    format: ReportFormat,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let id: ExperimentId = id.parse()?;
    let r = exec.experiments().report(id).await?;
    let text = match format {
        ReportFormat::Table => report::table(&r),
        ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
        ReportFormat::Markdown => report::markdown(&r),
        ReportFormat::Html => report::html(&r),
    };
    match output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing `{}`", path.display()))?,
        None => print!("{text}"),
    }
    Ok(if r.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
