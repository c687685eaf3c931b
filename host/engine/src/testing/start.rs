//! Where a case starts: the workflow it names (a file, or over the API a registered
//! workflow's id), the checkpoint or bundle it forks, and its run to the end.

use super::LoadedCase;
use crate::executor::{ExecError, Executor, ForkOptions, LoadedWorkflow, RunOptions, RunSummary};
use std::path::Path;
use wtb_core::model::{CheckpointId, Environment, WorkflowId};
use wtb_core::testing::Start;

impl Executor {
    /// The workflow a case names: a manifest relative to `dir`, or (no `dir`: over the API) a
    /// registered workflow's id.
    pub(super) async fn case_workflow(
        &self,
        name: &str,
        dir: Option<&Path>,
    ) -> Result<LoadedWorkflow, String> {
        match dir {
            Some(dir) => self.load_workflow(&dir.join(name)).await.map_err(|e| e.to_string()),
            None => {
                let id: WorkflowId = name.parse().map_err(|e: wtb_core::model::IdParseError| {
                    format!("{e}: over the API, `workflow` is a registered workflow's id (POST /workflows)")
                })?;
                self.registered_workflow(id).await.map_err(|e| e.to_string())
            }
        }
    }

    /// Checks that checkpoint `from` is this tenant's, live, and of the workflow `name`.
    pub(super) async fn check_start(&self, from: CheckpointId, name: &str) -> Result<(), String> {
        let (_, parent) = self.checkpoint_of_tenant(from).await.map_err(|e| e.to_string())?;
        self.require_live(from).await.map_err(|e| e.to_string())?;
        let record =
            self.db.workflows().get_one(self.tenant, parent.workflow).await.map_err(|e| e.to_string())?;
        match record {
            Some(r) if r.name == name => Ok(()),
            Some(r) => Err(format!("checkpoint {from} is of workflow `{}`, not `{name}`", r.name)),
            None => Err(format!("checkpoint {from}: its workflow is not stored")),
        }
    }

    /// Checks that the bundle at `path` would import, names a point, and is of workflow `name`.
    pub(super) async fn check_bundle(&self, written: &str, path: &Path, name: &str) -> Result<(), String> {
        if !path.is_file() {
            return Err(format!(
                "`{written}` is neither a checkpoint id nor a bundle file ({} is not a file)",
                path.display()
            ));
        }
        let (header, workflow) = self.bundles().verify(path).await.map_err(|e| e.to_string())?;
        if header.point.is_none() {
            let message = "was exported from an execution, not a checkpoint: a case starts from a bundle's point (`wtb bundle export <checkpoint>`)";
            return Err(format!("{}: {message}", path.display()));
        }
        if workflow != name {
            return Err(format!("{}: the bundle is of workflow `{workflow}`, not `{name}`", path.display()));
        }
        Ok(())
    }

    /// Runs the case's execution to its end: from the entry node, or a fork of `from` (a
    /// bundle's point once imported) resumed, with the case's state, environment and stubs.
    pub(super) async fn start_case(&self, loaded: &LoadedCase, dir: &Path) -> Result<RunSummary, String> {
        let case = &loaded.case;
        let variant = Some(format!("test: {}", case.name));
        let env = &case.environment;
        let from = match &case.from {
            None => None,
            Some(Start::Checkpoint(id)) => Some(*id),
            Some(Start::Bundle(file)) => {
                let imported =
                    self.bundles().import(&dir.join(file), false).await.map_err(|e| e.to_string())?;
                imported.point
            }
        };
        let Some(from) = from else {
            let opts = RunOptions { seed: env.seed, clock: env.clock, variant, ..RunOptions::default() };
            let run = self.run_with(&loaded.workflow, case.state.clone(), &opts).await;
            return run.map_err(|e: ExecError| e.to_string());
        };
        let opts = ForkOptions {
            state_patch: (!case.state.is_empty()).then(|| serde_json::Value::Object(case.state.clone())),
            overrides: loaded.overrides.clone(),
            prepared: loaded.prepared.clone(),
            environment: Some(Environment { seed: env.seed, clock: env.clock, cell: None }),
            variant,
            ..ForkOptions::default()
        };
        let fork = self.travel().fork(from, &opts).await.map_err(|e| e.to_string())?;
        self.resume(fork.execution, 4).await.map_err(|e| e.to_string())
    }
}
