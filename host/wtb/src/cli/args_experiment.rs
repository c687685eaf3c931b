//! `wtb experiment` flags.

use clap::Subcommand;
use std::path::PathBuf;

/// `wtb experiment` subcommands.
#[derive(Subcommand, Debug)]
pub enum ExperimentCommand {
    /// Run an experiment file: every variant × environment × repetition as its own isolated
    /// execution, with a progress bar; Ctrl-C stops starting new cells (resume with `resume`).
    Run {
        /// The experiment file (TOML).
        file: PathBuf,
        /// Cells running at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
    },
    /// Run the cells of an experiment that have not finished (its files are read again).
    Resume {
        /// The experiment id.
        id: String,
        /// Cells running at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
    },
    /// The experiments of the tenant, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One experiment: its cells, matrix and findings (the table report).
    Show {
        /// The experiment id.
        id: String,
    },
    /// The comparison report: per cell status, duration, memory, fuel, outcome and difference
    /// from the baseline; the matrix; nondeterminism. Exit 1 when the experiment did not pass.
    Report {
        /// The experiment id.
        id: String,
        /// table, json, markdown or html (one self-contained file).
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        /// Write it here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `wtb experiment report --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Text for a terminal.
    Table,
    /// Machine-readable.
    Json,
    /// For a pull request or a wiki.
    Markdown,
    /// One self-contained page.
    Html,
}
