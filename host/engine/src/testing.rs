//! `wtb test`: the cases of a test file ([`wtb_core::testing`]) loaded — every workflow read
//! and every node a case names checked before anything runs — then each run as its own
//! execution, tagged with the case's name as its variant, and checked.

use crate::executor::{ExecError, Executor, LoadedWorkflow, RunOptions};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wtb_core::model::{AttemptStatus, CheckpointId, EntryKind, FileTree};
use wtb_core::testing::check::{Observed, check};
use wtb_core::testing::golden::{Golden, check_golden, differing, ignored};
use wtb_core::testing::report::CaseResult;
use wtb_core::testing::{Case, TestFile};
use wtb_core::workflow::{ManifestError, Position};
use wtb_store::capture::BlobSource as _;

/// A test file's cases with their workflows loaded.
pub struct LoadedTests {
    /// The file as given.
    pub file: String,
    /// Its directory, which the cases' paths are relative to.
    pub dir: PathBuf,
    /// Each case and its workflow.
    pub cases: Vec<(Case, LoadedWorkflow)>,
}

/// Files a case checks by content are read when at most this large.
const CONTENT_MAX_BYTES: u64 = 1 << 20;

impl Executor {
    /// Reads and validates the test file at `path`: its cases, their workflows (relative to
    /// the file), every node a case names, and (unless `update` will write them) its golden
    /// directories. `Err` says where, by file, line and field.
    pub async fn load_tests(&self, path: &Path, update: bool) -> Result<LoadedTests, ManifestError> {
        let file = path.display().to_string();
        let located = |at: Position, field: String, message: String| ManifestError {
            file: file.clone(),
            at,
            field: Some(field),
            message,
        };
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| located(Position { line: 1, column: 1 }, "file".into(), e.to_string()))?;
        let tests = TestFile::parse(&file, &text)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut cases = Vec::with_capacity(tests.cases.len());
        // Cases of one file usually share a workflow: it is read and prepared once.
        let mut workflows: HashMap<&str, LoadedWorkflow> = HashMap::new();
        for (i, case) in tests.cases.iter().enumerate() {
            let wf = match workflows.get(case.workflow.as_str()) {
                Some(wf) => wf.clone(),
                None => {
                    let wf = self
                        .load_workflow(&dir.join(&case.workflow))
                        .await
                        .map_err(|e| located(case.at, format!("case[{i}].workflow"), e.to_string()))?;
                    workflows.insert(&case.workflow, wf.clone());
                    wf
                }
            };
            if let Some(g) = &case.expect.golden
                && !update
                && !dir.join(g).join("state.json").is_file()
            {
                let message = format!("golden snapshot `{g}` does not exist: `wtb test --update` writes it");
                return Err(located(case.golden_at, format!("case[{i}].expect.golden"), message));
            }
            for (node, field, at) in &case.node_refs {
                if wf.manifest.graph.node(node).is_none() {
                    let message = format!("workflow `{}` has no node `{node}`", wf.manifest.name);
                    return Err(located(*at, format!("case[{i}].{field}"), message));
                }
            }
            cases.push((case.clone(), wf));
        }
        Ok(LoadedTests { file, dir: dir.to_owned(), cases })
    }

    /// Runs one case and checks what it did; a run the host could not make is a failed case
    /// saying why. With `update`, the case's golden snapshot is (re)written from the run.
    pub async fn run_case(&self, case: &Case, wf: &LoadedWorkflow, dir: &Path, update: bool) -> CaseResult {
        let started = Instant::now();
        let opts = RunOptions {
            seed: case.seed,
            variant: Some(format!("test: {}", case.name)),
            ..RunOptions::default()
        };
        let golden = case.expect.golden.as_ref().map(|g| dir.join(g));
        let (execution, failures) = match self.run_with(wf, case.state.clone(), &opts).await {
            Ok(s) => {
                let golden = golden.as_deref().map(|g| (g, update));
                (Some(s.execution), self.observe(case, s.execution, s.status, &s.state, golden).await)
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

    async fn observe(
        &self,
        case: &Case,
        id: wtb_core::model::ExecutionId,
        status: wtb_core::model::ExecutionStatus,
        state: &serde_json::Map<String, Value>,
        golden: Option<(&Path, bool)>,
    ) -> Result<Vec<String>, ExecError> {
        let report = self.inspect().describe(id).await?;
        let boundaries: Vec<_> = report.nodes.iter().map(|n| &n.boundary).collect();
        let failure = boundaries
            .iter()
            .rev()
            .find(|b| !matches!(b.status, AttemptStatus::Succeeded | AttemptStatus::Running))
            .map(|b| (b.node.as_str(), b.error.as_deref().unwrap_or(b.status.as_str())));
        let files = report.checkpoints.last().map(|c| c.files.clone()).unwrap_or_default();
        let wanted = case
            .expect
            .files
            .iter()
            .filter(|(_, f)| f.content.is_some() || f.contains.is_some() || f.regex.is_some());
        let contents = self.contents(&files, wanted.map(|(p, _)| p.clone()).collect()).await?;
        let state = Value::Object(state.clone());
        let events: Vec<(&str, &Value)> = report
            .events
            .iter()
            .filter_map(|e| Some((e.kind.strip_prefix("guest.")?, &e.payload["data"])))
            .collect();
        let fuel = boundaries.iter().filter_map(|b| b.fuel_used).reduce(|a, b| a + b);
        let seen = Observed {
            status,
            failure,
            path: boundaries
                .iter()
                .filter(|b| b.status == AttemptStatus::Succeeded)
                .map(|b| b.node.as_str())
                .collect(),
            state: &state,
            files: &files,
            contents: &contents,
            events,
            guest_micros: boundaries.iter().filter_map(|b| b.guest_micros).sum(),
            peak_memory_bytes: boundaries.iter().filter_map(|b| b.peak_memory_bytes).max().unwrap_or(0),
            fuel,
        };
        let mut failures = check(&case.expect, &seen);
        if let (Some((dir, update)), Some(last)) = (golden, report.checkpoints.last()) {
            let ignore = ignored(&case.expect.ignore);
            if update {
                self.write_golden(dir, &state, last.checkpoint.id).await?;
            } else {
                match read_golden(dir) {
                    Err(e) => failures.push(format!("golden snapshot {}: {e}", dir.display())),
                    Ok(g) => {
                        let contents = self.contents(&files, differing(&g, &files, &ignore)).await?;
                        failures.extend(check_golden(&g, &state, &files, &contents, &ignore));
                    }
                }
            }
        }
        Ok(failures)
    }

    /// The contents of `paths` in `files` (regular files up to the size read).
    async fn contents(
        &self,
        files: &FileTree,
        paths: Vec<String>,
    ) -> Result<BTreeMap<String, Vec<u8>>, ExecError> {
        let read: Vec<_> = paths
            .into_iter()
            .filter_map(|p| Some((files.get(&p)?.clone(), p)))
            .filter(|(e, _)| e.kind == EntryKind::File && e.size <= CONTENT_MAX_BYTES)
            .filter_map(|(e, p)| Some((p, e.digest?)))
            .collect();
        let blobs = self.blobs_for(read.iter().map(|(_, d)| *d).collect()).await?;
        crate::executor::blocking(move || {
            read.into_iter()
                .map(|(path, d)| {
                    let mut bytes = Vec::new();
                    blobs.open(&d)?.read_to_end(&mut bytes)?;
                    Ok((path, bytes))
                })
                .collect::<std::io::Result<BTreeMap<String, Vec<u8>>>>()
        })
        .await?
        .map_err(|source| ExecError::Io { what: "reading the files a case checks".into(), source })
    }

    /// Writes `state.json` and `files/` (exactly the checkpoint's files) under `dir`.
    async fn write_golden(
        &self,
        dir: &Path,
        state: &Value,
        checkpoint: CheckpointId,
    ) -> Result<(), ExecError> {
        let io = |what: String| move |source| ExecError::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let text = serde_json::to_string_pretty(state).unwrap_or_default() + "\n";
        let path = dir.join("state.json");
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
        self.inspect().export(checkpoint, &dir.join("files"), true).await.map(|_| ())
    }
}

/// A golden snapshot from its directory: `state.json`, and every regular file under `files/`
/// (a link or any other kind of entry is refused, never followed).
fn read_golden(dir: &Path) -> std::io::Result<Golden> {
    fn walk(root: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(root.join(rel))? {
            let entry = entry?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| std::io::Error::other(format!("{n:?}: not UTF-8")))?;
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                out.insert(path.clone(), std::fs::read(root.join(&path))?);
            } else {
                return Err(std::io::Error::other(format!("files/{path}: not a regular file or directory")));
            }
        }
        Ok(())
    }
    let text = std::fs::read_to_string(dir.join("state.json"))?;
    let state = serde_json::from_str(&text).map_err(|e| std::io::Error::other(format!("state.json: {e}")))?;
    let mut files = BTreeMap::new();
    if dir.join("files").is_dir() {
        walk(&dir.join("files"), "", &mut files)?;
    }
    Ok(Golden { state, files })
}
