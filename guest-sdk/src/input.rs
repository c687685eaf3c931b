//! What a node is called with, typed.

use crate::NodeError;
use crate::wit::wtb::node::types::NodeInput;

/// The input of one node attempt, with the state deserialized into `S` and the config into `C`.
#[derive(Debug, Clone)]
pub struct Input<S, C> {
    /// The execution this attempt belongs to.
    pub execution_id: String,
    /// The node's id in the workflow manifest.
    pub node_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The workflow state at this node's entry checkpoint.
    pub state: S,
    /// The node's `config` table from the manifest (`null` when absent, so use `Option` or
    /// `#[serde(default)]` for optional config).
    pub config: C,
}

impl<S, C> Input<S, C>
where
    S: serde::de::DeserializeOwned,
    C: serde::de::DeserializeOwned,
{
    pub(crate) fn decode(raw: NodeInput) -> Result<Self, NodeError> {
        let state = serde_json::from_str(&raw.state)
            .map_err(|e| NodeError::invalid_input(format!("state: {e}")))?;
        let config = serde_json::from_str(&raw.config)
            .map_err(|e| NodeError::invalid_input(format!("config: {e}")))?;
        Ok(Self {
            execution_id: raw.execution_id,
            node_id: raw.node_id,
            attempt: raw.attempt,
            state,
            config,
        })
    }
}
