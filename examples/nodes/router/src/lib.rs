//! A router: compares a numeric state key with a threshold and picks the route label
//! `then` (at or above) or `otherwise` (below). The manifest's labelled edges decide where
//! each label leads, so one router serves branches and loops alike.
use serde::Deserialize;
use serde_json::{Map, Value};
use wtb_guest::{Input, Level, NodeError, Update, log};

#[derive(Deserialize)]
struct Config {
    key: String,
    at_least: f64,
    then: String,
    otherwise: String,
}

fn run(input: Input<Map<String, Value>, Config>) -> Result<Update, NodeError> {
    let c = input.config;
    let value = input
        .state
        .get(&c.key)
        .and_then(Value::as_f64)
        .ok_or_else(|| NodeError::invalid_input(format!("state `{}` must be a number", c.key)))?;
    let label = if value >= c.at_least { c.then } else { c.otherwise };
    log(Level::Info, &format!("{} = {value}: route `{label}`", c.key));
    Ok(Update::new().set("last_route", &label).route(label))
}

wtb_guest::node!(run);
