//! `wtb node`'s flags: what one node runs with on its own.

use clap::Subcommand;
use std::path::PathBuf;

/// `wtb node` subcommands.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Run ONE node outside any workflow, in the same sandbox and with the same limits as in a
    /// workflow, and print its outcome (update or error/trap), stdout/stderr, the files it
    /// created/changed/deleted, the events it emitted, its duration and peak memory. Nothing is
    /// stored. Exit status 0 when it returned a valid update, 1 when it failed.
    Run {
        /// The component (`.wasm`).
        component: PathBuf,
        /// The state it sees: a JSON object, or @file.
        #[arg(long, value_name = "JSON")]
        state: Option<String>,
        /// Its config: a JSON object, or @file.
        #[arg(long, value_name = "JSON")]
        config: Option<String>,
        /// A directory whose COPY is its workspace (the directory itself is not touched);
        /// changes are reported against it. Default: an empty workspace.
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
        /// An env var it sees (repeatable); it sees no others.
        #[arg(long, value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Limits, arguments, fixtures, deterministic mode.
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
}

/// What `wtb node run` gives the node besides state and config; limits default to
/// wtb.toml's `[limits]`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SandboxArgs {
    /// An argument after the program name (repeatable); it sees no others.
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Mount a host directory read-only at an absolute guest path (repeatable).
    #[arg(long, value_name = "GUEST_PATH=DIR")]
    pub fixture: Vec<String>,
    /// Deterministic mode with this seed: fixed clocks, seeded random.
    #[arg(long)]
    pub seed: Option<u64>,
    /// `deny`: link wasi:sockets with every use refused (for toolchains such as componentize-py
    /// that import sockets); default `none`: not linked, a component importing them is refused.
    #[arg(long, value_enum, default_value = "none")]
    pub network: NetworkArg,
    /// Memory limit, MiB.
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Wall-time limit, ms.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Fuel budget (instructions, roughly); unlimited by default.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// MiB the node may grow its workspace by.
    #[arg(long)]
    pub disk_mib: Option<u64>,
    /// New files, directories and links it may create.
    #[arg(long)]
    pub max_files: Option<u64>,
    /// Bytes of stdout (and of stderr) it may write.
    #[arg(long)]
    pub output_bytes: Option<u64>,
}

/// `--network`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkArg {
    /// Sockets not linked.
    #[default]
    None,
    /// Sockets linked, every use refused.
    Deny,
}
