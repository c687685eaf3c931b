//! A loaded workflow with overrides applied — other components and configs for some nodes,
//! env vars, limits and fixtures for all — without reading or compiling anything again: an
//! experiment cell's workflow, a test case's (stubs and environment).

use super::ExecError;
use super::load::{LoadedNode, LoadedWorkflow, resolve_fixture};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use wtb_core::experiment::EnvironmentSpec;
use wtb_core::model::Digest;
use wtb_core::workflow::{Definition, Overrides};
use wtb_runtime::PreparedNode;

/// A replacement component: its bytes and their compiled form.
pub type Component = (Arc<[u8]>, PreparedNode);

impl LoadedWorkflow {
    /// This workflow with `overrides` applied; `components` holds the component of every
    /// node `overrides.node_component` names, by node id. A node it does not have is an
    /// error naming it.
    pub fn with_overrides(
        &self,
        overrides: &Overrides,
        components: &BTreeMap<String, Component>,
    ) -> Result<Self, ExecError> {
        let base: Definition = serde_json::from_value(self.definition.clone())
            .map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
        let def = base.with_overrides(overrides).map_err(|node| {
            ExecError::StoredWorkflow(format!("workflow `{}` has no node `{node}`", self.manifest.name))
        })?;
        let manifest = def.to_manifest().map_err(|p| ExecError::StoredWorkflow(p.message))?;
        let nodes = manifest
            .nodes
            .iter()
            .zip(&self.nodes)
            .map(|(spec, base)| {
                let (bytes, prepared) = match components.get(&spec.id) {
                    Some(c) => c.clone(),
                    None => (base.bytes.clone(), base.prepared.clone()),
                };
                LoadedNode { spec: spec.clone(), bytes, prepared, update_schema: base.update_schema.clone() }
            })
            .collect();
        let definition = serde_json::to_value(&def).map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
        let digest = Digest::of(definition.to_string().as_bytes());
        Ok(Self { manifest, nodes, definition, digest, state_schema: self.state_schema.clone() })
    }
}

/// What an environment changes in every node: env vars, limits, and fixtures with their
/// host directories resolved against `base` (the file that names them). `Err` says which
/// fixture directory is unusable.
pub(crate) fn environment_overrides(base: &Path, env: &EnvironmentSpec) -> Result<Overrides, String> {
    let fixtures = env.fixtures.iter().map(|f| resolve_fixture(base, f)).collect::<Result<_, _>>()?;
    Ok(Overrides { env: env.env.clone(), limits: env.limits, fixtures, ..Overrides::default() })
}
