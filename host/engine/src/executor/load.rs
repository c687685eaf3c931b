//! Loading a workflow: manifest file → validated manifest → components read, hashed,
//! compiled (or taken from cache) and checked against the node world.

use super::{ExecError, Executor};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wtb_core::model::{Digest, WorkflowRecord};
use wtb_core::workflow::{
    Definition, Fixture, Manifest, ManifestError, Network, NodeSpec, Position, Schema, SchemaSource,
    SchemaSpec,
};
use wtb_runtime::{ComponentError, PreparedNode};

/// A workflow that cannot be loaded, located as precisely as possible.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest file could not be read.
    #[error("{}: {source}", .path.display())]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is malformed or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A node's component file is missing or unreadable.
    #[error("{file}:{}:{}: `nodes[{index}].component`: cannot read `{}`: {source}", .at.line, .at.column, .path.display())]
    ComponentRead {
        /// The manifest.
        file: String,
        /// Where `component` is written.
        at: Position,
        /// The node's index.
        index: usize,
        /// The resolved component path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A node's component is not a valid node component.
    #[error("{file}:{}:{}: `nodes[{index}].component`: `{}` {source}", .at.line, .at.column, .path.display())]
    Component {
        /// The manifest.
        file: String,
        /// Where `component` is written.
        at: Position,
        /// The node's index.
        index: usize,
        /// The resolved component path.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: ComponentError,
    },
}

/// A node ready to run.
#[derive(Clone)]
pub struct LoadedNode {
    /// Its manifest entry.
    pub spec: NodeSpec,
    /// The component bytes.
    pub bytes: Arc<[u8]>,
    /// The compiled, world-checked component.
    pub prepared: PreparedNode,
    /// The schema its updates must match.
    pub update_schema: Option<Arc<Schema>>,
}

/// A validated workflow with its components loaded.
#[derive(Clone)]
pub struct LoadedWorkflow {
    /// The manifest.
    pub manifest: Manifest,
    /// Its nodes, in order.
    pub nodes: Vec<LoadedNode>,
    /// The canonical JSON stored with each execution (components by digest).
    pub definition: serde_json::Value,
    /// SHA-256 of `definition`.
    pub digest: Digest,
    /// The schema the initial state must match.
    pub state_schema: Option<Arc<Schema>>,
}

