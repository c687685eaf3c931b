//! Changes to a stored workflow without editing its manifest: what a fork (`--node-config`,
//! `--component`) and an experiment cell (a variant's nodes, an environment's env vars,
//! limits and fixtures) run. Pure.

use super::definition::Definition;
use super::sandbox::{Fixture, NodeLimits};
use serde_json::Value;
use std::collections::BTreeMap;

/// What to change. Per node: config and component; for every node: env vars (added,
/// replacing a node's own of the same name), limits (replacing those set) and fixtures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// New configs, by node id.
    pub node_config: Vec<(String, Value)>,
    /// New components (SHA-256 hex), by node id.
    pub node_component: Vec<(String, String)>,
    /// Env vars for every node.
    pub env: BTreeMap<String, String>,
    /// Limits for every node.
    pub limits: NodeLimits,
    /// Fixtures for every node (host paths absolute).
    pub fixtures: Vec<Fixture>,
}

impl Definition {
    /// This definition with `o` applied; `Err` names a node it does not have.
    pub fn with_overrides(mut self, o: &Overrides) -> Result<Self, String> {
        for (node, config) in &o.node_config {
            self.nodes.iter_mut().find(|n| n.id == *node).ok_or_else(|| node.clone())?.config =
                config.clone();
        }
        for (node, digest) in &o.node_component {
            self.nodes.iter_mut().find(|n| n.id == *node).ok_or_else(|| node.clone())?.component =
                digest.clone();
        }
        for n in &mut self.nodes {
            n.env.extend(o.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            n.limits = o.limits.or(&n.limits);
            n.fixtures.extend(o.fixtures.iter().cloned());
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Manifest;

    #[test]
    fn per_node_and_every_node_changes_apply() {
        let m = Manifest::parse("w.toml", "name = \"w\"\n[[nodes]]\nid = \"a\"\ncomponent = \"a.wasm\"\nenv = { K = \"node\", X = \"1\" }\nlimits = { timeout_ms = 5 }\n[[nodes]]\nid = \"b\"\ncomponent = \"b.wasm\"\n").unwrap();
        let def = Definition::of(&m, &["aa".into(), "bb".into()]);
        let o = Overrides {
            node_config: vec![("a".into(), serde_json::json!({ "v": 2 }))],
            node_component: vec![("b".into(), "cc".into())],
            env: BTreeMap::from([("K".into(), "env".into())]),
            limits: NodeLimits { memory_mib: Some(64), ..Default::default() },
            fixtures: vec![Fixture { guest: "/data".into(), host: "/tmp".into() }],
        };
        let d = def.clone().with_overrides(&o).unwrap();
        assert_eq!(
            (d.nodes[0].config.clone(), d.nodes[1].component.as_str()),
            (serde_json::json!({ "v": 2 }), "cc")
        );
        assert_eq!(d.nodes[0].env["K"], "env", "the environment's value wins");
        assert_eq!(d.nodes[0].env["X"], "1");
        assert_eq!((d.nodes[0].limits.memory_mib, d.nodes[0].limits.timeout_ms), (Some(64), Some(5)));
        assert_eq!(d.nodes[1].fixtures.len(), 1);
        let bad = Overrides { node_config: vec![("zz".into(), Value::Null)], ..Default::default() };
        assert_eq!(def.with_overrides(&bad).unwrap_err(), "zz");
    }
}
