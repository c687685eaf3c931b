//! `wtb tenant` and `wtb token`.

use super::args::{TenantCommand, TokenCommand};
use super::args_tenancy::QuotaArgs;
use super::format::bytes;
use serde_json::json;
use std::process::ExitCode;
use wtb_core::model::{Quotas, TokenId};
use wtb_engine::executor::Executor;

fn quotas(q: &QuotaArgs) -> Quotas {
    Quotas {
        max_concurrent: q.max_concurrent,
        max_stored_bytes: q.max_stored_bytes,
        max_nodes_per_hour: q.max_nodes_per_hour,
        max_running_attempts: q.max_running_attempts,
    }
}

fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".into(), |v| v.to_string())
}

/// Runs a `wtb tenant` command.
pub async fn tenant(exec: &Executor, what: &TenantCommand, json: bool) -> anyhow::Result<ExitCode> {
    match what {
        TenantCommand::Create { name, quotas: q } => {
            let t = exec.tenancy().create_tenant(name, quotas(q)).await?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&t)?),
                false => println!("created tenant `{}` ({})", t.name, t.id),
            }
        }
        TenantCommand::Quota { name, quotas: q } => {
            let t = exec.tenancy().set_quotas(name, quotas(q)).await?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&t)?),
                false => println!(
                    "tenant `{}`: max_concurrent {}, max_stored_bytes {}, max_nodes_per_hour {}, max_running_attempts {}",
                    t.name,
                    limit(t.quotas.max_concurrent),
                    limit(t.quotas.max_stored_bytes),
                    limit(t.quotas.max_nodes_per_hour),
                    limit(t.quotas.max_running_attempts)
                ),
            }
        }
        TenantCommand::List => {
            let all = exec.tenancy().tenants().await?;
            if json {
                let rows: Vec<_> = all.iter().map(|(t, u)| json!({ "tenant": t, "usage": u })).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{:<20} {:>14} {:>22} {:>22}", "tenant", "running", "stored", "nodes (last hour)");
            for (t, u) in &all {
                let q = &t.quotas;
                println!(
                    "{:<20} {:>14} {:>22} {:>22}",
                    t.name,
                    format!("{}/{}", u.running, limit(q.max_concurrent)),
                    format!(
                        "{}/{}",
                        bytes(u.stored_bytes),
                        q.max_stored_bytes.map_or_else(|| "unlimited".into(), bytes)
                    ),
                    format!("{}/{}", u.nodes_since, limit(q.max_nodes_per_hour)),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `wtb token` command for the executor's tenant.
pub async fn token(exec: &Executor, what: &TokenCommand, json: bool) -> anyhow::Result<ExitCode> {
    match what {
        TokenCommand::Create { name } => {
            let t = exec.tenancy().create_token(name).await?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&t)?),
                false => {
                    println!("{}", t.secret);
                    eprintln!(
                        "token {} (`{}`) created; the secret above is shown only now: store it safely",
                        t.token.id, t.token.name
                    );
                }
            }
        }
        TokenCommand::List => {
            let all = exec.tenancy().tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(ExitCode::SUCCESS);
            }
            for t in &all {
                let state = t.revoked_at.map_or_else(|| "live".to_owned(), |at| format!("revoked {at}"));
                println!("{}  {:<24} created {}  {state}", t.id, t.name, t.created_at);
            }
        }
        TokenCommand::Revoke { id } => {
            let id: TokenId = id.parse()?;
            exec.tenancy().revoke_token(id).await?;
            match json {
                true => println!("{}", json!({ "revoked": id })),
                false => println!("revoked token {id}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
