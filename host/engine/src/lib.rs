//! WTB's engine: the execution protocol (entry checkpoint, sandboxed run, capture, one exit
//! transaction), time travel, experiments and tenancy on top of it, the outbox relay, garbage
//! collection, and the runtime configuration that ties them to a data directory.
//!
//! Imports point inward: the engine uses `wtb-runtime` (the sandbox) and `wtb-store` (durable
//! state), both of which use `wtb-core`; the HTTP server and the CLI sit above it.
#![deny(missing_docs)]

pub mod config;
pub mod executor;
pub mod experiments;
pub mod gc;
pub mod outbox;
pub mod service;
pub mod solo;
pub mod tenancy;
pub mod travel;
