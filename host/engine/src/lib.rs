//! WTB's engine: the execution protocol (entry checkpoint, sandboxed run, capture, one exit
//! transaction) in `executor`; beside it, each a handle on the [`executor::Executor`], the
//! read-only queries (`inspect`), time travel (`travel`), experiments and tenancy; the outbox
//! relay, garbage collection, and the runtime configuration that ties them to a data directory.
//! The engine reaches storage only through `wtb-store`'s traits.
//!
//! Imports point inward: the engine uses `wtb-runtime` (the sandbox) and `wtb-store` (durable
//! state), both of which use `wtb-core`; the HTTP server and the CLI sit above it.
#![deny(missing_docs)]

pub mod bundle;
pub mod config;
pub mod executor;
pub mod experiments;
pub mod gc;
pub mod inspect;
pub mod outbox;
pub mod replay;
pub mod service;
pub mod solo;
pub mod tenancy;
pub mod testing;
pub mod travel;
pub mod worker;
