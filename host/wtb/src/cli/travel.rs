//! `wtb history`, `rollback`, `fork`, `diff`, `files`, `cat`, `export`, and `list`'s filters.

use super::format::bytes;
use super::run::json_object;
use anyhow::{Context as _, bail};
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wtb_core::history::TextChange;
use wtb_core::model::{CheckpointId, EntryKind, ExecutionId, ExecutionStatus, Timestamp};
use wtb_engine::executor::{Executor, ForkOptions};
use wtb_store::db::ListFilter;

/// `wtb list`'s filter flags as given.
pub struct ListArgs<'a> {
    /// `--status`.
    pub status: &'a Option<String>,
    /// `--workflow`.
    pub workflow: &'a Option<String>,
    /// `--created-after`.
    pub created_after: &'a Option<String>,
    /// `--created-before`.
    pub created_before: &'a Option<String>,
    /// `--parent`.
    pub parent: &'a Option<String>,
    /// `--fork-of`.
    pub fork_of: &'a Option<String>,
    /// `--variant`.
    pub variant: &'a Option<String>,
}

impl ListArgs<'_> {
    /// The validated filter; each bad flag is named.
    pub fn filter(&self) -> anyhow::Result<ListFilter> {
        Ok(ListFilter {
            status: self
                .status
                .as_deref()
                .map(|s| s.parse::<ExecutionStatus>().with_context(|| format!("--status `{s}`")))
                .transpose()?,
            workflow: self.workflow.clone(),
            created_after: self
                .created_after
                .as_deref()
                .map(|t| instant("--created-after", t))
                .transpose()?,
            created_before: self
                .created_before
                .as_deref()
                .map(|t| instant("--created-before", t))
                .transpose()?,
            parent: self
                .parent
                .as_deref()
                .map(|p| p.parse::<ExecutionId>().context("--parent"))
                .transpose()?,
            fork_of: self
                .fork_of
                .as_deref()
                .map(|c| c.parse::<CheckpointId>().context("--fork-of"))
                .transpose()?,
            variant: self.variant.clone(),
        })
    }
}

/// An RFC 3339 instant (`2026-11-23T10:00:00Z`, offsets allowed) or a UTC date.
pub fn instant(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_instant(text).with_context(|| {
        format!("{flag} `{text}`: expected an RFC 3339 time like 2026-11-23T10:00:00Z, or a date")
    })
}

