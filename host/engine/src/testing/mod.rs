//! `wtb test`: the cases of a test file ([`wtb_core::testing`]) loaded — every workflow read,
//! every node a case names, its stubs, environment, schema and starting checkpoint checked
//! before anything runs — then each run as its own execution, tagged with the case's name as
//! its variant, and checked ([`observe`]).
//!
//! A case's stubs and environment are overrides of its workflow: stubbed nodes run the stub
//! component (`examples/nodes/stub`, embedded in `wtb`) with the stub as config, so a stubbed
//! run is an ordinary recorded execution that `wtb show`, `diff` and `replay` read as any.

mod golden;
mod observe;
mod start;

use crate::executor::load::{compile_schema, resolve_schema};
use crate::executor::overridden::{Component, environment_overrides};
use crate::executor::{Executor, LoadedWorkflow};
use crate::travel::NewComponent;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use wtb_core::testing::report::CaseResult;
use wtb_core::testing::{Case, Start, TestFile};
use wtb_core::workflow::{ManifestError, Overrides, Position};

/// A test file's cases, each ready to run.
pub struct LoadedTests {
    /// The file as given.
    pub file: String,
    /// Its directory, which the cases' paths are relative to.
    pub dir: PathBuf,
    /// Its cases, in file order.
    pub cases: Vec<LoadedCase>,
}

/// One case with what it runs.
pub struct LoadedCase {
    /// The case (its schema, if any, read from its file).
    pub case: Case,
    /// The file's workflow with the case's stubs and environment applied.
    pub workflow: LoadedWorkflow,
    /// The same changes, for a fork of `case.from`.
    overrides: Overrides,
    /// The stub component, per stubbed node, for a fork to store.
    prepared: Vec<NewComponent>,
}

impl Executor {
    /// Reads and validates the test file at `path`: its cases, their workflows (relative to
    /// the file), every node a case names, stubs (run by the component `stub`), environments
    /// (fixtures, limits against the operator's ceilings), schemas, starting checkpoints and
    /// (unless `update` will write them) golden directories. `Err` says where, by file, line
    /// and field.
    pub async fn load_tests(
        &self,
        path: &Path,
        update: bool,
        stub: &Arc<[u8]>,
    ) -> Result<LoadedTests, ManifestError> {
        let file = path.display().to_string();
        let text = tokio::fs::read_to_string(path).await.map_err(|e| ManifestError {
            file: file.clone(),
            at: Position { line: 1, column: 1 },
            field: Some("file".into()),
            message: e.to_string(),
        })?;
        self.load_cases(file, &text, Some(path.parent().unwrap_or(Path::new("."))), update, stub).await
    }

    /// A test file sent over the API (`name` labels its errors): each case's `workflow` is a
    /// registered workflow's id, and nothing may name the host's files — no fixtures, golden
    /// snapshots, schema files or bundle files.
    pub async fn load_tests_text(
        &self,
        name: &str,
        text: &str,
        stub: &Arc<[u8]>,
    ) -> Result<LoadedTests, ManifestError> {
        self.load_cases(name.to_owned(), text, None, false, stub).await
    }

