//! `wtb bundle export|import|verify`.

use super::args_bundle::BundleCommand;
use std::process::ExitCode;
use wtb_engine::executor::Executor;

/// Runs one `wtb bundle` subcommand.
pub async fn bundle(exec: &Executor, what: &BundleCommand, json: bool) -> anyhow::Result<ExitCode> {
    let bundles = exec.bundles();
    match what {
        BundleCommand::Export { id, output, force } => {
            let (execution, point) = bundles.resolve(id).await?;
            let e = bundles.export(execution, point, output, *force).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                let point = e.point.map(|p| format!(", point {p}")).unwrap_or_default();
                println!(
                    "wrote {} ({} bytes): execution {}{point}, {} checkpoints, {} attempts, {} blobs",
                    e.file.display(),
                    e.bytes,
                    e.execution,
                    e.checkpoints,
                    e.attempts,
                    e.blobs
                );
            }
        }
        BundleCommand::Import { file, trust_fixtures } => {
            let i = bundles.import(file, *trust_fixtures).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                println!(
                    "imported execution {} ({}, workflow `{}`, {} checkpoints, {} blobs) from execution {}",
                    i.execution,
                    i.status.as_str(),
                    i.workflow,
                    i.checkpoints,
                    i.blobs,
                    i.source
                );
                if let Some(p) = i.point {
                    println!("point: checkpoint {p} (`wtb fork {p}` runs on from it)");
                }
            }
        }
        BundleCommand::Verify { file } => {
            bundles.verify(file).await?;
            if json {
                println!("{}", serde_json::json!({ "file": file, "ok": true }));
            } else {
                println!("{}: a good bundle", file.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
