//! The Rust template: a Cargo project using the `wtb-guest` SDK.

/// The project's files.
pub(super) fn files(name: &str, sdk: &str) -> Vec<(&'static str, String)> {
    let artifact = name.replace('-', "_");
    let fill = |t: &str| t.replace("{name}", name).replace("{artifact}", &artifact).replace("{sdk}", sdk);
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        (
            "workflow.toml",
            super::workflow(name, &format!("target/wasm32-wasip2/release/{artifact}.wasm"), ""),
        ),
        (".gitignore", "/target\n".to_owned()),
    ]
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

# A cdylib is the component; the rlib lets `cargo test` call `run` natively.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
wtb-guest = { path = "{sdk}" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# A project of its own, even inside another workspace's directory.
[workspace]
"#;

const LIB_RS: &str = r#"//! `{name}`: a WTB workflow node. It counts its runs in the workflow state and writes a
//! greeting file into the workspace; change `run` to do your node's work.

use serde::Deserialize;
use wtb_guest::{Input, NodeError, Update};

/// The node's `config` table in the workflow manifest.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Config {
    /// What to greet with.
    pub greeting: Option<String>,
}

/// The part of the workflow state this node reads.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct State {
    /// How often this node ran before.
    pub count: u64,
}

/// One attempt: the state and config in, a state update out. Files written under `/` (the
/// current directory) are the execution's workspace; every checkpoint records them.
pub fn run(input: Input<State, Config>) -> Result<Update, NodeError> {
    let count = input.state.count + 1;
    let greeting = input.config.greeting.unwrap_or_else(|| "hello".into());
    std::fs::write("{name}.txt", format!("{greeting} from {name}, run {count}\n"))?;
    Ok(Update::new().set("count", count))
}

wtb_guest::node!(run);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_writes_its_file() {
        let dir = std::env::temp_dir().join(format!("{name}-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_current_dir(&dir).unwrap();
        // Called as the host calls it: JSON in, decoded and encoded the same way.
        let r = wtb_guest::testing::call(run, serde_json::json!({ "count": 41 }), serde_json::json!({ "greeting": "hi" }));
        assert_eq!(r.update()["count"], 42);
        assert_eq!(std::fs::read_to_string(dir.join("{name}.txt")).unwrap(), "hi from {name}, run 42\n");
    }

    #[test]
    fn a_state_of_the_wrong_shape_names_the_field() {
        let r = wtb_guest::testing::call(run, serde_json::json!({ "count": "many" }), serde_json::json!({}));
        assert!(matches!(r.result, Err(NodeError::InvalidInput(m)) if m.starts_with("state.count: invalid type")));
    }
}
"#;

const README: &str = r#"# {name}

A WTB workflow node (a WebAssembly component built against the `wtb:node` world).

```sh
# 1. build it (and run its unit test natively: cargo test)
cargo build --release --target wasm32-wasip2
# 2. run it alone, in the same sandbox as in a workflow; nothing is stored
wtb node run target/wasm32-wasip2/release/{artifact}.wasm --state '{"count": 1}' --config '{"greeting": "hi"}'
# 3. run it in a workflow (workflow.toml names it; add your other nodes there)
wtb run workflow.toml
```

`rustup target add wasm32-wasip2` once, if cargo says the target is missing.
"#;
