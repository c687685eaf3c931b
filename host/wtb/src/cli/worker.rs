//! `wtb worker`: claims and runs executions from the shared database until Ctrl-C / SIGTERM,
//! then gives back what it holds; optionally the outbox relay and cleaners beside it.

use super::outbox::shutdown_signal;
use std::process::ExitCode;
use tokio::sync::watch;
use wtb_engine::executor::Executor;
use wtb_engine::outbox::relay_for;
use wtb_engine::service::maintain;
use wtb_engine::worker::{WorkerOptions, work};

/// Works until interrupted; a second interrupt exits at once (the leases then expire, or are
/// taken over at once by a process on this host, and the fence keeps anything late out).
pub async fn worker(
    exec: Executor,
    opts: WorkerOptions,
    maintenance: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let relay = if maintenance { Some(relay_for(&exec)?) } else { None };
    let (stop_tx, stop_rx) = watch::channel(false);
    eprintln!(
        "wtb worker {}: running up to {} execution(s) at once until interrupted (Ctrl-C or SIGTERM)",
        exec.owner(),
        opts.concurrency
    );
    let background = async {
        match &relay {
            Some(relay) => Some(maintain(&exec, relay, stop_rx.clone()).await),
            None => None,
        }
    };
    let signals = async move {
        shutdown_signal().await;
        eprintln!(
            "wtb worker: finishing running attempts and giving executions back (interrupt again to exit now)"
        );
        let _ = stop_tx.send(true);
        shutdown_signal().await;
        eprintln!("wtb worker: exiting now");
        std::process::exit(130);
    };
    let (report, _) = tokio::select! {
        both = async { tokio::join!(work(&exec, opts, stop_rx.clone()), background) } => both,
        never = signals => match never {},
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "wtb worker: claimed {} ({} taken over); completed {}, failed {}, paused {}, given back {}, lost {}, errors {}",
            report.claimed,
            report.taken_over,
            report.completed,
            report.failed,
            report.paused,
            report.given_back,
            report.lost,
            report.errors
        );
    }
    Ok(ExitCode::SUCCESS)
}
