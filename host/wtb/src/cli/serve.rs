//! `wtb serve`: the HTTP API, plus what a long-running process owes: every tenant's running
//! executions resumed at start (a crash's leftovers), the outbox relay, orphan cleaner and
//! retention GC; graceful shutdown on Ctrl-C / SIGTERM.

use super::outbox::shutdown_signal;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch;
use wtb_engine::executor::Executor;
use wtb_engine::outbox::relay_for;
use wtb_engine::service::maintain;

/// Serves until interrupted.
pub async fn serve(exec: Executor, listen: SocketAddr) -> anyhow::Result<ExitCode> {
    let relay = relay_for(&exec)?;
    let admin = exec.config().serve.admin_token_hash().map_err(anyhow::Error::msg)?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let host = Arc::new(exec);
    // Interrupted runs of every tenant continue here (another live process's are skipped).
    let resumer = {
        let host = host.clone();
        tokio::spawn(async move {
            for t in host.tenancy().list().await.unwrap_or_default() {
                let tenant = host.for_tenant(t.id);
                // With workers, they take interrupted runs over themselves.
                let resumed =
                    if host.config().workers.hand_off { Ok(Vec::new()) } else { tenant.resume_all(4).await };
                match resumed {
                    Ok(done) if !done.is_empty() => {
                        tracing::info!("resumed {} execution(s) of tenant `{}`", done.len(), t.name)
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("resuming tenant `{}`: {e}", t.name),
                }
                // Then API experiments' cells that never started (interrupted ones just finished).
                match tenant.experiments().unfinished().await {
                    Ok(all) => {
                        for (loaded, record) in all {
                            tracing::info!("continuing experiment {} of tenant `{}`", record.id, t.name);
                            tenant.experiments().run_detached(loaded, record, 4);
                        }
                    }
                    Err(e) => tracing::warn!("continuing experiments of tenant `{}`: {e}", t.name),
                }
            }
        })
    };
    println!("wtb serve: listening on http://{addr}");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = axum::serve(listener, wtb_server::router(host.clone(), admin, crate::demo::STUB.into()))
        .with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|s| *s).await;
        });
    let (served, _, ()) = tokio::join!(server, maintain(&host, &relay, stop_rx), async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    resumer.abort();
    served.context("serving")?;
    eprintln!("wtb serve: stopped");
    Ok(ExitCode::SUCCESS)
}
