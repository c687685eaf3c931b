//! Experiments sent over the API: the file's `workflow` is a registered workflow's id and its
//! variants' components are uploads (`sha256:<digest>`); nothing names the host's files. The
//! stored spec is then all a server needs to run (or, after a restart, continue) it.

use super::{ExperimentError, Experiments, LoadedExperiment};
use crate::executor::ExecError;
use crate::executor::load::LoadError;
use std::collections::HashMap;
use std::path::PathBuf;
use wtb_core::experiment::ExperimentSpec;
use wtb_core::model::WorkflowId;
use wtb_core::workflow::{ManifestError, Position};
use wtb_store::db::ExperimentRecord;

/// What an API experiment's record names as its file.
pub const API_FILE: &str = "api";

impl Experiments<'_> {
    /// Parses and checks an experiment sent as text (see the module doc).
    pub async fn load_text(&self, text: &str) -> Result<LoadedExperiment, ExperimentError> {
        let spec = ExperimentSpec::parse("experiment", text)?;
        self.load_stored(spec).await
    }

    /// An API experiment's spec with its workflow and components loaded from the store.
    pub async fn load_stored(&self, spec: ExperimentSpec) -> Result<LoadedExperiment, ExperimentError> {
        let fail = |at: Position, field: String, message: String| {
            LoadError::from(ManifestError { file: "experiment".into(), at, field: Some(field), message })
        };
        let start = Position { line: 1, column: 1 };
        let id: WorkflowId = spec.workflow.parse().map_err(|e: wtb_core::model::IdParseError| {
            fail(
                start,
                "workflow".into(),
                format!("{e}: over the API, `workflow` is a registered workflow's id (POST /workflows)"),
            )
        })?;
        let workflow = self
            .exec
            .registered_workflow(id)
            .await
            .map_err(|e| fail(start, "workflow".into(), e.to_string()))?;
        spec.check_against("experiment", &workflow.manifest)?;
        self.check_environment_ceilings("experiment", &spec, &workflow)?;
        if let Some(e) = spec.environments.iter().find(|e| !e.fixtures.is_empty()) {
            return Err(fail(
                e.at,
                format!("environments.{}.fixtures", e.name),
                "fixtures name host directories: not allowed in an experiment sent over the API".into(),
            )
            .into());
        }
        let mut components = HashMap::new();
        for v in &spec.variants {
            for (node, change) in &v.nodes {
                let Some(c) = &change.component else { continue };
                let field = format!("variants.{}.nodes.{node}.component", v.name);
                let bytes =
                    self.exec.uploaded_component(c).await.map_err(|m| fail(v.at, field.clone(), m))?;
                let network = workflow.manifest.network_of(node);
                let prepared = self
                    .exec
                    .runtime
                    .prepare(bytes.clone(), network)
                    .await
                    .map_err(|e| fail(v.at, field, e.to_string()))?;
                components.insert(c.clone(), (bytes, prepared));
            }
        }
        Ok(LoadedExperiment::new(spec, PathBuf::from(API_FILE), workflow, components))
    }

    /// Runs an experiment's unfinished cells in the background (the server's way: nobody waits
    /// for the result; `GET /experiments/{id}/report` shows progress).
    pub fn run_detached(&self, loaded: LoadedExperiment, record: ExperimentRecord, parallelism: usize) {
        let exec = self.exec.for_tenant(self.exec.tenant);
        tokio::spawn(async move {
            match exec.experiments().run(&loaded, &record, parallelism, &|| false, &|_| {}).await {
                Ok(cells) => tracing::info!("experiment {}: {} cell(s) ran", record.id, cells.len()),
                Err(e) => tracing::warn!("experiment {}: {e}", record.id),
            }
        });
    }

    /// This tenant's API experiments with cells not yet finished, loaded to continue (a server
    /// restarted mid-experiment).
    pub async fn unfinished(&self) -> Result<Vec<(LoadedExperiment, ExperimentRecord)>, ExperimentError> {
        let mut out = Vec::new();
        for record in self.exec.db.experiments().list(self.exec.tenant, u32::MAX).await? {
            if record.file != API_FILE {
                continue;
            }
            let done = self
                .cell_executions(record.id)
                .await?
                .values()
                .filter(|(_, status)| status.is_final())
                .count();
            if done == record.spec.cells().len() {
                continue;
            }
            let loaded = self
                .load_stored(record.spec.clone())
                .await
                .map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
            out.push((loaded, record));
        }
        Ok(out)
    }
}
