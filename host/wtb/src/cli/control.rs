//! `wtb resume`, `wtb pause`, `wtb cancel`.

use super::run::{exit_code, print_summary};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use wtb_core::model::{ExecutionId, ExecutionStatus};
use wtb_engine::executor::Executor;

/// Resumes one execution, or every one a dead process left running.
pub async fn resume(
    exec: &Executor,
    id: Option<&str>,
    all: bool,
    parallelism: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if !all {
        let id: ExecutionId = id.unwrap_or_default().parse()?;
        let summary = exec.resume(id, parallelism).await?;
        print_summary(&summary, json)?;
        return Ok(exit_code(&summary));
    }
    let results = exec.resume_all(parallelism).await?;
    let mut code = ExitCode::SUCCESS;
    if !json && results.is_empty() {
        println!("nothing to resume");
    }
    for (id, r) in results {
        match r {
            Ok(summary) => {
                print_summary(&summary, json)?;
                if summary.status != ExecutionStatus::Completed && summary.status != ExecutionStatus::Paused {
                    code = ExitCode::from(1);
                }
            }
            Err(e) => {
                eprintln!("error: resuming {id}: {e}");
                code = ExitCode::from(2);
            }
        }
    }
    Ok(code)
}

/// Requests a pause; with `wait`, returns once the execution stopped running.
pub async fn pause(exec: &Executor, id: &str, wait: bool, json: bool) -> anyhow::Result<ExitCode> {
    let id: ExecutionId = id.parse()?;
    exec.request_pause(id).await?;
    requested(exec, id, wait, json, "pause requested; it takes effect at the next node boundary").await
}

/// Cancels; with `wait`, returns once the execution stopped.
pub async fn cancel(exec: &Executor, id: &str, wait: bool, json: bool) -> anyhow::Result<ExitCode> {
    let id: ExecutionId = id.parse()?;
    if let Some(summary) = exec.cancel(id).await? {
        print_summary(&summary, json)?;
        return Ok(ExitCode::SUCCESS);
    }
    requested(exec, id, wait, json, "cancel requested; running nodes are interrupted").await
}

/// Reports a request taken; with `wait`, the status once the execution stopped running.
async fn requested(
    exec: &Executor,
    id: ExecutionId,
    wait: bool,
    json: bool,
    what: &str,
) -> anyhow::Result<ExitCode> {
    if wait {
        let status = wait_until_stopped(exec, id).await?;
        say(json, id, &status.to_string());
    } else {
        say(json, id, what);
    }
    Ok(ExitCode::SUCCESS)
}

fn say(json: bool, id: ExecutionId, what: &str) {
    if json {
        println!("{}", serde_json::json!({ "execution": id, "status": what }));
    } else {
        println!("execution {id}: {what}");
    }
}

/// Polls until `id` no longer runs; says on stderr when the running process has taken the
/// request (from then on it acts at its next node boundary).
async fn wait_until_stopped(exec: &Executor, id: ExecutionId) -> anyhow::Result<ExecutionStatus> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    loop {
        let status = exec.status(id).await?;
        if status != ExecutionStatus::Running {
            return Ok(status);
        }
        if !seen && let Some(owner) = exec.request_seen_by(id).await? {
            eprintln!("execution {id}: request seen by process {owner}");
            seen = true;
        }
        if Instant::now() > deadline {
            anyhow::bail!("execution {id} is still running after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
