//! `wtb bundle` flags.

use clap::Subcommand;
use std::path::PathBuf;

/// `wtb bundle` subcommands.
#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Write an execution's recorded history — workflow definition, components, checkpoints
    /// with their states, file trees, attempts, events — and every blob it names to one file.
    /// Given a checkpoint, the history up to it (as a rollback to it would leave it: the
    /// execution paused there) and that checkpoint as the point a test (`from = "FILE"`) or a
    /// fork starts from.
    Export {
        /// An execution id, or a checkpoint id.
        id: String,
        /// The bundle file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Load a bundle into this data dir and tenant, under new ids, in one transaction; every
    /// digest is verified first, and a bad bundle (truncated, tampered, a newer format) imports
    /// nothing. Prints the new execution (and the bundle's point) to inspect, replay or fork.
    Import {
        /// The bundle file.
        file: PathBuf,
        /// Allow a workflow that mounts host directories as fixtures (refused by default: a
        /// bundle from elsewhere must not read this host's files).
        #[arg(long)]
        trust_fixtures: bool,
    },
    /// Check a bundle as an import would, storing nothing. Exit 2 when it would be refused.
    Verify {
        /// The bundle file.
        file: PathBuf,
    },
}
