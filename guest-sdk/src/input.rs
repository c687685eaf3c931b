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
        let state = decode("state", &raw.state)?;
        let config = decode("config", &raw.config)?;
        Ok(Self { execution_id: raw.execution_id, node_id: raw.node_id, attempt: raw.attempt, state, config })
    }
}

/// Deserializes `json` into `T`; an error names the field by its path (`config.rows[2].id`) and
/// says what was expected, so the author of a manifest sees what to fix.
fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, NodeError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { what.to_owned() } else { format!("{what}.{path}") };
        NodeError::invalid_input(format!("{at}: {}", e.into_inner()))
    })
}

#[cfg(test)]
mod tests {
    use super::decode;
    use crate::NodeError;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code, reason = "only decoded")]
    struct Config {
        rows: u64,
        columns: Vec<Column>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code, reason = "only decoded")]
    struct Column {
        name: String,
    }

    #[test]
    fn errors_name_the_field_and_what_was_expected() {
        let e = decode::<Config>("config", r#"{"rows": "ten", "columns": []}"#).unwrap_err();
        assert!(
            matches!(&e, NodeError::InvalidInput(m) if m.starts_with("config.rows: invalid type: string \"ten\", expected u64")),
            "{e}"
        );
        let e = decode::<Config>("config", r#"{"rows": 1, "columns": [{"name": "a"}, {}]}"#).unwrap_err();
        assert!(
            matches!(&e, NodeError::InvalidInput(m) if m.starts_with("config.columns[1]: missing field `name`")),
            "{e}"
        );
        let e = decode::<Config>("config", "null").unwrap_err();
        assert!(
            matches!(&e, NodeError::InvalidInput(m) if m.starts_with("config: invalid type: null")),
            "{e}"
        );
    }
}
