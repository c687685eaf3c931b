//! WTB, the Workflow Test Bench: runs every workflow node as a sandboxed WebAssembly component
//! and records, around each node, an entry and an exit checkpoint of the workflow state *and*
//! the node's workspace files.
//!
//! # The node protocol in one page
//!
//! 1. A workflow manifest ([`workflow::Manifest`]) names the nodes, their components (WASI
//!    preview-2 components implementing `wit/`'s `wtb:node/node` world) and their config.
//! 2. Starting an execution writes, in one transaction, the execution row, an empty file commit,
//!    the first node's entry checkpoint and an `execution.started` outbox event.
//! 3. Each node runs in a fresh wasmtime store ([`runtime`]) with the execution's workspace
//!    preopened at `/` and nothing else of the host; memory and wall time are limited.
//! 4. After it returns, [`capture`] walks the workspace with `lstat` only, hashes what changed
//!    and writes large new contents to the content-addressed store ([`cas`]), durably, *before*
//!    the transaction.
//! 5. One transaction ([`executor`]) then commits the blob rows, the file commit and its
//!    changes, the exit checkpoint with the merged state, the closed node boundary, the next
//!    node's entry checkpoint, the execution's cursor and the outbox events — including every
//!    event the guest emitted. If it does not commit, none of it happened.
//! 6. A failed attempt — the guest's own `node-error`, a trap, or output that breaks the
//!    contract — commits an exit checkpoint with the entry's state and files, a `node.failed`
//!    event and the cause, and the workspace is restored to the entry commit.
//!
//! The host is one crate per layer, and imports point inward: `wtb` (this crate: the CLI, the
//! demo, the scaffold) → `wtb-server` (HTTP) → `wtb-engine` (the protocol) → `wtb-runtime`
//! (the sandbox) and `wtb-store` (database, blobs, workspaces) → `wtb-core` (model, workflow,
//! history, experiments; pure). This crate re-exports each layer's modules under the names
//! they have always had, so `wtb::model`, `wtb::executor` and so on name one thing each.
#![deny(missing_docs)]

pub mod cli;
pub mod demo;
pub mod scaffold;

pub use wtb_core::{clock, experiment, history, model, units, workflow};
pub use wtb_engine::{config, executor, gc, outbox, service, tenancy, travel, worker};
pub use wtb_failpoint as failpoint;
pub use wtb_runtime as runtime;
pub use wtb_server as api;
pub use wtb_store::{capture, cas, db};
