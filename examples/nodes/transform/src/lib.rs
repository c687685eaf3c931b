//! Reads the readings CSV named in the state and writes per-sensor statistics as JSON.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wtb_guest::{Input, NodeError, Update};

#[derive(Deserialize)]
struct State {
    readings_file: String,
}

#[derive(Deserialize, Default)]
struct Config {
    #[serde(default)]
    alert_above: Option<f64>,
}

#[derive(Serialize, Default)]
struct Stats {
    count: u32,
    min: f64,
    max: f64,
    mean: f64,
}

fn run(input: Input<State, Option<Config>>) -> Result<Update, NodeError> {
    let config = input.config.unwrap_or_default();
    let csv = std::fs::read_to_string(&input.state.readings_file)?;
    let mut sums: BTreeMap<String, (Stats, f64)> = BTreeMap::new();
    for (n, line) in csv.lines().enumerate().skip(1) {
        let mut cols = line.split(',');
        let (Some(_), Some(sensor), Some(value)) = (cols.next(), cols.next(), cols.next()) else {
            return Err(NodeError::invalid_input(format!("line {}: expected 3 columns", n + 1)));
        };
        let value: f64 =
            value.parse().map_err(|e| NodeError::invalid_input(format!("line {}: {e}", n + 1)))?;
        let (stats, sum) = sums.entry(sensor.to_owned()).or_default();
        if stats.count == 0 || value < stats.min {
            stats.min = value;
        }
        if stats.count == 0 || value > stats.max {
            stats.max = value;
        }
        stats.count += 1;
        *sum += value;
    }
    let mut alerts = Vec::new();
    let stats: BTreeMap<String, Stats> = sums
        .into_iter()
        .map(|(sensor, (mut s, sum))| {
            s.mean = (sum / f64::from(s.count) * 100.0).round() / 100.0;
            if config.alert_above.is_some_and(|limit| s.max > limit) {
                alerts.push(sensor.clone());
            }
            (sensor, s)
        })
        .collect();
    std::fs::write("data/stats.json", serde_json::to_vec_pretty(&stats)?)?;
    Ok(Update::new().set("stats_file", "data/stats.json").set("sensors", stats.len()).set("alerts", alerts))
}

wtb_guest::node!(run);
