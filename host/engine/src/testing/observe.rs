//! A finished case observed — its report, final files and the contents its expectations
//! read — and checked, golden snapshot included.

use crate::executor::{ExecError, Executor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use wtb_core::model::{AttemptStatus, EntryKind, FileTree};
use wtb_core::testing::Case;
use wtb_core::testing::check::{Observed, check};
use wtb_core::testing::golden::{check_golden, differing, ignored};
use wtb_store::capture::BlobSource as _;

/// Files a case checks by content are read when at most this large.
const CONTENT_MAX_BYTES: u64 = 1 << 20;

impl Executor {
    /// Every expectation of `case` the execution `id`, ended with `status` and `state`, does
    /// not meet; with `golden`, its snapshot directory and whether to (re)write it.
    pub(super) async fn observe(
        &self,
        case: &Case,
        id: wtb_core::model::ExecutionId,
        status: wtb_core::model::ExecutionStatus,
        state: &serde_json::Map<String, Value>,
        golden: Option<(&Path, bool)>,
    ) -> Result<Vec<String>, ExecError> {
        let report = self.inspect().describe(id).await?;
        let boundaries: Vec<_> = report.nodes.iter().map(|n| &n.boundary).collect();
        let failed = boundaries
            .iter()
            .rev()
            .find(|b| !matches!(b.status, AttemptStatus::Succeeded | AttemptStatus::Running));
        let failure = failed.map(|b| (b.node.as_str(), b.error.as_deref().unwrap_or(b.status.as_str())));
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
            failed_as: failed.map(|b| (b.status, b.trap)),
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
                match super::golden::read_golden(dir) {
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
}
