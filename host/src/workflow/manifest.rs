//! The workflow manifest (TOML): an ordered list of nodes and the initial state.
//!
//! Unknown fields are errors, so a typo never silently changes what runs.

use super::{ManifestError, Position};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// Per-node limits; unset fields take the runtime config's defaults.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeLimits {
    /// Largest linear memory, in MiB.
    pub memory_mib: Option<u64>,
    /// Wall-time limit of one attempt, in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// One node, as validated.
#[derive(Clone, PartialEq, Debug)]
pub struct NodeSpec {
    /// Unique id within the workflow: `[A-Za-z0-9_-]{1,64}`.
    pub id: String,
    /// The component path as written (relative paths are relative to the manifest).
    pub component: String,
    /// Where `component` was written, for errors found when the file is read.
    pub component_at: Position,
    /// The node's config, handed to it as JSON (`null` when absent).
    pub config: Value,
    /// Environment variables the node sees; it sees no others.
    pub env: BTreeMap<String, String>,
    /// Limits for this node.
    pub limits: NodeLimits,
}

/// A parsed, validated manifest.
#[derive(Clone, PartialEq, Debug)]
pub struct Manifest {
    /// The workflow's name.
    pub name: String,
    /// The initial state, before `--state` is merged over it.
    pub state: Map<String, Value>,
    /// The nodes, in the order they run.
    pub nodes: Vec<NodeSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    state: Option<toml::Table>,
    #[serde(default)]
    nodes: Option<Spanned<Vec<RawNode>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: Spanned<String>,
    component: Spanned<String>,
    #[serde(default)]
    config: Option<toml::Value>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    limits: NodeLimits,
}

impl Manifest {
    /// Parses and validates `text`; `file` is only used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, ManifestError> {
        let err = |span: Range<usize>, field: Option<String>, message: String| ManifestError {
            file: file.to_owned(),
            at: Position::of_offset(text, span.start),
            field,
            message,
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            err(e.span().unwrap_or(0..0), None, e.message().trim_end().to_owned())
        })?;
        let _ = raw.description;
        let name = raw.name.get_ref().trim();
        if name.is_empty() {
            return Err(err(raw.name.span(), Some("name".into()), "must not be empty".into()));
        }
        let no_nodes = || "a workflow needs at least one node ([[nodes]])".to_owned();
        let Some(raw_nodes) = raw.nodes else {
            return Err(err(0..0, Some("nodes".into()), no_nodes()));
        };
        if raw_nodes.get_ref().is_empty() {
            return Err(err(raw_nodes.span(), Some("nodes".into()), no_nodes()));
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut nodes = Vec::with_capacity(raw_nodes.get_ref().len());
        for (i, node) in raw_nodes.get_ref().iter().enumerate() {
            let id = node.id.get_ref();
            if !valid_id(id) {
                return Err(err(node.id.span(), Some(format!("nodes[{i}].id")),
                    format!("`{id}` is not a valid node id (1-64 of A-Z a-z 0-9 _ -)")));
            }
            if let Some(first) = seen.insert(id, i) {
                return Err(err(node.id.span(), Some(format!("nodes[{i}].id")),
                    format!("duplicate node id `{id}` (first used by nodes[{first}])")));
            }
            if node.component.get_ref().trim().is_empty() {
                return Err(err(node.component.span(), Some(format!("nodes[{i}].component")), "must not be empty".into()));
            }
            let mut env = BTreeMap::new();
            for (key, value) in &node.env {
                if key.is_empty() || key.contains('=') || key.contains('\0') || value.get_ref().contains('\0') {
                    return Err(err(value.span(), Some(format!("nodes[{i}].env.{key}")),
                        "env names must be non-empty without `=`, and values without NUL".into()));
                }
                env.insert(key.clone(), value.get_ref().clone());
            }
            for (limit, value) in [("memory_mib", node.limits.memory_mib), ("timeout_ms", node.limits.timeout_ms)] {
                if value == Some(0) {
                    return Err(err(node.id.span(), Some(format!("nodes[{i}].limits.{limit}")), "must be greater than 0".into()));
                }
            }
            nodes.push(NodeSpec {
                id: id.clone(),
                component: node.component.get_ref().clone(),
                component_at: Position::of_offset(text, node.component.span().start),
                config: node.config.clone().map_or(Value::Null, toml_to_json),
                env,
                limits: node.limits,
            });
        }
        let state = match raw.state.map(|t| toml_to_json(toml::Value::Table(t))) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Ok(Self { name: name.to_owned(), state, nodes })
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// TOML → JSON. Datetimes become RFC 3339 strings (JSON has no datetime type).
fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "name = \"w\"\n[state]\nn = 1\n[[nodes]]\nid = \"a\"\ncomponent = \"a.wasm\"\nconfig = { k = [1, 2] }\n";

    #[test]
    fn parses_a_valid_manifest() {
        let m = Manifest::parse("w.toml", OK).unwrap();
        assert_eq!(m.name, "w");
        assert_eq!(m.state["n"], 1);
        assert_eq!(m.nodes[0].config, serde_json::json!({ "k": [1, 2] }));
        assert_eq!(m.nodes[0].component_at, Position { line: 6, column: 13 });
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let e = Manifest::parse("w.toml", &format!("{OK}colour = 3\n")).unwrap_err();
        assert_eq!(e.at.line, 8);
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(e.to_string().starts_with("w.toml:8:"), "{e}");
    }

    #[test]
    fn duplicate_ids_are_rejected_at_the_second() {
        let text = format!("{OK}[[nodes]]\nid = \"a\"\ncomponent = \"b.wasm\"\n");
        let e = Manifest::parse("w.toml", &text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("nodes[1].id"));
        assert_eq!(e.at.line, 9);
        assert!(e.message.contains("duplicate node id `a`"));
    }

    #[test]
    fn syntax_errors_and_bad_values_are_located() {
        let e = Manifest::parse("w.toml", "name = \"w\"\n[[nodes]\n").unwrap_err();
        assert_eq!(e.at.line, 2);
        let e = Manifest::parse("w.toml", "name = \"w\"\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("nodes"));
        let e = Manifest::parse("w.toml", "name = \"w\"\n[[nodes]]\nid = \"a b\"\ncomponent = \"x\"\n").unwrap_err();
        assert_eq!((e.at.line, e.field.as_deref()), (3, Some("nodes[0].id")));
        let e = Manifest::parse("w.toml", "name = \"w\"\n[[nodes]]\nid = \"a\"\n").unwrap_err();
        assert!(e.message.contains("missing field `component`"), "{e}");
        let e = Manifest::parse("w.toml", "name = 5\n[[nodes]]\nid = \"a\"\ncomponent = \"x\"\n").unwrap_err();
        assert_eq!(e.at.line, 1);
    }
}
