//! The `wtb` command line: parsing, dispatch, exit codes, output.
//!
//! Exit codes: 0 success; 1 the execution ran and failed (a node failed); 2 bad input or a
//! host error (message on stderr, one line, naming what and where).

mod args;
mod args_bundle;
mod args_experiment;
mod args_node;
mod args_tenancy;
mod args_test;
mod bench;
mod bench_api;
mod bench_engine;
mod bench_experiment;
mod bench_limits;
mod bench_outbox;
mod bench_shape;
mod bench_travel;
mod bench_workers;
mod bundle;
mod control;
mod experiment;
pub(crate) mod format;
mod node;
mod outbox;
mod replay;
mod run;
mod serve;
mod show;
mod tenancy;
mod test;
mod travel;
mod worker;

pub use args::{Cli, Command, GcCommand, NodeCommand, OutboxCommand, TenantCommand, TokenCommand};

use anyhow::Context as _;
use clap::Parser as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wtb_core::clock::{SystemClock, UuidV7Ids};
use wtb_engine::config::DataDir;
use wtb_engine::executor::{Breakpoints, Executor, RunOptions};

/// Parses the process arguments, runs the command and maps the result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("WTB_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, skipping causes a message already quotes. Messages
/// of other crates that span lines (wasmtime's parse errors print byte arrays) are joined.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    if msg.contains('\n') {
        msg = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    }
    msg
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            ref workflow,
            ref state,
            ref break_before,
            ref break_after,
            parallelism,
            follow,
            deterministic,
            seed,
        } => {
            let exec = open(&cli).await?;
            let opts = RunOptions {
                breakpoints: Breakpoints { before: break_before.clone(), after: break_after.clone() },
                parallelism: usize::from(parallelism),
                deterministic,
                seed,
                ..RunOptions::default()
            };
            run::run(&exec, workflow, state.as_deref(), &opts, follow, cli.json).await
        }
        Command::Resume { ref execution, all, parallelism } => {
            let exec = open(&cli).await?;
            control::resume(&exec, execution.as_deref(), all, usize::from(parallelism), cli.json).await
        }
        Command::Pause { ref execution, wait } => {
            let exec = open(&cli).await?;
            control::pause(&exec, execution, wait, cli.json).await
        }
        Command::Cancel { ref execution, wait } => {
            let exec = open(&cli).await?;
            control::cancel(&exec, execution, wait, cli.json).await
        }
        Command::Show { ref execution } => {
            let exec = open(&cli).await?;
            show::show(&exec, execution, cli.json).await
        }
        Command::List {
            limit,
            ref status,
            ref workflow,
            ref created_after,
            ref created_before,
            ref parent,
            ref fork_of,
            ref variant,
            ref after,
        } => {
            let filter = travel::ListArgs {
                status,
                workflow,
                created_after,
                created_before,
                parent,
                fork_of,
                variant,
            }
            .filter()?;
            let after = after.as_deref().map(str::parse).transpose()?;
            let exec = open(&cli).await?;
            show::list(&exec, &filter, after, limit, cli.json).await
        }
        Command::History { ref execution } => travel::history(&open(&cli).await?, execution, cli.json).await,
        Command::Rollback { ref execution, ref to } => {
            travel::rollback(&open(&cli).await?, execution, to, cli.json).await
        }
        Command::Fork { ref checkpoint, ref state_patch, ref node_config, ref component } => {
            let opts = travel::fork_options(state_patch.as_deref(), node_config, component)?;
            travel::fork(&open(&cli).await?, checkpoint, &opts, cli.json).await
        }
        Command::Diff { ref from, ref to } => travel::diff(&open(&cli).await?, from, to, cli.json).await,
        Command::Files { ref checkpoint } => travel::files(&open(&cli).await?, checkpoint, cli.json).await,
        Command::Cat { ref checkpoint, ref path } => travel::cat(&open(&cli).await?, checkpoint, path).await,
        Command::Export { ref checkpoint, ref dir, force } => {
            travel::export(&open(&cli).await?, checkpoint, dir, force, cli.json).await
        }
        Command::Replay(ref a) => {
            let which = replay::Which::from_args(
                a.execution.as_deref(),
                a.workflow.as_deref(),
                a.since.as_deref(),
                a.limit,
            )?;
            replay::replay(&open(&cli).await?, &which, &a.component, &a.node, cli.json).await
        }
        Command::Test(ref args) => test::test(&open(&cli).await?, args, cli.json).await,
        Command::Bundle(ref what) => bundle::bundle(&open(&cli).await?, what, cli.json).await,
        Command::Fsck => show::fsck(&open(&cli).await?, cli.json).await,
        Command::Gc { dry_run, what: None } => show::gc(&open(&cli).await?, dry_run, cli.json).await,
        Command::New { ref name, ref dir, lang, ref sdk } => {
            use crate::scaffold::Language;
            let dir = dir.clone().unwrap_or_else(|| PathBuf::from(name));
            let (language, build) = match lang {
                args::Lang::Rust => {
                    (Language::Rust, "cargo build --release --target wasm32-wasip2".to_owned())
                }
                args::Lang::Python => (
                    Language::Python,
                    format!(
                        "componentize-py -d wit -w node componentize app -o {name}.wasm   (README.md: installing componentize-py)"
                    ),
                ),
                args::Lang::Js => (Language::JavaScript, "npm install && npm run build".to_owned()),
            };
            let files = crate::scaffold::new_project(
                language,
                name,
                &dir,
                sdk.as_deref().unwrap_or(&crate::scaffold::default_sdk()),
            )?;
            if cli.json {
                println!("{}", serde_json::json!({ "dir": dir, "files": files }));
            } else {
                println!(
                    "created {} ({} files); next:\n  cd {}\n  {build}",
                    dir.display(),
                    files.len(),
                    dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Node {
            what:
                NodeCommand::Run { ref component, ref state, ref config, ref workspace, ref env, ref sandbox },
        } => {
            let opts = node::options(
                component,
                state.as_deref(),
                config.as_deref(),
                workspace.as_deref(),
                env,
                sandbox,
            )?;
            node::run(&open(&cli).await?, &opts, cli.json).await
        }
        Command::Outbox { ref what } => {
            let exec = open(&cli).await?;
            match what {
                OutboxCommand::Relay { once } => outbox::relay(&exec, *once, cli.json).await,
                OutboxCommand::List { status, sink, execution, after, limit } => {
                    outbox::list(
                        &exec,
                        status.as_deref(),
                        sink.clone(),
                        execution.as_deref(),
                        *after,
                        *limit,
                        cli.json,
                    )
                    .await
                }
                OutboxCommand::Retry { event, .. } => outbox::retry(&exec, event.as_deref(), cli.json).await,
                OutboxCommand::Stats => outbox::stats(&exec, cli.json).await,
            }
        }
        Command::Gc { what: Some(GcCommand::Orphans { grace_seconds, dry_run }), .. } => {
            let exec = open(&cli).await?;
            let grace =
                std::time::Duration::from_secs(grace_seconds.unwrap_or(exec.config().orphan_grace_seconds));
            show::orphans(&exec, grace, dry_run, cli.json).await
        }
        Command::Serve { listen } => serve::serve(open(&cli).await?, listen).await,
        Command::Worker { concurrency, parallelism, no_maintenance } => {
            let opts = wtb_engine::worker::WorkerOptions {
                concurrency: concurrency.into(),
                parallelism: parallelism.into(),
            };
            worker::worker(open(&cli).await?, opts, !no_maintenance, cli.json).await
        }
        Command::Experiment { ref what } => experiment::experiment(&open(&cli).await?, what, cli.json).await,
        Command::Tenant { ref what } => tenancy::tenant(&open(&cli).await?, what, cli.json).await,
        Command::Token { ref what } => tenancy::token(&open(&cli).await?, what, cli.json).await,
        Command::Demo => {
            let exec = open(&cli).await?;
            run::demo(&exec, &cli.data_dir, cli.json).await
        }
        Command::Bench(ref args) => {
            bench::bench(&cli.data_dir, args.shape(), cli.database_url.as_deref(), cli.json).await
        }
    }
}

/// Opens the data dir and the executor with the real clock and ids.
pub async fn open(cli: &Cli) -> anyhow::Result<Executor> {
    let mut data = DataDir::open(&cli.data_dir)?;
    if let Some(url) = &cli.database_url {
        data.config.database.url = Some(url.clone());
    }
    let exec = Executor::open(data, Arc::new(SystemClock), Arc::new(UuidV7Ids))
        .await
        .with_context(|| format!("opening data dir `{}`", cli.data_dir.display()))?;
    Ok(match (&cli.token, &cli.tenant) {
        (Some(token), _) => exec.tenancy().authenticate(token).await?,
        (None, Some(name)) => {
            let tenant = exec.tenancy().tenant_named(name).await?;
            exec.for_tenant(tenant.id)
        }
        (None, None) => exec,
    })
}
