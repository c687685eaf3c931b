//! The smallest useful node: greets someone in a file and in the state.
use serde::Deserialize;
use wtb_guest::{Input, NodeError, Update};

#[derive(Deserialize)]
struct Config {
    name: String,
}

fn run(input: Input<serde_json::Value, Config>) -> Result<Update, NodeError> {
    std::fs::write("greeting.txt", format!("hello, {}\n", input.config.name))?;
    Ok(Update::new().set("greeted", &input.config.name))
}

wtb_guest::node!(run);
