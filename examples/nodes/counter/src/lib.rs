//! The benchmark node: increments `counter`, appends a line to `log` (unless `log = false`,
//! as parallel branches of the fan-out benchmark do) and writes a file of `size` bytes named
//! after the count and the node — one state change, one list append, one new file.
//!
//! With `append = true` it returns only its own line, for a workflow whose `log` key has the
//! `append` reducer: the host appends it, and the node never decodes the list (the way a
//! growing list is meant to be kept; without it each node reads and returns the whole list).
//!
//! With `bulk = { files, size, vary_every }` it also (re)writes `files` files of `size`
//! pseudo-random bytes under `bulk/`; every `vary_every`-th one depends on the count, so a
//! second run changes that share of them (the rollback benchmark's 1 %).
use serde::Deserialize;
use serde_json::value::RawValue;
use wtb_guest::{Input, NodeError, Update};

#[derive(Deserialize)]
struct State {
    #[serde(default)]
    counter: u64,
    /// Kept as text: decoded only when the node returns the whole list.
    #[serde(default)]
    log: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default = "default_size")]
    size: usize,
    #[serde(default = "yes")]
    log: bool,
    #[serde(default)]
    append: bool,
    #[serde(default)]
    bulk: Option<Bulk>,
}

#[derive(Deserialize)]
struct Bulk {
    files: u32,
    size: usize,
    vary_every: u32,
}

/// Writes the bulk files: distinct contents (no deduplication), a few depending on `counter`.
fn write_bulk(bulk: &Bulk, counter: u64) -> std::io::Result<()> {
    std::fs::create_dir_all("bulk")?;
    for i in 0..bulk.files {
        let varies = bulk.vary_every > 0 && i % bulk.vary_every == 0;
        let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        if varies {
            x ^= counter.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        }
        let mut body = Vec::with_capacity(bulk.size + 8);
        while body.len() < bulk.size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body.extend_from_slice(&x.to_le_bytes());
        }
        body.truncate(bulk.size);
        std::fs::write(format!("bulk/{i:05}.dat"), body)?;
    }
    Ok(())
}

fn yes() -> bool {
    true
}

fn default_size() -> usize {
    4096
}

fn run(input: Input<State, Config>) -> Result<Update, NodeError> {
    let counter = input.state.counter + 1;
    let line = format!("{} was here", input.node_id);
    let mut body = format!("node {} count {counter}\n", input.node_id).into_bytes();
    body.resize(input.config.size, b'.');
    std::fs::create_dir_all("out")?;
    std::fs::write(format!("out/{counter:05}-{}.txt", input.node_id), body)?;
    if let Some(bulk) = &input.config.bulk {
        write_bulk(bulk, counter)?;
    }
    let update = Update::new().set("counter", counter);
    Ok(match (input.config.log, input.config.append) {
        (false, _) => update,
        (true, true) => update.set("log", line),
        (true, false) => {
            let mut log: Vec<String> = match &input.state.log {
                Some(raw) => serde_json::from_str(raw.get())
                    .map_err(|e| NodeError::invalid_input(format!("state.log: {e}")))?,
                None => Vec::new(),
            };
            log.push(line);
            update.set("log", log)
        }
    })
}

wtb_guest::node!(run);
