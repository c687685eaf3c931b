//! Write a WTB workflow node as a plain Rust function.
//!
//! A node receives the workflow state and its own config, may read and write files in its
//! workspace (the directory it sees as `/`), and returns a partial state update. WTB runs it in
//! a fresh WebAssembly sandbox and records an entry and an exit checkpoint around it: the state
//! *and* the workspace files at both instants. The update, the files the node leaves behind and
//! the events it [`emit`]s are committed together, in one database transaction, or not at all.
//!
//! # Five-minute guide
//!
//! ```toml
//! # Cargo.toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! wtb-guest = { path = "../wtb/guest-sdk" }   # where your WTB checkout is
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! ```ignore
//! // src/lib.rs
//! use serde::Deserialize;
//! use wtb_guest::{Input, NodeError, Update};
//!
//! #[derive(Deserialize)]
//! struct Config { name: String }
//!
//! fn run(input: Input<serde_json::Value, Config>) -> Result<Update, NodeError> {
//!     std::fs::write("greeting.txt", format!("hello, {}\n", input.config.name))?;
//!     Ok(Update::new().set("greeted", &input.config.name))
//! }
//!
//! wtb_guest::node!(run);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the component is
//! `target/wasm32-wasip2/release/<crate>.wasm`. Name it in a workflow manifest and `wtb run` it.
//!
//! # What a node can and cannot do
//! - **Files**: relative or absolute paths both resolve inside the workspace (`/` is the
//!   workspace). Nothing outside it exists; `..` and symlinks cannot leave it.
//! - **State**: typed through serde: `Input<S, C>` deserializes the state into `S` and the
//!   config into `C`. If that fails the node ends with [`NodeError::InvalidInput`] before your
//!   function runs. Use `serde_json::Value` to accept anything.
//! - **Errors**: return a [`NodeError`] to fail on purpose (recorded as the node's verdict; a
//!   [`NodeError::Retryable`] may be retried). A panic is a *trap*: the host stops the sandbox and
//!   records it differently. `?` on `std::io::Error` and `serde_json::Error` gives
//!   [`NodeError::Failed`].
//! - **No network, no host environment**: only env vars the manifest declares.
//! - **Logs and events**: [`log`] writes to the host's log; [`emit`] adds an event to the outbox,
//!   delivered only if the node's checkpoint commits. `println!` goes to a captured, capped buffer.
//! - **Errors name the field**: a state or config that does not fit `S` / `C` fails as
//!   `invalid-input: config.rows: invalid type: string "x", expected u64 …`.
//!
//! # Testing a node natively
//! [`testing::call`] runs your function without wasm or a host, through the same decoding and
//! encoding, and returns the update (or error), route, emitted events and log lines:
//!
//! ```ignore
//! #[test]
//! fn greets() {
//!     let run = wtb_guest::testing::call(run, serde_json::json!({}), serde_json::json!({ "name": "Ada" }));
//!     assert_eq!(run.update()["greeted"], "Ada");
//! }
//! ```
#![deny(missing_docs)]

extern crate self as wtb_guest;

mod error;
mod input;
pub mod testing;
mod update;

pub use error::NodeError;
pub use input::Input;
pub use update::Update;

/// The generated bindings of the `wtb:node` world. Not part of the API: use the wrappers.
#[doc(hidden)]
#[allow(clippy::too_many_arguments, reason = "generated code")]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wtb:node/node",
        pub_export_macro: true,
        export_macro_name: "__export_node",
        default_bindings_module: "::wtb_guest::wit",
        runtime_path: "::wtb_guest::__rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen::rt as __rt;

/// Severity of a [`log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something looks wrong but the node continues.
    Warn,
    /// Something failed.
    Error,
}

/// Writes one line to the host's log, tagged with the execution, node and attempt. (Outside
/// wasm, in a native test, the line is recorded for [`testing::call`].)
pub fn log(level: Level, message: &str) {
    if !cfg!(target_arch = "wasm32") {
        return testing::record_log(level, message);
    }
    use wit::wtb::node::host::Level as L;
    let level = match level {
        Level::Trace => L::Trace,
        Level::Debug => L::Debug,
        Level::Info => L::Info,
        Level::Warn => L::Warn,
        Level::Error => L::Error,
    };
    wit::wtb::node::host::log(level, message);
}

/// Emits an event of `kind` with a JSON `payload`.
///
/// The event becomes an outbox row in the same transaction as this node's exit checkpoint:
/// if the node fails or the host dies before the commit, the event never existed. (Outside
/// wasm, in a native test, the event is recorded for [`testing::call`].)
pub fn emit(kind: &str, payload: &impl serde::Serialize) -> Result<(), NodeError> {
    let payload = serde_json::to_string(payload)?;
    if !cfg!(target_arch = "wasm32") {
        testing::record_event(kind, &payload);
        return Ok(());
    }
    wit::wtb::node::host::emit(kind, &payload);
    Ok(())
}

/// Exports `run` as the node's entry point.
///
/// `run` is any `fn(Input<S, C>) -> Result<Update, NodeError>` where `S` and `C` implement
/// `serde::de::DeserializeOwned`.
#[macro_export]
macro_rules! node {
    ($run:path) => {
        #[doc(hidden)]
        struct __WtbNode;
        impl $crate::wit::Guest for __WtbNode {
            fn run(
                input: $crate::wit::wtb::node::types::NodeInput,
            ) -> ::core::result::Result<
                $crate::wit::wtb::node::types::NodeOutput,
                $crate::wit::wtb::node::types::NodeError,
            > {
                $crate::__dispatch(input, $run)
            }
        }
        $crate::wit::__export_node!(__WtbNode with_types_in $crate::wit);
    };
}

/// Decodes the input, calls the node and encodes its answer. Used by [`node!`].
#[doc(hidden)]
pub fn __dispatch<S, C>(
    raw: wit::wtb::node::types::NodeInput,
    run: fn(Input<S, C>) -> Result<Update, NodeError>,
) -> Result<wit::wtb::node::types::NodeOutput, wit::wtb::node::types::NodeError>
where
    S: serde::de::DeserializeOwned,
    C: serde::de::DeserializeOwned,
{
    let result = Input::decode(raw).and_then(run).and_then(Update::encode);
    result.map_err(NodeError::into_wit)
}
