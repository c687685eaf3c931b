//! Running experiments: each cell (variant × environment × repetition) is an ordinary
//! execution of the workflow with the variant's and environment's overrides applied, tagged
//! with its cell; a resumed run starts only the cells that have no execution yet and resumes
//! the ones that were interrupted. The report compares the cells' final checkpoints.
//!
//! A sibling of the execution protocol built on its public operations (run, fork through
//! [`crate::travel`], resume): `report.rs` compares, `remote.rs` takes experiments sent over
//! the API.

mod error;
mod progress;
mod remote;
mod report;

pub use error::ExperimentError;
pub use progress::{CellProgress, Progress};
pub use remote::API_FILE;

use crate::executor::load::{LoadError, LoadedWorkflow, resolve_fixture};
use crate::executor::overridden::environment_overrides;
use crate::executor::{Executor, ForkOptions, RunOptions};
use crate::travel::NewComponent;
use futures_util::StreamExt as _;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wtb_core::experiment::ExperimentSpec;
use wtb_core::model::{CellTag, CheckpointId, Environment, ExecutionId, ExecutionStatus, ExperimentId};
use wtb_core::workflow::{ManifestError, Overrides};
use wtb_store::db::{ExperimentRecord, UnitOfWork, Write};

/// An experiment file with its workflow and every variant's components loaded and checked.
pub struct LoadedExperiment {
    /// The validated file.
    pub spec: ExperimentSpec,
    /// Its path.
    pub file: PathBuf,
    /// The workflow every cell runs (before overrides).
    pub workflow: LoadedWorkflow,
    /// Each variant's component files, compiled and checked (path as written → node).
    components: HashMap<String, (Arc<[u8]>, wtb_runtime::PreparedNode)>,
}

impl LoadedExperiment {
    /// Assembles a checked experiment (its components by name as written).
    pub(crate) fn new(
        spec: ExperimentSpec,
        file: PathBuf,
        workflow: LoadedWorkflow,
        components: HashMap<String, (Arc<[u8]>, wtb_runtime::PreparedNode)>,
    ) -> Self {
        Self { spec, file, workflow, components }
    }
}

/// One finished (or stopped) cell, as the run reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CellDone {
    /// Which cell.
    pub cell: CellTag,
    /// Its execution.
    pub execution: ExecutionId,
    /// How it ended.
    pub status: ExecutionStatus,
}

/// Experiments for one host and tenant; from [`Executor::experiments`].
pub struct Experiments<'a> {
    exec: &'a Executor,
}

impl Executor {
    /// Loading, recording, running and reporting experiments (see [`crate::experiments`]).
    pub fn experiments(&self) -> Experiments<'_> {
        Experiments { exec: self }
    }
}

