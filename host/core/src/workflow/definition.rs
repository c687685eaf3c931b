//! The stored form of a validated workflow: canonical JSON with components by digest.
//!
//! Stored (content-hashed) with every execution, so a run can be explained — and resumed
//! after a crash — even when the manifest file has since changed or gone.

use super::graph::{Edge, Graph};
use super::manifest::{Manifest, NodeSpec};
use super::reduce::Reducers;
use super::retry::RetryPolicy;
use super::sandbox::{Fixture, Network, NodeLimits};
use super::schema::{SchemaSource, SchemaSpec};
use super::{GraphProblem, Position};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A workflow as stored.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Definition {
    /// The manifest's name.
    pub name: String,
    /// The initial state.
    pub state: Map<String, Value>,
    /// The entry node's id.
    pub entry: String,
    /// Node-attempt guard.
    pub max_steps: u32,
    /// Per-key reducers.
    pub reducers: Reducers,
    /// The nodes, in manifest order.
    pub nodes: Vec<StoredNode>,
    /// The edges, in manifest order (explicit even when the manifest listed none).
    pub edges: Vec<StoredEdge>,
    /// The initial state's JSON Schema (absent from definitions stored before schemas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_schema: Option<Value>,
    /// Deterministic mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deterministic: bool,
    /// Its default seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// One node as stored.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct StoredNode {
    /// Its id.
    pub id: String,
    /// SHA-256 of its component, hex.
    pub component: String,
    /// Its config.
    pub config: Value,
    /// Its env vars.
    pub env: BTreeMap<String, String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Its fixtures (host directories absolute).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixtures: Vec<Fixture>,
    /// Whether sockets are linked (denied).
    #[serde(default, skip_serializing_if = "Network::is_none")]
    pub network: Network,
    /// Its limits.
    pub limits: NodeLimits,
    /// Its retry policy.
    pub retry: RetryPolicy,
    /// Whether it is a join.
    pub join: bool,
    /// Its updates' JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_schema: Option<Value>,
}

/// One edge as stored (node ids, not indexes).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredEdge {
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
    /// Route label.
    pub label: Option<String>,
}

fn stored(schema: Value, field: String) -> SchemaSpec {
    SchemaSpec { source: SchemaSource::Inline(schema), at: Position::default(), field }
}

impl Definition {
    /// The stored form of `manifest`, with `digests[i]` the component digest of node `i`.
    /// Schemas must be resolved to values first (a schema still naming a file is left out).
    pub fn of(manifest: &Manifest, digests: &[String]) -> Self {
        let g = &manifest.graph;
        Self {
            name: manifest.name.clone(),
            state: manifest.state.clone(),
            entry: g.name(g.entry()).to_owned(),
            max_steps: manifest.max_steps,
            reducers: manifest.reducers.clone(),
            nodes: manifest
                .nodes
                .iter()
                .zip(digests)
                .map(|(n, d)| StoredNode {
                    id: n.id.clone(),
                    component: d.clone(),
                    config: n.config.clone(),
                    env: n.env.clone(),
                    args: n.args.clone(),
                    fixtures: n.fixtures.clone(),
                    network: n.network,
                    limits: n.limits,
                    retry: n.retry,
                    join: n.join,
                    update_schema: n.update_schema.as_ref().and_then(|s| s.inline().cloned()),
                })
                .collect(),
            state_schema: manifest.state_schema.as_ref().and_then(|s| s.inline().cloned()),
            deterministic: manifest.deterministic,
            seed: manifest.seed,
            edges: g
                .edges()
                .iter()
                .map(|e| StoredEdge {
                    from: g.name(e.from).to_owned(),
                    to: g.name(e.to).to_owned(),
                    label: e.label.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds the manifest (components named by digest) and re-checks its graph.
    pub fn to_manifest(&self) -> Result<Manifest, GraphProblem> {
        let names: Vec<String> = self.nodes.iter().map(|n| n.id.clone()).collect();
        let at = |id: &str| names.iter().position(|n| n == id);
        let missing = |id: &str| GraphProblem {
            site: super::Site::Node(0),
            message: format!("stored workflow names an unknown node `{id}`"),
        };
        let entry = at(&self.entry).ok_or_else(|| missing(&self.entry))?;
        let mut edges = Vec::with_capacity(self.edges.len());
        for e in &self.edges {
            let from = at(&e.from).ok_or_else(|| missing(&e.from))?;
            let to = at(&e.to).ok_or_else(|| missing(&e.to))?;
            edges.push(Edge { from, to, label: e.label.clone() });
        }
        let graph = Graph::new(names, self.nodes.iter().map(|n| n.join).collect(), entry, edges)?;
        Ok(Manifest {
            name: self.name.clone(),
            state: self.state.clone(),
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeSpec {
                    id: n.id.clone(),
                    component: n.component.clone(),
                    component_at: Position::default(),
                    config: n.config.clone(),
                    env: n.env.clone(),
                    args: n.args.clone(),
                    fixtures: n.fixtures.clone(),
                    network: n.network,
                    limits: n.limits,
                    retry: n.retry,
                    join: n.join,
                    update_schema: n
                        .update_schema
                        .clone()
                        .map(|v| stored(v, format!("nodes[{}].update_schema", n.id))),
                })
                .collect(),
            graph,
            reducers: self.reducers.clone(),
            max_steps: self.max_steps,
            state_schema: self.state_schema.clone().map(|v| stored(v, "state_schema".into())),
            deterministic: self.deterministic,
            seed: self.seed,
        })
    }
}
