//! The smallest useful node: greets someone in a file and in the state. With `stamp = true`
//! it also writes the time it ran — which makes it nondeterministic unless the run is in
//! deterministic mode (the greeting experiment shows both).
use serde::Deserialize;
use wtb_guest::{Input, NodeError, Update};

#[derive(Deserialize)]
struct Config {
    name: String,
    #[serde(default)]
    stamp: bool,
}

fn run(input: Input<serde_json::Value, Config>) -> Result<Update, NodeError> {
    let name = &input.config.name;
    if !input.config.stamp {
        std::fs::write("greeting.txt", format!("hello, {name}\n"))?;
        return Ok(Update::new().set("greeted", name));
    }
    let at = now_nanos();
    std::fs::write("greeting.txt", format!("hello, {name} (at {at} ns since 1970)\n"))?;
    Ok(Update::new().set("greeted", name).set("stamped_at", at))
}

/// The wall clock, as the sandbox gives it (the host's, or deterministic mode's virtual one).
#[expect(clippy::disallowed_methods, reason = "reading the clock is this variant's point")]
fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

wtb_guest::node!(run);
