//! Experiments: one workflow run over variants (nodes with another component or config) ×
//! environments (env vars, seed, fixed clock, limits, fixtures) × repetitions, every cell an
//! isolated execution; then compared against a baseline cell, with runs of the same cell that
//! differ flagged as nondeterministic. Parsing ([`spec`]), comparing ([`compare`]) and
//! rendering ([`report`]) are pure; running is in `executor/experiment.rs`.

pub mod compare;
pub mod report;
pub mod spec;

pub(crate) use spec::RawEnvironmentFields;
pub use spec::{EnvironmentSpec, ExperimentSpec, NodeChange, Variant};
