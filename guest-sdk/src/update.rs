//! What a node returns: a partial state update and an optional route.

use crate::NodeError;
use crate::wit::wtb::node::types::NodeOutput;
use serde_json::{Map, Value};

/// A partial state update: each key replaces (or, with a reducer declared in the manifest,
/// is combined with) the same key of the workflow state. Keys not set are left unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    fields: Map<String, Value>,
    route: Option<String>,
    error: Option<String>,
}

impl Update {
    /// An update that changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`. A value that cannot be serialized fails the node when returned.
    pub fn set(mut self, key: impl Into<String>, value: impl serde::Serialize) -> Self {
        let key = key.into();
        match serde_json::to_value(value) {
            Ok(v) => {
                self.fields.insert(key, v);
            }
            Err(e) => self.error = Some(format!("update key `{key}`: {e}")),
        }
        self
    }

    /// Sets every field of `value`, which must serialize to a JSON object.
    pub fn from_serialize(value: &impl serde::Serialize) -> Result<Self, NodeError> {
        match serde_json::to_value(value)? {
            Value::Object(fields) => Ok(Self { fields, ..Self::default() }),
            other => Err(NodeError::failed(format!("an update must be a JSON object, not {other}"))),
        }
    }

    /// Chooses the node's labelled outgoing edges named `label`.
    pub fn route(mut self, label: impl Into<String>) -> Self {
        self.route = Some(label.into());
        self
    }

    pub(crate) fn encode(self) -> Result<NodeOutput, NodeError> {
        if let Some(e) = self.error {
            return Err(NodeError::Failed(e));
        }
        Ok(NodeOutput { update: Value::Object(self.fields).to_string(), route: self.route })
    }
}
