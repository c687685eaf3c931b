//! `wtb test`'s flags.

use std::path::PathBuf;

/// What `wtb test` runs, and how it reports.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Test files (`*.test.toml`), or directories holding them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML to this file (what CI systems read).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write (or refresh) each case's golden snapshot (`expect.golden`) from this run, for
    /// review; the other expectations are still checked.
    #[arg(long)]
    pub update: bool,
    /// Cases run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
}

/// What `wtb replay` replays, and on what.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The execution id, or a bundle file (imported into this data dir, then replayed).
    #[arg(required_unless_present = "workflow", conflicts_with = "workflow")]
    pub execution: Option<String>,
    /// Replay the recorded executions of the workflow with this name (or definition digest).
    #[arg(long)]
    pub workflow: Option<String>,
    /// With --workflow: only executions created at or after this instant (RFC 3339, or a date).
    #[arg(long, value_name = "TIME", requires = "workflow")]
    pub since: Option<String>,
    /// With --workflow: at most this many executions, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Run this node on another component (repeatable).
    #[arg(long, value_name = "NODE=PATH")]
    pub component: Vec<String>,
    /// Replay only this node's boundaries (repeatable; default: every node).
    #[arg(long, value_name = "NODE")]
    pub node: Vec<String>,
}
