//! The command line's shape: every command, flag and help text (clap derive).

pub use super::args_experiment::ExperimentCommand;
pub use super::args_node::{NodeCommand, SandboxArgs};
pub use super::args_tenancy::{TenantCommand, TokenCommand};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// WTB, the Workflow Test Bench: run workflow nodes as sandboxed WebAssembly components, with
/// an entry and an exit checkpoint of state *and* files around every node.
#[derive(Parser, Debug)]
#[command(name = "wtb", version, about, long_about = None)]
pub struct Cli {
    /// Where the database, blob store, workspaces and compile cache live.
    #[arg(long, global = true, env = "WTB_DATA_DIR", default_value = ".wtb")]
    pub data_dir: PathBuf,
    /// A PostgreSQL database shared by several processes (`postgres://user:pass@host/db`),
    /// instead of the data dir's SQLite file; overrides `[database] url` in `wtb.toml`.
    #[arg(long, global = true, env = "WTB_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Act for this tenant (default: `default`); everything else stays invisible.
    #[arg(long, global = true, env = "WTB_TENANT", conflicts_with = "token")]
    pub tenant: Option<String>,
    /// Act for the tenant this API token belongs to (as the HTTP API does).
    #[arg(long, global = true, env = "WTB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a workflow manifest from its entry node until every branch ends (or it pauses).
    Run {
        /// The workflow manifest (TOML).
        workflow: PathBuf,
        /// Initial state merged over the manifest's `[state]`: a JSON object, or @file.
        #[arg(long)]
        state: Option<String>,
        /// Pause before this node runs (repeatable); continue with `wtb resume`.
        #[arg(long, value_name = "NODE")]
        break_before: Vec<String>,
        /// Pause after this node commits (repeatable).
        #[arg(long, value_name = "NODE")]
        break_after: Vec<String>,
        /// Most nodes of this execution running at once (parallel branches).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
        /// Stay a long-running process for the run: deliver the outbox to the configured sinks
        /// (and clean orphans) while it runs, then deliver its remaining events before exiting.
        #[arg(long)]
        follow: bool,
        /// Deterministic mode: fixed clocks and seeded random, so a rerun with the same seed
        /// produces the same states, files and events (the seed is shown by `wtb show`).
        #[arg(long)]
        deterministic: bool,
        /// The deterministic-mode seed (implies --deterministic; default: the workflow's
        /// `seed`, else a fresh one).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Continue a paused execution, or one whose process died (its open nodes re-run from
    /// their entry checkpoints).
    Resume {
        /// The execution id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        execution: Option<String>,
        /// Resume every running execution no live process holds (crash recovery).
        #[arg(long)]
        all: bool,
        /// Most nodes of one execution running at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
    },
    /// Ask the process running an execution to pause it at the next node boundary.
    Pause {
        /// The execution id.
        execution: String,
        /// Wait until it has paused (or ended).
        #[arg(long)]
        wait: bool,
    },
    /// Cancel an execution: running guests are interrupted and recorded as cancelled.
    Cancel {
        /// The execution id.
        execution: String,
        /// Wait until it has stopped.
        #[arg(long)]
        wait: bool,
    },
    /// Show an execution: nodes, checkpoints, files per checkpoint, events.
    Show {
        /// The execution id (as printed by `wtb run`).
        execution: String,
    },
    /// List executions, newest first, filtered, one page at a time (`--after` the last id
    /// shown, or the `next` of `--json`, for the next page).
    List {
        /// Executions per page (at most 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Only this status (pending, running, paused, completed, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of the workflow with this name or definition digest.
        #[arg(long)]
        workflow: Option<String>,
        /// Only executions created at or after this instant (RFC 3339, or a date).
        #[arg(long, value_name = "TIME")]
        created_after: Option<String>,
        /// Only executions created before this instant (RFC 3339, or a date).
        #[arg(long, value_name = "TIME")]
        created_before: Option<String>,
        /// Only forks of this execution.
        #[arg(long, value_name = "EXECUTION")]
        parent: Option<String>,
        /// Only forks made from this checkpoint.
        #[arg(long, value_name = "CHECKPOINT")]
        fork_of: Option<String>,
        /// Only this experiment variant.
        #[arg(long)]
        variant: Option<String>,
        /// The page after this execution id (the cursor).
        #[arg(long, value_name = "EXECUTION")]
        after: Option<String>,
    },
    /// The timeline of an execution: every checkpoint (seq, node, kind, attempt, status, time,
    /// state size, files changed), superseded ones after rollbacks included.
    History {
        /// The execution id.
        execution: String,
    },
    /// Move a paused or finished execution back to one of its checkpoints: later checkpoints
    /// become superseded, the workspace gets that checkpoint's files, the execution pauses
    /// there; `wtb resume` continues from it.
    Rollback {
        /// The execution id.
        execution: String,
        /// The checkpoint to go back to (see `wtb history`).
        #[arg(long, value_name = "CHECKPOINT")]
        to: String,
    },
    /// Create a new (paused) execution that starts where a checkpoint stood; run it with
    /// `wtb resume`. Files are shared with the original, which is left untouched.
    Fork {
        /// The checkpoint to fork from.
        checkpoint: String,
        /// JSON merge patch (RFC 7396; null removes a key) for the state it starts with, or @file.
        #[arg(long, value_name = "JSON")]
        state_patch: Option<String>,
        /// Another config for a node (repeatable).
        #[arg(long, value_name = "NODE=JSON")]
        node_config: Vec<String>,
        /// Another component for a node (repeatable).
        #[arg(long, value_name = "NODE=PATH")]
        component: Vec<String>,
    },
    /// Compare two checkpoints (also of different executions): state as a JSON patch, files
    /// added / removed / modified, with unified diffs for text files up to 1 MiB.
    Diff {
        /// The first checkpoint.
        from: String,
        /// The second checkpoint.
        to: String,
    },
    /// List the files at a checkpoint.
    Files {
        /// The checkpoint id.
        checkpoint: String,
    },
    /// Print one file as it was at a checkpoint.
    Cat {
        /// The checkpoint id.
        checkpoint: String,
        /// The file's path in the workspace.
        path: String,
    },
    /// Write the workspace as it was at a checkpoint into a directory.
    Export {
        /// The checkpoint id.
        checkpoint: String,
        /// The directory (created if missing; must be empty unless --force).
        dir: PathBuf,
        /// Make a non-empty directory hold exactly the checkpoint's files (others removed).
        #[arg(long)]
        force: bool,
    },
    /// Run every recorded node boundary of an execution again — on its recorded component or
    /// a new one — from the recorded entry state and files, in the execution's environment, and
    /// compare with the recorded exit: state, files, route, guest events. Exit status 1 when
    /// any boundary differs or fails; a difference from the recorded component in
    /// deterministic mode is reported as nondeterminism. `--workflow` replays a workflow's
    /// recorded executions instead (newest first); a bundle file is imported, then replayed.
    Replay(super::args_test::ReplayArgs),
    /// Run workflow test files: each case a tagged execution checked against its expectations
    /// (status, state, files, events, path, budgets). Exit 1 when a case fails, 2 on a bad file.
    Test(super::args_test::TestArgs),
    /// Run bundles: an execution's recorded history in one file, to import elsewhere.
    #[command(subcommand)]
    Bundle(super::args_bundle::BundleCommand),
    /// Check that the database and the blob store agree: every referenced blob present with
    /// its digest and size, every file commit's tree complete, every exit checkpoint with its
    /// entry. Exit status 1 when anything is wrong.
    Fsck,
    /// Storage hygiene. Without a subcommand: retention GC — delete the executions the
    /// `[retention]` rules of wtb.toml let go (never running/paused ones, forks' parents or
    /// executions with undelivered events), then sweep file commits and blobs nothing kept
    /// references.
    #[command(args_conflicts_with_subcommands = true)]
    Gc {
        /// Only report what would be deleted and the bytes it would reclaim.
        #[arg(long)]
        dry_run: bool,
        /// Something narrower to clean.
        #[command(subcommand)]
        what: Option<GcCommand>,
    },
    /// Create a node project — Rust (a Cargo project using the WTB guest SDK; builds with plain
    /// `cargo build --release --target wasm32-wasip2`), Python (componentize-py) or JavaScript
    /// (componentize-js) — with a passing native unit test, a README of three commands (build,
    /// run alone, run in a workflow) and a one-node workflow.
    New {
        /// The node's (and crate's) name: a lowercase letter, then lowercase letters, digits,
        /// `-` or `_`.
        name: String,
        /// Where to create it (default: ./<name>); must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The language: `rust` (the wtb-guest SDK), `python` (componentize-py) or `js`
        /// (componentize-js).
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        /// For Rust: the guest-sdk directory of a WTB checkout (default: the one this wtb was
        /// built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Plugin authors' tools: try a node on its own.
    Node {
        /// What to do.
        #[command(subcommand)]
        what: NodeCommand,
    },
    /// Serve the HTTP API (bearer tokens of `wtb token create`; `/openapi.json` describes it,
    /// `/admin` and `/metrics` take the `[serve]` admin token) and the web page at `/`; resume
    /// every tenant's interrupted executions and API experiments, and run the outbox relay and
    /// cleaners, until Ctrl-C / SIGTERM.
    Serve {
        /// Address to listen on (port 0: any free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Claim and run executions from the database every process shares (`[database] url`):
    /// any number of workers, on any machines (blobs in `[blobs] url` then). Executions come
    /// from processes with `[workers] hand_off = true`, and from processes that died (after
    /// their lease, `[workers] lease_seconds`). Also runs the outbox relay and cleaners. On
    /// Ctrl-C / SIGTERM it finishes the attempts it runs and gives its executions back.
    Worker {
        /// Most executions run at once.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
        concurrency: u16,
        /// Most attempts of one execution running at once (parallel branches).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
        /// Leave the outbox relay and cleaners to other processes.
        #[arg(long)]
        no_maintenance: bool,
    },
    /// Experiments: a workflow over variants × environments × repetitions, compared against a
    /// baseline, with nondeterminism detection.
    Experiment {
        /// What to do.
        #[command(subcommand)]
        what: ExperimentCommand,
    },
    /// Tenants: create them, list them with their usage, set their quotas.
    Tenant {
        /// What to do.
        #[command(subcommand)]
        what: TenantCommand,
    },
    /// API tokens of the selected tenant (`--tenant`): create (the secret is shown once), list,
    /// revoke.
    Token {
        /// What to do.
        #[command(subcommand)]
        what: TokenCommand,
    },
    /// The outbox: deliver events to the sinks of wtb.toml (`[[outbox.sinks]]`: a JSONL file
    /// by default, webhooks), inspect deliveries, revive dead ones.
    Outbox {
        /// What to do.
        #[command(subcommand)]
        what: OutboxCommand,
    },
    /// Run the example workflow (generate → transform → report) and summarise it.
    Demo,
    /// Measure per-node overhead (a linear workflow of counter nodes, durable and normal),
    /// what the sandbox's safeguards add to it (epoch interruption, fuel), a 100-cell
    /// experiment forking from a checkpoint, a 16-way fan-out into a join, many short executions at once, time travel (a list
    /// page among 10,000 executions; rollback, fork and capture of a 10,000-file workspace,
    /// `--travel-files`) and
    /// outbox delivery (events/s to the JSONL sink and to a local webhook).
    ///
    /// Scratch data goes in fresh dirs under the data dir and is removed at the end. On ext4
    /// without a journal, creating files within a minute or so of deleting thousands is slow
    /// (the kernel skips recently freed inodes one by one): wait ~70 s between invocations
    /// there, or see README § Performance.
    Bench(super::bench_shape::BenchArgs),
}

/// `wtb gc` subcommands.
#[derive(Subcommand, Debug)]
pub enum GcCommand {
    /// Delete CAS objects no `blobs` row references, and temp files of crashed writes, once
    /// older than the grace period (`orphan_grace_seconds` in wtb.toml, default 3600).
    Orphans {
        /// Override the grace period, in seconds.
        #[arg(long)]
        grace_seconds: Option<u64>,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `wtb outbox` subcommands.
#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Deliver pending events to every configured sink, in order per execution, until
    /// interrupted (also cleaning orphans and running retention GC on their schedules).
    Relay {
        /// Deliver what is due now, then exit.
        #[arg(long)]
        once: bool,
    },
    /// List deliveries (one per event and sink), oldest first.
    List {
        /// Only this status: pending, delivered or dead.
        #[arg(long)]
        status: Option<String>,
        /// Only this sink.
        #[arg(long)]
        sink: Option<String>,
        /// Only this execution's events.
        #[arg(long)]
        execution: Option<String>,
        /// The page after this position (the `next` of the previous page).
        #[arg(long, value_name = "POS")]
        after: Option<i64>,
        /// Rows per page (at most 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Make dead deliveries pending again, with a fresh set of attempts.
    Retry {
        /// The event whose dead deliveries to revive.
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        event: Option<String>,
        /// Revive every dead delivery.
        #[arg(long)]
        all_dead: bool,
    },
    /// Per sink: depth (events not yet delivered), pending, dead, delivered, oldest pending age.
    Stats,
}

/// Languages `wtb new` has a template for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Cargo project using the `wtb-guest` SDK.
    Rust,
    /// A Python project built with componentize-py.
    Python,
    /// A JavaScript project built with componentize-js.
    Js,
}
