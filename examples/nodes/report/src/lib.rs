//! Writes a markdown report from the statistics file and announces it with an event.
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use wtb_guest::{Input, NodeError, Update, emit};

#[derive(Deserialize)]
struct State {
    stats_file: String,
    #[serde(default)]
    alerts: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    title: String,
}

#[derive(Deserialize)]
struct Stats {
    count: u32,
    min: f64,
    max: f64,
    mean: f64,
}

fn run(input: Input<State, Config>) -> Result<Update, NodeError> {
    let stats: BTreeMap<String, Stats> = serde_json::from_slice(&std::fs::read(&input.state.stats_file)?)?;
    let mut md = format!(
        "# {}\n\n| sensor | readings | min | max | mean |\n|---|---|---|---|---|\n",
        input.config.title
    );
    for (sensor, s) in &stats {
        let _ = writeln!(md, "| {sensor} | {} | {} | {} | {} |", s.count, s.min, s.max, s.mean);
    }
    if !input.state.alerts.is_empty() {
        let _ = writeln!(md, "\n**Alerts:** {}", input.state.alerts.join(", "));
    }
    std::fs::write("report.md", &md)?;
    emit("report.ready", &serde_json::json!({ "path": "report.md", "alerts": input.state.alerts }))?;
    Ok(Update::new().set("report", "report.md"))
}

wtb_guest::node!(run);
