//! The benchmark node: increments `counter`, appends a line to `log` (unless `log = false`,
//! as parallel branches of the fan-out benchmark do) and writes a file of `size` bytes named
//! after the count and the node — one state change, one list append, one new file.
use serde::Deserialize;
use wtb_guest::{Input, NodeError, Update};

#[derive(Deserialize)]
struct State {
    #[serde(default)]
    counter: u64,
    #[serde(default)]
    log: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default = "default_size")]
    size: usize,
    #[serde(default = "yes")]
    log: bool,
}

fn yes() -> bool {
    true
}

fn default_size() -> usize {
    4096
}

fn run(input: Input<State, Config>) -> Result<Update, NodeError> {
    let counter = input.state.counter + 1;
    let mut log = input.state.log;
    log.push(format!("{} was here", input.node_id));
    let mut body = format!("node {} count {counter}\n", input.node_id).into_bytes();
    body.resize(input.config.size, b'.');
    std::fs::create_dir_all("out")?;
    std::fs::write(format!("out/{counter:05}-{}.txt", input.node_id), body)?;
    let update = Update::new().set("counter", counter);
    Ok(if input.config.log { update.set("log", log) } else { update })
}

wtb_guest::node!(run);
