//! Writes a CSV of synthetic sensor readings, sized and seeded by its config.
//!
//! Deterministic on purpose: the same config always produces the same bytes, so the file lands
//! in the content-addressed store once however often the workflow runs.
use serde::Deserialize;
use std::fmt::Write as _;
use wtb_guest::{Input, Level, NodeError, Update, log};

#[derive(Deserialize)]
struct Config {
    rows: u32,
    seed: u64,
    #[serde(default = "default_path")]
    path: String,
}

fn default_path() -> String {
    "data/readings.csv".into()
}

/// A tiny xorshift generator: reproducible without pulling in a crate.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn run(input: Input<serde_json::Value, Config>) -> Result<Update, NodeError> {
    let cfg = input.config;
    if cfg.rows == 0 {
        return Err(NodeError::invalid_input("config.rows must be at least 1"));
    }
    let sensors = ["north", "south", "east", "west"];
    let mut rng = cfg.seed.max(1);
    let mut csv = String::from("id,sensor,celsius\n");
    for id in 0..cfg.rows {
        let sensor = sensors[(next(&mut rng) % 4) as usize];
        let tenths = (next(&mut rng) % 400) as i64 - 50;
        let _ = writeln!(csv, "{id},{sensor},{:.1}", tenths as f64 / 10.0);
    }
    if let Some(dir) = std::path::Path::new(&cfg.path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cfg.path, &csv)?;
    log(Level::Info, &format!("wrote {} rows to {}", cfg.rows, cfg.path));
    Ok(Update::new().set("readings_file", &cfg.path).set("rows", cfg.rows))
}

wtb_guest::node!(run);
