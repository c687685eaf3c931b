//! Unit-testing a node natively — no wasm, no host — through the same decoding and encoding
//! the sandbox uses, with `emit` and `log` recorded instead of sent.
//!
//! ```
//! use wtb_guest::{Input, NodeError, Update, emit, testing};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { rows: u64 }
//!
//! fn run(input: Input<serde_json::Value, Config>) -> Result<Update, NodeError> {
//!     emit("counted", &input.config.rows)?;
//!     Ok(Update::new().set("rows", input.config.rows))
//! }
//!
//! let ok = testing::call(run, serde_json::json!({}), serde_json::json!({ "rows": 3 }));
//! assert_eq!(ok.update()["rows"], 3);
//! assert_eq!(ok.events, vec![("counted".to_owned(), serde_json::json!(3))]);
//!
//! // A config the node's types reject fails exactly as in a workflow, naming the field.
//! let bad = testing::call(run, serde_json::json!({}), serde_json::json!({ "rows": "x" }));
//! assert!(matches!(bad.result, Err(NodeError::InvalidInput(m)) if m.starts_with("config.rows: ")));
//! ```
//!
//! Files the node writes go to the current directory (its workspace in the sandbox): point the
//! test at a temporary directory first.

use crate::{Input, Level, NodeError, Update};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// What one native call of a node did.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The update (a JSON object) or the node's own error.
    pub result: Result<Map<String, Value>, NodeError>,
    /// The route it chose.
    pub route: Option<String>,
    /// The events it emitted, in order: kind and payload.
    pub events: Vec<(String, Value)>,
    /// The log lines it wrote.
    pub logs: Vec<(Level, String)>,
}

impl Run {
    /// The update, or a panic naming the error (for tests that expect success).
    pub fn update(&self) -> &Map<String, Value> {
        match &self.result {
            Ok(update) => update,
            Err(e) => panic!("the node failed: {e}"),
        }
    }
}

/// Events and log lines recorded since the last [`call`] began.
#[derive(Default)]
struct Recorded {
    events: Vec<(String, Value)>,
    logs: Vec<(Level, String)>,
}

thread_local! {
    static RECORDED: RefCell<Recorded> = RefCell::new(Recorded::default());
}

/// Calls `run` as the host would: `state` and `config` decoded exactly as in the sandbox (a
/// field of the wrong type is the same `invalid-input` error), the update encoded and checked
/// the same way, events and log lines recorded.
pub fn call<S, C>(run: fn(Input<S, C>) -> Result<Update, NodeError>, state: Value, config: Value) -> Run
where
    S: serde::de::DeserializeOwned,
    C: serde::de::DeserializeOwned,
{
    RECORDED.with(|r| *r.borrow_mut() = Default::default());
    let raw = crate::wit::wtb::node::types::NodeInput {
        execution_id: "test".into(),
        node_id: "test".into(),
        attempt: 1,
        state: state.to_string(),
        config: config.to_string(),
    };
    let out = Input::decode(raw).and_then(run).and_then(Update::encode);
    let Recorded { events, logs } = RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    let (result, route) = match out {
        Ok(o) => match serde_json::from_str(&o.update) {
            Ok(update) => (Ok(update), o.route),
            Err(e) => (Err(NodeError::failed(format!("update: {e}"))), None),
        },
        Err(e) => (Err(e), None),
    };
    Run { result, route, events, logs }
}

/// Where [`crate::emit`] goes outside wasm.
pub(crate) fn record_event(kind: &str, payload: &str) {
    let payload = serde_json::from_str(payload).unwrap_or(Value::Null);
    RECORDED.with(|r| r.borrow_mut().events.push((kind.to_owned(), payload)));
}

/// Where [`crate::log`] goes outside wasm.
pub(crate) fn record_log(level: Level, message: &str) {
    RECORDED.with(|r| r.borrow_mut().logs.push((level, message.to_owned())));
}
