//! `wtb tenant` and `wtb token` flags.

use clap::Subcommand;

/// `wtb tenant` subcommands.
#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant (name: 1-64 of a-z 0-9 _ -), optionally with quotas.
    Create {
        /// Its name.
        name: String,
        /// Its quotas (unset: unlimited).
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// Every tenant with its quotas and what it uses now.
    List,
    /// Replace a tenant's quotas (a quota left out becomes unlimited).
    Quota {
        /// The tenant.
        name: String,
        /// The new quotas.
        #[command(flatten)]
        quotas: QuotaArgs,
    },
}

/// A tenant's quotas on the command line.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct QuotaArgs {
    /// Executions running at once.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_concurrent: Option<u64>,
    /// Bytes stored: file contents, components, states, events and captured output.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_stored_bytes: Option<u64>,
    /// Node attempts per hour.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_nodes_per_hour: Option<u64>,
    /// Node attempts running at once in one process (the rest of the slots stay for others).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_running_attempts: Option<u64>,
}

/// `wtb token` subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for the tenant; its secret is printed once and stored only as a hash.
    Create {
        /// A label, e.g. who or what uses it.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// The tenant's tokens (ids, labels, dates; never secrets).
    List,
    /// Revoke a token: it authenticates nobody from now on.
    Revoke {
        /// The token's id (from `wtb token list`).
        id: String,
    },
}
