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