impl Executor {
    /// Reads, validates and prepares the workflow at `path`.
    pub async fn load_workflow(&self, path: &Path) -> Result<LoadedWorkflow, LoadError> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        self.load_manifest(&path.display().to_string(), &text, Some(path.parent().unwrap_or(Path::new("."))))
            .await
    }

    /// Validates and prepares a manifest sent over the API (`name` labels its errors). It may
    /// name only this tenant's uploaded components, as `sha256:<hex>`, and nothing of the
    /// host's file system (no fixtures, no schema files).
    pub async fn load_workflow_text(&self, name: &str, text: &str) -> Result<LoadedWorkflow, LoadError> {
        self.load_manifest(name, text, None).await
    }

    /// `base`: the manifest's directory (relative paths start there); `None`: a manifest from
    /// the network, see [`Executor::load_workflow_text`].
    async fn load_manifest(
        &self,
        file: &str,
        text: &str,
        base: Option<&Path>,
    ) -> Result<LoadedWorkflow, LoadError> {
        let file = file.to_owned();
        let mut manifest = Manifest::parse(&file, text)?;
        let remote = |at: Position, field: String, message: &str| {
            LoadError::from(ManifestError {
                file: file.clone(),
                at,
                field: Some(field),
                message: message.to_owned(),
            })
        };
        match base {
            Some(base) => resolve_schema_files(&mut manifest, base, &file).await?,
            None => {
                let specs = manifest
                    .state_schema
                    .iter()
                    .chain(manifest.nodes.iter().filter_map(|n| n.update_schema.as_ref()));
                if let Some(spec) = specs.into_iter().find(|s| matches!(s.source, SchemaSource::File(_))) {
                    return Err(remote(
                        spec.at,
                        spec.field.clone(),
                        "a workflow sent over the API must give its schemas inline",
                    ));
                }
            }
        }
        for (index, spec) in manifest.nodes.iter_mut().enumerate() {
            if base.is_none() && !spec.fixtures.is_empty() {
                return Err(remote(
                    spec.component_at,
                    format!("nodes[{index}].fixtures"),
                    "fixtures name host directories: not allowed in a workflow sent over the API",
                ));
            }
            for f in &mut spec.fixtures {
                *f = resolve_fixture(base.unwrap_or(Path::new(".")), f).map_err(|message| ManifestError {
                    file: file.clone(),
                    at: spec.component_at,
                    field: Some(format!("nodes[{index}].fixtures.\"{}\"", f.guest)),
                    message,
                })?;
            }
            if spec.limits.fuel.is_some() && !self.runtime.meters_fuel() {
                let message = "a fuel limit needs fuel metering, which this engine has switched off".into();
                return Err(ManifestError {
                    file: file.clone(),
                    at: spec.component_at,
                    field: Some(format!("nodes[{index}].limits.fuel")),
                    message,
                }
                .into());
            }
            if let Err(p) = self.config.check_ceilings(&spec.limits) {
                return Err(ManifestError {
                    file: file.clone(),
                    at: spec.component_at,
                    field: Some(format!("nodes[{index}].limits.{}", p.limit)),
                    message: p.to_string(),
                }
                .into());
            }
        }
        let (state_schema, update_schemas) = compile_schemas(&manifest, &file)?;
        let mut nodes = Vec::with_capacity(manifest.nodes.len());
        // Nodes naming the same component with the same network share one read and one
        // preparation: a 400-node workflow of one component loads it once, not 400 times.
        let mut first_of: HashMap<(&str, Network), usize> = HashMap::new();
        for (index, spec) in manifest.nodes.iter().enumerate() {
            if let Some(&first) = first_of.get(&(spec.component.as_str(), spec.network)) {
                let same: &LoadedNode = &nodes[first];
                let (bytes, prepared) = (same.bytes.clone(), same.prepared.clone());
                let update_schema = update_schemas[index].clone();
                nodes.push(LoadedNode { spec: spec.clone(), bytes, prepared, update_schema });
                continue;
            }
            let component = base.map_or_else(|| PathBuf::from(&spec.component), |b| b.join(&spec.component));
            let bytes: Arc<[u8]> = match base {
                Some(_) => tokio::fs::read(&component)
                    .await
                    .map_err(|source| LoadError::ComponentRead {
                        file: file.clone(),
                        at: spec.component_at,
                        index,
                        path: component.clone(),
                        source,
                    })?
                    .into(),
                None => self
                    .uploaded_component(&spec.component)
                    .await
                    .map_err(|m| remote(spec.component_at, format!("nodes[{index}].component"), &m))?,
            };
            let prepared = self.runtime.prepare(bytes.clone(), spec.network).await.map_err(|source| {
                LoadError::Component {
                    file: file.clone(),
                    at: spec.component_at,
                    index,
                    path: component.clone(),
                    source,
                }
            })?;
            first_of.insert((spec.component.as_str(), spec.network), nodes.len());
            nodes.push(LoadedNode {
                spec: spec.clone(),
                bytes,
                prepared,
                update_schema: update_schemas[index].clone(),
            });
        }
        let digests: Vec<String> = nodes.iter().map(|n| n.prepared.digest().to_hex()).collect();
        let definition = serde_json::to_value(Definition::of(&manifest, &digests)).unwrap_or(Value::Null);
        let digest = Digest::of(definition.to_string().as_bytes());
        Ok(LoadedWorkflow { manifest, nodes, definition, digest, state_schema })
    }

    /// This tenant's uploaded component named `sha256:<hex>`.
    pub(crate) async fn uploaded_component(&self, name: &str) -> Result<Arc<[u8]>, String> {
        let hex = name.strip_prefix("sha256:").ok_or_else(|| {
            format!("`{name}`: name an uploaded component as sha256:<hex> (POST /components)")
        })?;
        let digest: Digest = hex.parse().map_err(|e| format!("`{name}`: {e}"))?;
        match self.db.components().get_one(self.tenant, &digest).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(format!("no uploaded component {digest} (POST /components first)")),
            Err(e) => return Err(e.to_string()),
        }
        let (cas, tenant) = (self.cas.clone(), self.tenant);
        match super::blocking(move || cas.read(tenant, &digest)).await {
            Ok(Ok(bytes)) => Ok(bytes.into()),
            Ok(Err(e)) => Err(format!("component {digest}: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Checks `bytes` is a node (or command) component and stores it for this tenant; returns
    /// its digest and kind. Sockets are allowed here (`network = "deny"` nodes need them); a
    /// workflow using it without that setting is refused when it loads.
    pub async fn upload_component(&self, bytes: Vec<u8>) -> Result<(Digest, &'static str), ComponentError> {
        let bytes: Arc<[u8]> = bytes.into();
        let prepared = self.runtime.prepare(bytes.clone(), Network::Deny).await?;
        let digest = prepared.digest();
        let stored = async {
            self.store_component(digest, bytes.clone()).await?;
            let mut work = wtb_store::db::UnitOfWork::new();
            self.component_rows_into(&mut work, digest, bytes.len() as u64, self.clock.now());
            self.write_alone(work).await
        };
        stored.await.map_err(|e| ComponentError::Task(e.to_string()))?;
        Ok((digest, prepared.kind()))
    }

    /// The tenant's registered workflow `id`, ready to run (components from the CAS).
    pub async fn registered_workflow(
        &self,
        id: wtb_core::model::WorkflowId,
    ) -> Result<LoadedWorkflow, ExecError> {
        let record =
            self.db.workflows().get_one(self.tenant, id).await?.ok_or(ExecError::UnknownWorkflow(id))?;
        self.load_stored(&record).await
    }

    /// The tenant's workflows (every one registered or run), newest first.
    pub async fn workflows(&self, limit: u32) -> Result<Vec<WorkflowRecord>, ExecError> {
        Ok(self.db.workflows().list(self.tenant, limit).await?)
    }

    /// Rebuilds an execution's workflow from its stored definition, components read back
    /// from the CAS: a resume runs exactly what the execution started with.
    pub(crate) async fn load_stored(&self, record: &WorkflowRecord) -> Result<LoadedWorkflow, ExecError> {
        let bad =
            |e: String| ExecError::StoredWorkflow(format!("`{}` ({}): {e}", record.name, record.digest));
        let def: Definition =
            serde_json::from_value(record.definition.clone()).map_err(|e| bad(e.to_string()))?;
        let manifest = def.to_manifest().map_err(|p| bad(p.message))?;
        let (state_schema, update_schemas) =
            compile_schemas(&manifest, "stored").map_err(|e| bad(e.to_string()))?;
        let mut nodes = Vec::with_capacity(manifest.nodes.len());
        for ((spec, stored), update_schema) in manifest.nodes.iter().zip(&def.nodes).zip(update_schemas) {
            let digest: Digest =
                stored.component.parse().map_err(|e| bad(format!("node `{}`: {e}", spec.id)))?;
            let (cas, tenant) = (self.cas.clone(), self.tenant);
            let bytes: Arc<[u8]> = super::blocking(move || cas.read(tenant, &digest))
                .await?
                .map_err(|e| bad(format!("component of node `{}` ({digest}): {e}", spec.id)))?
                .into();
            let prepared = self
                .runtime
                .prepare(bytes.clone(), spec.network)
                .await
                .map_err(|e| bad(format!("node `{}`: {e}", spec.id)))?;
            nodes.push(LoadedNode { spec: spec.clone(), bytes, prepared, update_schema });
        }
        Ok(LoadedWorkflow {
            manifest,
            nodes,
            definition: record.definition.clone(),
            digest: record.digest,
            state_schema,
        })
    }

    pub(crate) fn workflow_record(&self, wf: &LoadedWorkflow) -> WorkflowRecord {
        WorkflowRecord {
            id: wtb_core::model::WorkflowId::from_uuid(self.ids.next()),
            tenant: self.tenant,
            name: wf.manifest.name.clone(),
            digest: wf.digest,
            definition: wf.definition.clone(),
            created_at: self.clock.now(),
        }
    }
}

/// A fixture with its host directory made absolute (relative to `base`) and checked to be a
/// directory, so a stored workflow names the same directory wherever it is resumed from.
pub(crate) fn resolve_fixture(base: &Path, f: &Fixture) -> Result<Fixture, String> {
    wtb_core::workflow::check_mount_point(&f.guest)?;
    let host = base.join(&f.host);
    let host =
        std::fs::canonicalize(&host).map_err(|e| format!("fixture directory `{}`: {e}", host.display()))?;
    if !host.is_dir() {
        return Err(format!("fixture `{}` is not a directory", host.display()));
    }
    Ok(Fixture { guest: f.guest.clone(), host: host.display().to_string() })
}

/// Replaces every schema that names a file with the file's JSON, so the stored definition
/// holds the schema itself.
async fn resolve_schema_files(manifest: &mut Manifest, base: &Path, file: &str) -> Result<(), ManifestError> {
    let specs = manifest
        .state_schema
        .iter_mut()
        .chain(manifest.nodes.iter_mut().filter_map(|n| n.update_schema.as_mut()));
    for spec in specs {
        resolve_schema(spec, base, file).await?;
    }
    Ok(())
}

/// Reads the JSON file `spec` names (relative to `base`) into it; `file` names the document
/// that refers to it in errors.
pub(crate) async fn resolve_schema(
    spec: &mut SchemaSpec,
    base: &Path,
    file: &str,
) -> Result<(), ManifestError> {
    let SchemaSource::File(name) = &spec.source else { return Ok(()) };
    let path = base.join(name);
    let fail = |message: String| ManifestError {
        file: file.to_owned(),
        at: spec.at,
        field: Some(spec.field.clone()),
        message,
    };
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?;
    let value =
        serde_json::from_str(&text).map_err(|e| fail(format!("`{}` is not JSON: {e}", path.display())))?;
    spec.source = SchemaSource::Inline(value);
    Ok(())
}

/// Compiles a resolved schema; `file` names the document that holds it in errors.
pub(crate) fn compile_schema(spec: &SchemaSpec, file: &str) -> Result<Arc<Schema>, ManifestError> {
    let fail = |message: String| ManifestError {
        file: file.to_owned(),
        at: spec.at,
        field: Some(spec.field.clone()),
        message,
    };
    let value = spec.inline().ok_or_else(|| fail("schema file not read".into()))?;
    Schema::compile(value).map(Arc::new).map_err(|e| fail(format!("not a usable JSON Schema: {e}")))
}

type Schemas = (Option<Arc<Schema>>, Vec<Option<Arc<Schema>>>);

/// Compiles the (resolved) state schema and each node's update schema.
fn compile_schemas(manifest: &Manifest, file: &str) -> Result<Schemas, ManifestError> {
    let compile = |spec: &Option<SchemaSpec>| spec.as_ref().map(|s| compile_schema(s, file)).transpose();
    let state = compile(&manifest.state_schema)?;
    let nodes = manifest.nodes.iter().map(|n| compile(&n.update_schema)).collect::<Result<_, _>>()?;
    Ok((state, nodes))
}
