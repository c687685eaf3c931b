//! `wtb test`: the cases of a test file ([`wtb_core::testing`]) loaded — every workflow read
//! and every node a case names checked before anything runs — then each run as its own
//! execution, tagged with the case's name as its variant, and checked.

use crate::executor::{ExecError, Executor, LoadedWorkflow, RunOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use wtb_core::model::{AttemptStatus, EntryKind};
use wtb_core::testing::check::{Observed, check};
use wtb_core::testing::report::CaseResult;
use wtb_core::testing::{Case, TestFile};
use wtb_core::workflow::{ManifestError, Position};

/// A test file's cases with their workflows loaded.
pub struct LoadedTests {
    /// The file as given.
    pub file: String,
    /// Each case and its workflow.
    pub cases: Vec<(Case, LoadedWorkflow)>,
}

/// Files a case checks by content are read when at most this large.
const CONTENT_MAX_BYTES: u64 = 1 << 20;

impl Executor {
    /// Reads and validates the test file at `path`: its cases, their workflows (relative to
    /// the file), and every node a case names. `Err` says where, by file, line and field.
    pub async fn load_tests(&self, path: &Path) -> Result<LoadedTests, ManifestError> {
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
        for (i, case) in tests.cases.into_iter().enumerate() {
            let wf = self
                .load_workflow(&dir.join(&case.workflow))
                .await
                .map_err(|e| located(case.at, format!("case[{i}].workflow"), e.to_string()))?;
            for (node, field, at) in &case.node_refs {
                if wf.manifest.graph.node(node).is_none() {
                    let message = format!("workflow `{}` has no node `{node}`", wf.manifest.name);
                    return Err(located(*at, format!("case[{i}].{field}"), message));
                }
            }
            cases.push((case, wf));
        }
        Ok(LoadedTests { file, cases })
    }

    /// Runs one case and checks what it did; a run the host could not make is a failed case
    /// saying why.
    pub async fn run_case(&self, case: &Case, wf: &LoadedWorkflow) -> CaseResult {
        let started = Instant::now();
        let opts = RunOptions {
            seed: case.seed,
            deterministic: case.seed.is_some(),
            variant: Some(format!("test: {}", case.name)),
            ..RunOptions::default()
        };
        let (execution, failures) = match self.run_with(wf, case.state.clone(), &opts).await {
            Ok(s) => (Some(s.execution), self.observe(case, s.execution, s.status, &s.state).await),
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
    ) -> Result<Vec<String>, ExecError> {
        let report = self.inspect().describe(id).await?;
        let boundaries: Vec<_> = report.nodes.iter().map(|n| &n.boundary).collect();
        let failure = boundaries
            .iter()
            .rev()
            .find(|b| !matches!(b.status, AttemptStatus::Succeeded | AttemptStatus::Running))
            .map(|b| (b.node.as_str(), b.error.as_deref().unwrap_or(b.status.as_str())));
        let files = report.checkpoints.last().map(|c| c.files.clone()).unwrap_or_default();
        let read: Vec<_> = case
            .expect
            .files
            .iter()
            .filter(|(_, f)| f.content.is_some() || f.contains.is_some() || f.regex.is_some())
            .filter_map(|(path, _)| Some((path, files.get(path)?)))
            .filter(|(_, e)| e.kind == EntryKind::File && e.size <= CONTENT_MAX_BYTES)
            .filter_map(|(path, e)| Some((path.clone(), e.digest?)))
            .collect();
        let blobs = self.blobs_for(read.iter().map(|(_, d)| *d).collect()).await?;
        let contents = crate::executor::blocking(move || {
            read.into_iter()
                .map(|(path, d)| {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(
                        &mut wtb_store::capture::BlobSource::open(&blobs, &d)?,
                        &mut bytes,
                    )?;
                    Ok((path, bytes))
                })
                .collect::<std::io::Result<BTreeMap<String, Vec<u8>>>>()
        })
        .await?
        .map_err(|source| ExecError::Io { what: "reading the files a case checks".into(), source })?;
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
        Ok(check(&case.expect, &seen))
    }
}
