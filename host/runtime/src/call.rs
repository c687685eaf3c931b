//! What one attempt is called with: the node's input and the environment it runs in.

use std::collections::BTreeMap;
use wtb_core::workflow::Fixture;

/// Everything one attempt is called with.
#[derive(Clone, Debug)]
pub struct NodeCall {
    /// Execution id.
    pub execution: String,
    /// Node id.
    pub node: String,
    /// Attempt, from 1.
    pub attempt: u32,
    /// The state, as JSON text.
    pub state: String,
    /// The node's config, as JSON text.
    pub config: String,
    /// The env vars the manifest declares; the guest sees no others.
    pub env: BTreeMap<String, String>,
    /// Arguments after the program name (the node id); the guest sees no others.
    pub args: Vec<String>,
    /// Read-only host directories mounted beside the workspace (host paths absolute).
    pub fixtures: Vec<Fixture>,
    /// Deterministic mode: the execution's seed (clocks and random derive from it).
    pub seed: Option<u64>,
    /// Deterministic mode's wall-clock start (seconds since the epoch), instead of the seed's.
    pub clock: Option<u64>,
}
