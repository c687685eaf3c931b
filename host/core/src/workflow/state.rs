//! Merging a node's update into the workflow state.

use serde_json::{Map, Value};

/// A node's update that cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// Not valid JSON text.
    #[error("update is not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON but not an object.
    #[error("update must be a JSON object, got {0}")]
    NotObject(String),
    /// Larger than the state-update limit.
    #[error("update is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Parses a node's update text: it must be a JSON object of at most `limit` bytes.
pub fn parse_update(text: &str, limit: usize) -> Result<Map<String, Value>, UpdateError> {
    if text.len() > limit {
        return Err(UpdateError::TooLarge { size: text.len(), limit });
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(UpdateError::NotObject(super::reduce::describe(&other))),
        Err(e) => Err(UpdateError::NotJson(e.to_string())),
    }
}

/// Merges `update` into `state` key by key, each key replacing the state's: how `--state`
/// overrides a manifest's `[state]`. Node updates go through [`super::apply_update`].
pub fn merge_update(state: &mut Map<String, Value>, update: Map<String, Value>) {
    for (key, value) in update {
        state.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_replaces_keys_and_keeps_others() {
        let Value::Object(mut state) = json!({ "a": 1, "b": [1] }) else { unreachable!() };
        let update = parse_update(r#"{"b": [2], "c": null}"#, 1024).unwrap();
        merge_update(&mut state, update);
        assert_eq!(Value::Object(state), json!({ "a": 1, "b": [2], "c": null }));
    }

    #[test]
    fn bad_updates_are_named() {
        assert_eq!(parse_update("[1]", 10), Err(UpdateError::NotObject("an array".into())));
        assert!(matches!(parse_update("{x", 10), Err(UpdateError::NotJson(_))));
        assert_eq!(parse_update("{}", 1), Err(UpdateError::TooLarge { size: 2, limit: 1 }));
    }
}