/// Prints an execution's timeline.
pub async fn history(exec: &Executor, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let h = exec.inspect().history(id.parse()?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&h)?);
        return Ok(ExitCode::SUCCESS);
    }
    let e = &h.execution;
    println!("execution {}  {}", e.id, e.status);
    if let (Some(cp), Some(parent)) = (e.parent_checkpoint, e.parent_execution) {
        println!("forked from checkpoint {cp} of execution {parent}");
    }
    println!(
        "{:>4}  {:<36}  {:<14} {:<5} {:>3}  {:<14} {:<27} {:>9} {:>5}",
        "seq", "checkpoint", "node", "kind", "try", "status", "time", "state", "files"
    );
    for c in &h.checkpoints {
        let cp = &c.checkpoint;
        let superseded = c.superseded_at.map(|t| format!("  superseded {t}")).unwrap_or_default();
        println!(
            "{:>4}  {}  {:<14} {:<5} {:>3}  {:<14} {:<27} {:>9} {:>5}{superseded}",
            cp.seq,
            cp.id,
            cp.node,
            cp.kind.as_str(),
            cp.attempt,
            c.status,
            cp.created_at.to_string(),
            bytes(c.state_bytes as u64),
            c.files_changed
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Rolls an execution back and says what a resume will do.
pub async fn rollback(exec: &Executor, id: &str, to: &str, json: bool) -> anyhow::Result<ExitCode> {
    let r = exec.travel().rollback(id.parse()?, to.parse().context("--to")?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cp = &r.checkpoint;
    println!(
        "execution {} rolled back to checkpoint {} ({} {} of `{}`, seq {}); paused",
        r.execution,
        cp.id,
        cp.kind.as_str(),
        cp.attempt,
        cp.node,
        cp.seq
    );
    println!("{} later checkpoints superseded; a resume starts from the checkpoint's files", r.superseded);
    if r.open.is_empty() {
        println!("nothing left to run: `wtb resume {}` completes it", r.execution);
    } else {
        println!("`wtb resume {}` runs {} next", r.execution, r.open.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--state-patch`, `--node-config NODE=JSON` and `--component NODE=PATH` as fork options.
pub fn fork_options(
    state_patch: Option<&str>,
    node_config: &[String],
    component: &[String],
) -> anyhow::Result<ForkOptions> {
    let pair = node_pair;
    let mut opts = ForkOptions {
        state_patch: state_patch.map(|p| json_object("--state-patch", p).map(Value::Object)).transpose()?,
        ..ForkOptions::default()
    };
    for arg in node_config {
        let (node, json) = pair("--node-config", arg)?;
        let config =
            serde_json::from_str(&json).with_context(|| format!("--node-config {node}: invalid JSON"))?;
        opts.node_config.push((node, config));
    }
    for arg in component {
        let (node, path) = pair("--component", arg)?;
        opts.components.push((node, PathBuf::from(path)));
    }
    Ok(opts)
}

/// A `NODE=VALUE` option's two halves.
pub fn node_pair(flag: &str, arg: &str) -> anyhow::Result<(String, String)> {
    match arg.split_once('=') {
        Some((node, value)) if !node.is_empty() => Ok((node.to_owned(), value.to_owned())),
        _ => bail!("{flag} `{arg}`: expected NODE=VALUE"),
    }
}

/// Forks from a checkpoint and says how to run the fork.
pub async fn fork(
    exec: &Executor,
    checkpoint: &str,
    opts: &ForkOptions,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let f = exec.travel().fork(checkpoint.parse()?, opts).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&f)?);
    } else {
        println!(
            "forked execution {} from checkpoint {} of {}; paused before {}",
            f.execution,
            f.from,
            f.parent,
            f.open.join(", ")
        );
        println!("run it: wtb resume {}", f.execution);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints how two checkpoints differ.
pub async fn diff(exec: &Executor, from: &str, to: &str, json: bool) -> anyhow::Result<ExitCode> {
    let d = exec.inspect().diff(from.parse()?, to.parse()?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("state ({} changes):", d.state.lines.len());
    for line in &d.state.lines {
        println!("  {line}");
    }
    println!("files ({} changed):", d.files.len());
    for f in &d.files {
        let size = |s: &Option<wtb_core::history::FileSide>| {
            s.as_ref().map_or_else(|| "-".to_owned(), |s| bytes(s.size))
        };
        println!("  {:<8} {}  ({} → {})", f.change.as_str(), f.path, size(&f.before), size(&f.after));
        match &f.content {
            Some(TextChange::Text { unified }) => {
                for line in unified.lines() {
                    println!("    {line}");
                }
            }
            Some(TextChange::Binary { before, after }) => println!("    binary, {before} → {after} bytes"),
            None => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists the files at a checkpoint.
pub async fn files(exec: &Executor, checkpoint: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (_, tree) = exec.inspect().files(checkpoint.parse()?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&tree)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (path, e) in &tree {
        let what = match e.kind {
            EntryKind::File => bytes(e.size),
            EntryKind::Dir => "dir".to_owned(),
            EntryKind::Symlink => "symlink".to_owned(),
        };
        let digest = e.digest.map(|d| d.to_hex()[..12].to_owned()).unwrap_or_default();
        println!("{what:>10}  {digest:<12}  {path}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one file's content at a checkpoint to stdout.
pub async fn cat(exec: &Executor, checkpoint: &str, path: &str) -> anyhow::Result<ExitCode> {
    let bytes = exec.inspect().cat(checkpoint.parse()?, path).await?;
    std::io::stdout().lock().write_all(&bytes).context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Materialises a checkpoint's workspace into a directory.
pub async fn export(
    exec: &Executor,
    checkpoint: &str,
    dir: &Path,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let files = exec.inspect().export(checkpoint.parse()?, dir, force).await?;
    if json {
        println!("{}", serde_json::json!({ "dir": dir, "files": files }));
    } else {
        println!("exported {files} files into {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
