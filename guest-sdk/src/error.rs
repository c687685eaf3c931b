//! The node's own verdict that it failed.

use crate::wit::wtb::node::types::NodeError as WitError;

/// Why a node failed, in its own words. Recorded on the node's exit checkpoint; never confused
/// with a trap (a panic or a limit hit, which the host records separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// The state or config is not what this node accepts; retrying will not help.
    InvalidInput(String),
    /// The node failed for a reason retrying will not fix.
    Failed(String),
    /// A transient failure; the host may run the node again under its retry policy.
    Retryable(String),
}

impl NodeError {
    /// A [`NodeError::Failed`] with `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// A [`NodeError::InvalidInput`] with `message`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// A [`NodeError::Retryable`] with `message`.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable(message.into())
    }

    pub(crate) fn into_wit(self) -> WitError {
        match self {
            Self::InvalidInput(m) => WitError::InvalidInput(m),
            Self::Failed(m) => WitError::Failed(m),
            Self::Retryable(m) => WitError::Retryable(m),
        }
    }
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
            Self::Retryable(m) => write!(f, "retryable: {m}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<std::io::Error> for NodeError {
    fn from(e: std::io::Error) -> Self {
        Self::Failed(format!("i/o: {e}"))
    }
}

impl From<serde_json::Error> for NodeError {
    fn from(e: serde_json::Error) -> Self {
        Self::Failed(format!("json: {e}"))
    }
}