impl Experiments<'_> {
    /// Reads and checks an experiment file, its workflow and the variants' components: every
    /// error before any cell runs, located in the file that has it.
    pub async fn load(&self, path: &Path) -> Result<LoadedExperiment, ExperimentError> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        let file = path.display().to_string();
        let spec = ExperimentSpec::parse(&file, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let workflow = self.exec.load_workflow(&base.join(&spec.workflow)).await?;
        spec.check_against(&file, &workflow.manifest)?;
        self.check_environment_ceilings(&file, &spec, &workflow)?;
        let mut components = HashMap::new();
        for v in &spec.variants {
            for (node, change) in &v.nodes {
                let Some(c) = &change.component else { continue };
                let network = workflow.manifest.network_of(node);
                let p = base.join(c);
                let at = v.at;
                let bytes: Arc<[u8]> = tokio::fs::read(&p)
                    .await
                    .map_err(|source| LoadError::ComponentRead {
                        file: file.clone(),
                        at,
                        index: 0,
                        path: p.clone(),
                        source,
                    })?
                    .into();
                let prepared = self.exec.runtime.prepare(bytes.clone(), network).await.map_err(|source| {
                    LoadError::Component { file: file.clone(), at, index: 0, path: p.clone(), source }
                })?;
                components.insert(c.clone(), (bytes, prepared));
            }
        }
        for e in &spec.environments {
            for f in &e.fixtures {
                resolve_fixture(base, f).map_err(|message| ManifestError {
                    file: file.clone(),
                    at: e.at,
                    field: Some(format!("environments.{}.fixtures", e.name)),
                    message,
                })?;
            }
        }
        Ok(LoadedExperiment::new(spec, path.to_owned(), workflow, components))
    }

    /// Refuses an environment whose limits, over any node's own, pass the operator's
    /// ceilings, before any cell runs.
    pub(crate) fn check_environment_ceilings(
        &self,
        file: &str,
        spec: &ExperimentSpec,
        workflow: &LoadedWorkflow,
    ) -> Result<(), ExperimentError> {
        for e in &spec.environments {
            if let Err((node, p)) = self.exec.config.check_ceilings_over(&e.limits, &workflow.manifest) {
                return Err(ManifestError {
                    file: file.to_owned(),
                    at: e.at,
                    field: Some(format!("environments.{}.limits.{}", e.name, p.limit)),
                    message: format!("node `{node}`: {p}"),
                }
                .into());
            }
        }
        Ok(())
    }

    /// The checkpoint the cells fork from, checked to be this tenant's and live.
    async fn start(&self, loaded: &LoadedExperiment) -> Result<Option<CheckpointId>, ExperimentError> {
        let Some(from) = &loaded.spec.from else { return Ok(None) };
        let id: CheckpointId =
            from.parse().map_err(|reason| ExperimentError::BadFrom { value: from.clone(), reason })?;
        self.exec.checkpoint_of_tenant(id).await?;
        self.exec.require_live(id).await?;
        Ok(Some(id))
    }

    /// Records a new experiment (its cells run with [`Experiments::run`]), after
    /// checking the checkpoint it starts from.
    pub async fn create(&self, loaded: &LoadedExperiment) -> Result<ExperimentRecord, ExperimentError> {
        self.start(loaded).await?;
        let record = ExperimentRecord {
            id: ExperimentId::from_uuid(self.exec.ids.next()),
            tenant: self.exec.tenant,
            name: loaded.spec.name.clone(),
            spec: loaded.spec.clone(),
            file: loaded.file.display().to_string(),
            created_at: self.exec.clock.now(),
        };
        self.exec.write_alone(UnitOfWork::one(Write::Experiment(record.clone()))).await?;
        Ok(record)
    }

    /// The tenant's experiment `id`.
    pub async fn get(&self, id: ExperimentId) -> Result<ExperimentRecord, ExperimentError> {
        self.exec.db.experiments().get_one(self.exec.tenant, id).await?.ok_or(ExperimentError::Unknown(id))
    }

    /// The tenant's experiments, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<ExperimentRecord>, ExperimentError> {
        Ok(self.exec.db.experiments().list(self.exec.tenant, limit).await?)
    }

    /// Runs every cell of `experiment` that has not finished, `parallelism` at a time; calls
    /// `done` as each ends. Cells already finished are not run again; interrupted ones resume;
    /// `stop` (checked before each cell starts) ends the run early, leaving the rest pending.
    pub async fn run(
        &self,
        loaded: &LoadedExperiment,
        experiment: &ExperimentRecord,
        parallelism: usize,
        stop: &(dyn Fn() -> bool + Sync),
        done: &(dyn Fn(&CellDone) + Sync),
    ) -> Result<Vec<CellDone>, ExperimentError> {
        let existing = self.cell_executions(experiment.id).await?;
        let from = self.start(loaded).await?;
        let from = &from;
        let cells = loaded.spec.cells();
        let runs = futures_util::stream::iter(cells.into_iter().map(|(variant, environment, repetition)| {
            let tag = CellTag { experiment: experiment.id, variant, environment, repetition };
            let known =
                existing.get(&(tag.variant.clone(), tag.environment.clone(), tag.repetition)).copied();
            async move {
                if stop() {
                    return Ok(None);
                }
                let (execution, status) = match known {
                    Some((id, status)) if status.is_final() => (id, status),
                    Some((id, _)) => (id, self.exec.resume(id, 4).await?.status),
                    None => {
                        let env = loaded
                            .spec
                            .environments
                            .iter()
                            .find(|e| e.name == tag.environment)
                            .expect("a cell's environment exists");
                        match &from {
                            // From a checkpoint: a fork of it with the cell's changes, then run.
                            Some(cp) => {
                                let (overrides, prepared) = self.cell_overrides(loaded, &tag)?;
                                let environment =
                                    Environment { seed: env.seed, clock: env.clock, cell: Some(tag.clone()) };
                                let opts = ForkOptions {
                                    overrides,
                                    prepared,
                                    environment: Some(environment),
                                    variant: Some(tag.variant.clone()),
                                    ..ForkOptions::default()
                                };
                                let fork = self.exec.travel().fork(*cp, &opts).await?;
                                (fork.execution, self.exec.resume(fork.execution, 4).await?.status)
                            }
                            None => {
                                let wf = self.cell_workflow(loaded, &tag)?;
                                let opts = RunOptions {
                                    seed: env.seed,
                                    clock: env.clock,
                                    variant: Some(tag.variant.clone()),
                                    cell: Some(tag.clone()),
                                    ..RunOptions::default()
                                };
                                let s = self.exec.run_with(&wf, Default::default(), &opts).await?;
                                (s.execution, s.status)
                            }
                        }
                    }
                };
                let cell = CellDone { cell: tag, execution, status };
                done(&cell);
                Ok::<_, ExperimentError>(Some(cell))
            }
        }))
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<_>>()
        .await;
        runs.into_iter().filter_map(Result::transpose).collect()
    }

    /// The experiment's cells that have an execution: (variant, environment, repetition) →
    /// (execution, status).
    pub(crate) async fn cell_executions(
        &self,
        id: ExperimentId,
    ) -> Result<BTreeMap<(String, String, u32), (ExecutionId, ExecutionStatus)>, ExperimentError> {
        let mut out = BTreeMap::new();
        for e in self.exec.db.experiments().cells(self.exec.tenant, id).await? {
            let exec = self.exec.execution_of_tenant(e).await?;
            if let Some(c) = exec.environment.cell {
                out.insert((c.variant, c.environment, c.repetition), (exec.id, exec.status));
            }
        }
        Ok(out)
    }

    /// What one cell changes: the variant's components and configs, the environment's env
    /// vars, limits and fixtures; with the variant's components (node, digest, bytes).
    fn cell_overrides(
        &self,
        loaded: &LoadedExperiment,
        cell: &CellTag,
    ) -> Result<(Overrides, Vec<NewComponent>), ExperimentError> {
        let spec = &loaded.spec;
        let variant = spec.variants.iter().find(|v| v.name == cell.variant).expect("a cell's variant exists");
        let env = spec
            .environments
            .iter()
            .find(|e| e.name == cell.environment)
            .expect("a cell's environment exists");
        let base_dir = loaded.file.parent().unwrap_or(Path::new("."));
        let mut overrides = environment_overrides(base_dir, env)
            .map_err(|problem| ExperimentError::BadFixture { environment: env.name.clone(), problem })?;
        let mut components = Vec::new();
        for (node, change) in &variant.nodes {
            if let Some(config) = &change.config {
                overrides.node_config.push((node.clone(), config.clone()));
            }
            if let Some(c) = &change.component {
                let (bytes, prepared) = &loaded.components[c];
                overrides.node_component.push((node.clone(), prepared.digest().to_hex()));
                components.push((node.clone(), prepared.digest(), bytes.clone()));
            }
        }
        Ok((overrides, components))
    }

    /// The workflow one cell runs when it starts from scratch: the experiment's with the
    /// cell's overrides.
    fn cell_workflow(
        &self,
        loaded: &LoadedExperiment,
        cell: &CellTag,
    ) -> Result<LoadedWorkflow, ExperimentError> {
        let (overrides, _) = self.cell_overrides(loaded, cell)?;
        let variant =
            loaded.spec.variants.iter().find(|v| v.name == cell.variant).expect("a cell's variant exists");
        let components = variant
            .nodes
            .iter()
            .filter_map(|(node, change)| {
                Some((node.clone(), loaded.components[change.component.as_ref()?].clone()))
            })
            .collect();
        Ok(loaded.workflow.with_overrides(&overrides, &components)?)
    }
}
