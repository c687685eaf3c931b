//! The stub node of `wtb test`: a case's `[case.stub.NODE]` replaces a node's component with
//! this one and its config with what the stub returns — a fixed update, route label, files
//! (written into the workspace, directories made as needed) and events. Routing and joins
//! can then be tested without the real component, and the run is still an ordinary,
//! recorded execution.
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use wtb_guest::{Input, NodeError, Update, emit};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    update: Map<String, Value>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    kind: String,
    #[serde(default)]
    payload: Value,
}

fn run(input: Input<Value, Config>) -> Result<Update, NodeError> {
    let c = input.config;
    for (path, text) in &c.files {
        if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    for e in &c.events {
        emit(&e.kind, &e.payload)?;
    }
    let update = Update::from_serialize(&c.update)?;
    Ok(match c.route {
        Some(label) => update.route(label),
        None => update,
    })
}

wtb_guest::node!(run);
