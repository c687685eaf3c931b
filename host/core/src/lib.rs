//! WTB's pure core: the domain model, workflow manifests and graphs, history rewind and diff,
//! and experiment specs, comparisons and reports.
//!
//! Serde only: no database, wasmtime, HTTP, async runtime or filesystem crate, so every rule
//! here is a function of its inputs and its tests run in microseconds. The crates above
//! (`wtb-runtime`, `wtb-store`, `wtb-engine`, `wtb-server`, `wtb`) import it; it imports none
//! of them, and the compiler keeps it that way.
#![deny(missing_docs)]

pub mod bundle;
pub mod clock;
pub mod experiment;
pub mod history;
pub mod markup;
pub mod model;
pub mod retention;
pub mod testing;
pub mod units;
pub mod workflow;
