//! The workflow manifest (TOML): nodes, edges, entry node, state reducers, retry policies.
//!
//! Unknown fields are errors, so a typo never silently changes what runs. A manifest without
//! `[[edges]]` runs its nodes in the order listed.

use super::graph::{Edge, Graph, Site};
use super::reduce::{Reducer, Reducers};
use super::retry::RetryPolicy;
use super::sandbox::{Fixture, Network, NodeLimits, check_arg, check_env, check_mount_point};
use super::schema::{SchemaSpec, toml_to_json};
use super::{ManifestError, Position};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// The default guard against a loop that never ends: node attempts per execution.
pub const DEFAULT_MAX_STEPS: u32 = 1000;

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
    /// Arguments after the program name (the node id); it sees no others.
    pub args: Vec<String>,
    /// Read-only host directories it sees beside its workspace.
    pub fixtures: Vec<Fixture>,
    /// Whether `wasi:sockets` is linked (never usable).
    pub network: Network,
    /// Limits for this node.
    pub limits: NodeLimits,
    /// When to try again after a failure.
    pub retry: RetryPolicy,
    /// Waits for one arrival on each incoming edge, then merges them.
    pub join: bool,
    /// The JSON Schema each of its updates must match.
    pub update_schema: Option<SchemaSpec>,
}

/// A parsed, validated manifest.
#[derive(Clone, PartialEq, Debug)]
pub struct Manifest {
    /// The workflow's name.
    pub name: String,
    /// The initial state, before `--state` is merged over it.
    pub state: Map<String, Value>,
    /// The nodes, in manifest order (the graph's node indexes).
    pub nodes: Vec<NodeSpec>,
    /// Edges, entry node, routing.
    pub graph: Graph,
    /// Per-key reducers.
    pub reducers: Reducers,
    /// Most node attempts one execution may make (loops end here with a clear failure).
    pub max_steps: u32,
    /// The JSON Schema the initial state (after `--state`) must match.
    pub state_schema: Option<SchemaSpec>,
    /// Deterministic mode for every run: fixed clocks, seeded random.
    pub deterministic: bool,
    /// The seed deterministic runs use unless `--seed` says otherwise (unset: a fresh one per
    /// run, recorded on the execution).
    pub seed: Option<u64>,
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
    #[serde(default)]
    entry: Option<Spanned<String>>,
    #[serde(default)]
    max_steps: Option<Spanned<u32>>,
    #[serde(default)]
    reducers: BTreeMap<String, Reducer>,
    #[serde(default)]
    edges: Option<Vec<RawEdge>>,
    #[serde(default)]
    state_schema: Option<Spanned<toml::Value>>,
    #[serde(default)]
    deterministic: bool,
    #[serde(default)]
    seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdge {
    from: Spanned<String>,
    to: Spanned<String>,
    #[serde(default)]
    label: Option<Spanned<String>>,
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
    args: Vec<Spanned<String>>,
    #[serde(default)]
    fixtures: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    network: Network,
    #[serde(default)]
    limits: Option<Spanned<NodeLimits>>,
    #[serde(default)]
    retry: Option<Spanned<RetryPolicy>>,
    #[serde(default)]
    join: bool,
    #[serde(default)]
    update_schema: Option<Spanned<toml::Value>>,
}

impl Manifest {
    /// The network policy of node `id` (the default for a node the manifest does not have, so
    /// a variant naming one is refused by the spec check, not here).
    pub fn network_of(&self, id: &str) -> Network {
        self.nodes.iter().find(|n| n.id == id).map(|n| n.network).unwrap_or_default()
    }

