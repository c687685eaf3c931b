//! `wtb node run`: one node on its own, for plugin authors.

use super::args::SandboxArgs;
use super::args_node::NetworkArg;
use super::format::{bytes, micros};
use super::run::json_object;
use anyhow::bail;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use wtb_core::model::ChangeKind;
use wtb_core::workflow::{Fixture, Network, NodeLimits};
use wtb_engine::executor::{Executor, SoloOptions, SoloReport};

/// Checks and gathers the flags.
pub fn options(
    component: &Path,
    state: Option<&str>,
    config: Option<&str>,
    workspace: Option<&Path>,
    env: &[String],
    sandbox: &SandboxArgs,
) -> anyhow::Result<SoloOptions> {
    let mut vars = BTreeMap::new();
    for kv in env {
        let Some((k, v)) = kv.split_once('=') else { bail!("--env `{kv}`: expected KEY=VALUE") };
        if k.is_empty() {
            bail!("--env `{kv}`: the name is empty");
        }
        vars.insert(k.to_owned(), v.to_owned());
    }
    let mut fixtures = Vec::new();
    for m in &sandbox.fixture {
        let Some((guest, host)) = m.split_once('=') else {
            bail!("--fixture `{m}`: expected GUEST_PATH=DIR")
        };
        fixtures.push(Fixture { guest: guest.to_owned(), host: host.to_owned() });
    }
    let s = sandbox;
    let limits = NodeLimits {
        memory_mib: s.memory_mib,
        timeout_ms: s.timeout_ms,
        fuel: s.fuel,
        disk_mib: s.disk_mib,
        max_files: s.max_files,
        output_bytes: s.output_bytes,
        update_bytes: None,
        event_bytes: None,
        log_bytes: None,
    };
    if let Err(p) = limits.validate() {
        bail!("--{}: {p}", p.limit.replace('_', "-"));
    }
    Ok(SoloOptions {
        component: component.to_owned(),
        state: state.map(|s| json_object("--state", s)).transpose()?.unwrap_or_default(),
        config: config.map(|s| json_object("--config", s)).transpose()?.unwrap_or_default(),
        workspace: workspace.map(Path::to_owned),
        env: vars,
        args: sandbox.args.clone(),
        fixtures,
        limits,
        seed: sandbox.seed,
        network: match sandbox.network {
            NetworkArg::None => Network::None,
            NetworkArg::Deny => Network::Deny,
        },
    })
}

/// Runs it and prints the report; exit 1 (and the reason on stderr) when the node failed.
pub async fn run(exec: &Executor, opts: &SoloOptions, json: bool) -> anyhow::Result<ExitCode> {
    let r = exec.run_node(opts).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print(&r, opts);
    }
    if r.succeeded() {
        return Ok(ExitCode::SUCCESS);
    }
    let trap = r.trap.map(|t| format!(" ({t})")).unwrap_or_default();
    eprintln!(
        "error: {}{trap}: {}",
        r.outcome.replace('_', " "),
        r.error.as_deref().unwrap_or("").lines().next().unwrap_or("")
    );
    Ok(ExitCode::from(1))
}

fn print(r: &SoloReport, opts: &SoloOptions) {
    println!(
        "{} ({}): {} in {}, peak memory {}",
        opts.component.display(),
        r.component,
        r.outcome.replace('_', " "),
        micros(r.duration_us),
        bytes(r.peak_memory_bytes)
    );
    if let Some(u) = &r.update {
        println!("update: {}", serde_json::Value::Object(u.clone()));
    }
    if let Some(route) = &r.route {
        println!("route: {route}");
    }
    if let Some(e) = &r.error {
        println!("error: {e}");
    }
    for e in &r.events {
        println!("event: {} {}", e["kind"].as_str().unwrap_or(""), e["payload"]);
    }
    let base = opts
        .workspace
        .as_ref()
        .map_or_else(|| "an empty workspace".to_owned(), |d| format!("a copy of {}", d.display()));
    println!("files (against {base}):{}", if r.files.is_empty() { " no changes" } else { "" });
    for f in &r.files {
        let what = match f.change {
            ChangeKind::Deleted => String::new(),
            _ => format!("{:>10}  {}", bytes(f.size), f.digest.map(|d| d.to_hex()).unwrap_or_default()),
        };
        println!("  {:<8} {:<40} {what}", f.change.as_str(), f.path);
    }
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if !text.is_empty() {
            println!("{name}:");
            for line in text.lines() {
                println!("  {line}");
            }
        }
    }
}
