//! The benchmark node: increments `counter`, appends a line to `log` and writes a file of
//! `size` bytes named after the count — one state change, one list append, one new file.
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
    std::fs::write(format!("out/{counter:05}.txt"), body)?;
    Ok(Update::new().set("counter", counter).set("log", log))
}

wtb_guest::node!(run);