    /// Parses and validates `text`; `file` is only used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, ManifestError> {
        let err = |span: Range<usize>, field: Option<String>, message: String| ManifestError {
            file: file.to_owned(),
            at: Position::of_offset(text, span.start),
            field,
            message,
        };
        let raw: RawManifest = ManifestError::from_toml(file, text)?;
        let schema = |raw: &Option<Spanned<toml::Value>>,
                      field: String|
         -> Result<Option<SchemaSpec>, ManifestError> {
            raw.as_ref().map(|raw| SchemaSpec::from_toml(file, text, raw, field)).transpose()
        };
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
                return Err(err(
                    node.id.span(),
                    Some(format!("nodes[{i}].id")),
                    format!("`{id}` is not a valid node id (1-64 of A-Z a-z 0-9 _ -)"),
                ));
            }
            if let Some(first) = seen.insert(id, i) {
                return Err(err(
                    node.id.span(),
                    Some(format!("nodes[{i}].id")),
                    format!("duplicate node id `{id}` (first used by nodes[{first}])"),
                ));
            }
            if node.component.get_ref().trim().is_empty() {
                return Err(err(
                    node.component.span(),
                    Some(format!("nodes[{i}].component")),
                    "must not be empty".into(),
                ));
            }
            let mut env = BTreeMap::new();
            for (key, value) in &node.env {
                check_env(key, value.get_ref())
                    .map_err(|m| err(value.span(), Some(format!("nodes[{i}].env.{key}")), m))?;
                env.insert(key.clone(), value.get_ref().clone());
            }
            let mut args = Vec::with_capacity(node.args.len());
            for (j, arg) in node.args.iter().enumerate() {
                check_arg(arg.get_ref())
                    .map_err(|m| err(arg.span(), Some(format!("nodes[{i}].args[{j}]")), m))?;
                args.push(arg.get_ref().clone());
            }
            let mut fixtures = Vec::with_capacity(node.fixtures.len());
            for (guest, host) in &node.fixtures {
                let field = Some(format!("nodes[{i}].fixtures.\"{guest}\""));
                check_mount_point(guest).map_err(|m| err(host.span(), field.clone(), m))?;
                if host.get_ref().trim().is_empty() {
                    return Err(err(host.span(), field, "the host directory must not be empty".into()));
                }
                fixtures.push(Fixture { guest: guest.clone(), host: host.get_ref().clone() });
            }
            let limits = node.limits.as_ref().map(|l| (*l.get_ref(), l.span()));
            if let Some((l, span)) = &limits {
                l.validate().map_err(|p| {
                    err(
                        span.clone(),
                        Some(format!("nodes[{i}].limits.{}", p.limit)),
                        format!("node `{id}`: {p}"),
                    )
                })?;
            }
            let retry = node.retry.as_ref().map(|r| (*r.get_ref(), r.span()));
            if let Some((policy, span)) = &retry
                && (policy.max_attempts == 0 || policy.max_backoff_ms < policy.backoff_ms)
            {
                return Err(err(
                    span.clone(),
                    Some(format!("nodes[{i}].retry")),
                    "needs max_attempts >= 1 and max_backoff_ms >= backoff_ms".into(),
                ));
            }
            nodes.push(NodeSpec {
                id: id.clone(),
                component: node.component.get_ref().clone(),
                component_at: Position::of_offset(text, node.component.span().start),
                config: node.config.clone().map_or(Value::Null, toml_to_json),
                env,
                args,
                fixtures,
                network: node.network,
                limits: limits.map(|(l, _)| l).unwrap_or_default(),
                retry: retry.map(|(p, _)| p).unwrap_or_default(),
                join: node.join,
                update_schema: schema(&node.update_schema, format!("nodes[{i}].update_schema"))?,
            });
        }
        let node_at = |id: &Spanned<String>, field: String| {
            let name = id.get_ref();
            seen.get(name.as_str())
                .copied()
                .ok_or_else(|| err(id.span(), Some(field), format!("no node has id `{name}`")))
        };
        let entry = match &raw.entry {
            Some(e) => node_at(e, "entry".into())?,
            None => 0,
        };
        let edge_spans: Vec<Range<usize>>;
        let edges = match &raw.edges {
            None => {
                edge_spans = Vec::new();
                (1..nodes.len()).map(|i| Edge { from: i - 1, to: i, label: None }).collect()
            }
            Some(raw_edges) => {
                let mut edges = Vec::with_capacity(raw_edges.len());
                let mut pairs = BTreeMap::new();
                for (i, e) in raw_edges.iter().enumerate() {
                    let from = node_at(&e.from, format!("edges[{i}].from"))?;
                    let to = node_at(&e.to, format!("edges[{i}].to"))?;
                    let label = e.label.as_ref().map(|l| l.get_ref().clone());
                    if let Some(l) = &e.label
                        && !valid_id(l.get_ref())
                    {
                        return Err(err(
                            l.span(),
                            Some(format!("edges[{i}].label")),
                            format!("`{}` is not a valid label (1-64 of A-Z a-z 0-9 _ -)", l.get_ref()),
                        ));
                    }
                    if let Some(first) = pairs.insert((from, to, label.clone()), i) {
                        return Err(err(
                            e.from.span(),
                            Some(format!("edges[{i}]")),
                            format!("duplicate of edges[{first}]"),
                        ));
                    }
                    edges.push(Edge { from, to, label });
                }
                edge_spans = raw_edges.iter().map(|e| e.from.span()).collect();
                edges
            }
        };
        let names = nodes.iter().map(|n| n.id.clone()).collect();
        let joins = nodes.iter().map(|n| n.join).collect();
        let graph = Graph::new(names, joins, entry, edges).map_err(|p| match p.site {
            Site::Node(i) => err(raw_nodes.get_ref()[i].id.span(), Some(format!("nodes[{i}]")), p.message),
            Site::Edge(i) => {
                err(edge_spans.get(i).cloned().unwrap_or(0..0), Some(format!("edges[{i}]")), p.message)
            }
        })?;
        let max_steps = match &raw.max_steps {
            Some(m) if *m.get_ref() == 0 => {
                return Err(err(m.span(), Some("max_steps".into()), "must be greater than 0".into()));
            }
            Some(m) => *m.get_ref(),
            None => DEFAULT_MAX_STEPS,
        };
        let state = match raw.state.map(|t| toml_to_json(toml::Value::Table(t))) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let state_schema = schema(&raw.state_schema, "state_schema".into())?;
        let deterministic = raw.deterministic || raw.seed.is_some();
        Ok(Self {
            name: name.to_owned(),
            state,
            nodes,
            graph,
            reducers: raw.reducers,
            max_steps,
            state_schema,
            deterministic,
            seed: raw.seed,
        })
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests;