    /// The cases of `text`; `dir`: the file's directory (`None`: sent over the API).
    async fn load_cases(
        &self,
        file: String,
        text: &str,
        dir: Option<&Path>,
        update: bool,
        stub: &Arc<[u8]>,
    ) -> Result<LoadedTests, ManifestError> {
        let located = |at: Position, field: String, message: String| ManifestError {
            file: file.clone(),
            at,
            field: Some(field),
            message,
        };
        let tests = TestFile::parse(&file, text)?;
        let host_only = |what: &str| format!("{what} name the host's files: not in a test sent over the API");
        let mut cases = Vec::with_capacity(tests.cases.len());
        // Cases of one file usually share a workflow: it is read and prepared once.
        let mut workflows: HashMap<String, LoadedWorkflow> = HashMap::new();
        let mut stub_component: Option<Component> = None;
        for (i, mut case) in tests.cases.into_iter().enumerate() {
            let field = |f: &str| format!("case[{i}].{f}");
            let wf = match workflows.get(&case.workflow) {
                Some(wf) => wf.clone(),
                None => {
                    let wf = self
                        .case_workflow(&case.workflow, dir)
                        .await
                        .map_err(|message| located(case.at, field("workflow"), message))?;
                    workflows.insert(case.workflow.clone(), wf.clone());
                    wf
                }
            };
            match (dir, &case.expect.golden) {
                (Some(dir), Some(g)) if !update && !dir.join(g).join("state.json").is_file() => {
                    let message =
                        format!("golden snapshot `{g}` does not exist: `wtb test --update` writes it");
                    return Err(located(case.golden_at, field("expect.golden"), message));
                }
                (None, Some(_)) => {
                    return Err(located(
                        case.golden_at,
                        field("expect.golden"),
                        host_only("golden snapshots"),
                    ));
                }
                _ => {}
            }
            for (node, f, at) in &case.node_refs {
                if wf.manifest.graph.node(node).is_none() {
                    let message = format!("workflow `{}` has no node `{node}`", wf.manifest.name);
                    return Err(located(*at, field(f), message));
                }
            }
            if let Some(spec) = &mut case.expect.schema {
                match dir {
                    Some(dir) => resolve_schema(spec, dir, &file).await?,
                    None if spec.inline().is_none() => {
                        return Err(located(spec.at, field("expect.schema"), host_only("schema files")));
                    }
                    None => {}
                }
                compile_schema(spec, &file)?;
            }
            let env = &case.environment;
            env.check_fixtures_against(&file, &wf.manifest, field("fixtures"))?;
            if dir.is_none() && !env.fixtures.is_empty() {
                return Err(located(case.at, field("fixtures"), host_only("fixtures")));
            }
            let mut overrides = environment_overrides(dir.unwrap_or(Path::new(".")), env)
                .map_err(|message| located(case.at, field("fixtures"), message))?;
            if let Err((node, p)) = self.config.check_ceilings_over(&env.limits, &wf.manifest) {
                let message = format!("node `{node}`: {p}");
                return Err(located(case.at, field(&format!("limits.{}", p.limit)), message));
            }
            let mut components = BTreeMap::new();
            let mut prepared = Vec::new();
            for (node, s) in &case.stubs {
                let at =
                    case.node_refs.iter().find(|r| r.1 == "stub" && r.0 == *node).map_or(case.at, |r| r.2);
                let index = wf.manifest.graph.node(node).expect("checked above");
                if let Err(e) = wf.manifest.graph.route(index, s.route.as_deref()) {
                    return Err(located(at, field(&format!("stub.{node}.route")), e.to_string()));
                }
                let component = match &stub_component {
                    Some(c) => c.clone(),
                    None => {
                        let network = wf.manifest.network_of(node);
                        let p = self.runtime.prepare(stub.clone(), network).await.map_err(|e| {
                            located(at, field(&format!("stub.{node}")), format!("the stub component {e}"))
                        })?;
                        stub_component.insert((stub.clone(), p)).clone()
                    }
                };
                overrides.node_config.push((node.clone(), s.config()));
                overrides.node_component.push((node.clone(), component.1.digest().to_hex()));
                prepared.push((node.clone(), component.1.digest(), stub.clone()));
                components.insert(node.clone(), component);
            }
            match &case.from {
                None => {}
                Some(Start::Checkpoint(from)) => self
                    .check_start(*from, &wf.manifest.name)
                    .await
                    .map_err(|message| located(case.from_at, field("from"), message))?,
                Some(Start::Bundle(name)) => match dir {
                    Some(dir) => self.check_bundle(name, &dir.join(name), &wf.manifest.name).await,
                    None => Err(host_only("bundle files")),
                }
                .map_err(|message| located(case.from_at, field("from"), message))?,
            }
            let workflow = wf
                .with_overrides(&overrides, &components)
                .map_err(|e| located(case.at, field("workflow"), e.to_string()))?;
            cases.push(LoadedCase { case, workflow, overrides, prepared });
        }
        Ok(LoadedTests { file, dir: dir.map(Path::to_owned).unwrap_or_default(), cases })
    }

    /// Runs one case and checks what it did; a run the host could not make is a failed case
    /// saying why. With `update`, the case's golden snapshot is (re)written from the run.
    pub async fn run_case(&self, loaded: &LoadedCase, dir: &Path, update: bool) -> CaseResult {
        let started = Instant::now();
        let case = &loaded.case;
        let golden = case.expect.golden.as_ref().map(|g| dir.join(g));
        let (execution, failures) = match self.start_case(loaded, dir).await {
            Ok(s) => {
                let golden = golden.as_deref().map(|g| (g, update));
                let seen = self.observe(case, s.execution, s.status, &s.state, golden).await;
                (Some(s.execution), seen.map_err(|e| e.to_string()))
            }
            Err(e) => (None, Err(e)),
        };
        let failures = failures.unwrap_or_else(|e| vec![format!("the case could not run: {e}")]);
        CaseResult {
            name: case.name.clone(),
            execution,
            passed: failures.is_empty(),
            failures,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}
