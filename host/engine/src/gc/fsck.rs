//! `wtb fsck`: every referenced blob exists with the right digest and size, every file
//! commit's tree is complete (rebuildable, and each content it names has a blob row), every
//! exit checkpoint has its entry, every component has its blob, every outbox row its
//! execution. Read-only.

use crate::executor::{ExecError, Executor};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use wtb_core::model::{BlobRecord, CheckpointKind, Digest, TenantId};
use wtb_store::cas::{BlobStore, hash_reader};
use wtb_store::db::DbError;

/// One inconsistency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind of record: `blob`, `file_commit`, `checkpoint`, `component`, `outbox`.
    pub what: &'static str,
    /// Which one (a digest, an id, a path).
    pub subject: String,
    /// What is wrong, in a sentence.
    pub detail: String,
}

/// What `fsck` looked at and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FsckReport {
    /// Blob rows checked (inline and CAS).
    pub blobs: usize,
    /// File commits rebuilt.
    pub file_commits: usize,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// Everything wrong; empty when the store is consistent.
    pub problems: Vec<Problem>,
}

/// Checks the executor's tenant's data (see the module doc).
pub async fn fsck(exec: &Executor) -> Result<FsckReport, ExecError> {
    let (db, tenant) = (exec.database(), exec.tenant());
    let mut report = FsckReport::default();
    let blobs = db.blobs().list_all(tenant).await?;
    report.blobs = blobs.len();
    let known: HashSet<Digest> = blobs.iter().map(|b| b.digest).collect();
    let cas = exec.cas();
    report.problems.extend(crate::executor::blocking(move || check_blobs(&cas, tenant, &blobs)).await?);
    for id in db.file_commits().list_ids(tenant).await? {
        report.file_commits += 1;
        match db.file_commits().get_one(tenant, id).await {
            Ok(Some(commit)) => {
                for (path, entry) in commit.tree.iter() {
                    if let Some(d) = entry.digest.filter(|d| !known.contains(d)) {
                        report.problems.push(Problem {
                            what: "file_commit",
                            subject: id.to_string(),
                            detail: format!("`{path}` names {d}, which has no blob row"),
                        });
                    }
                }
            }
            Ok(None) => report.problems.push(Problem {
                what: "file_commit",
                subject: id.to_string(),
                detail: "listed but not readable".into(),
            }),
            Err(e) => report.problems.push(Problem {
                what: "file_commit",
                subject: id.to_string(),
                detail: format!("its tree cannot be rebuilt: {e}"),
            }),
        }
    }

    // A state that cannot be rebuilt (a damaged patch) is a finding, not the end of the check.
    let checkpoints = match db.checkpoints().list_for_tenant(tenant).await {
        Ok(checkpoints) => checkpoints,
        Err(DbError::Corrupt { what, detail }) => {
            report.problems.push(Problem {
                what: "checkpoint",
                subject: what.to_owned(),
                detail: format!("the checkpoints cannot be read: {detail}"),
            });
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    report.checkpoints = checkpoints.len();
    let by_id: HashMap<_, _> = checkpoints.iter().map(|c| (c.id, c)).collect();
    for exit in checkpoints.iter().filter(|c| c.kind == CheckpointKind::Exit) {
        let entry = exit.parents.first().and_then(|p| by_id.get(p));
        if !entry.is_some_and(|e| {
            e.kind == CheckpointKind::Entry && e.execution == exit.execution && e.node == exit.node
        }) {
            report.problems.push(Problem {
                what: "checkpoint",
                subject: exit.id.to_string(),
                detail: format!(
                    "exit of `{}` (execution {}, seq {}) has no entry checkpoint of its node",
                    exit.node, exit.execution, exit.seq
                ),
            });
        }
    }
    for digest in db.components().list_digests(tenant).await? {
        if !digest.parse::<Digest>().is_ok_and(|d| known.contains(&d)) {
            report.problems.push(Problem {
                what: "component",
                subject: digest,
                detail: "has no blob row (its bytes may be gone)".into(),
            });
        }
    }
    for (event, execution) in db.events().without_aggregate(tenant).await? {
        report.problems.push(Problem {
            what: "outbox",
            subject: event.to_string(),
            detail: format!("its execution {execution} does not exist"),
        });
    }
    Ok(report)
}

/// Hashes every CAS object and every inline content against its row.
fn check_blobs(cas: &Arc<dyn BlobStore>, tenant: TenantId, blobs: &[BlobRecord]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for b in blobs {
        let problem = |detail: String| Problem { what: "blob", subject: b.digest.to_string(), detail };
        let (found, size) = match &b.inline {
            Some(bytes) => (Digest::of(bytes), bytes.len() as u64),
            None => {
                let path = cas.locate(tenant, &b.digest);
                match cas.open(tenant, &b.digest).and_then(hash_reader) {
                    Ok(found) => found,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        problems.push(problem(format!(
                            "CAS object `{path}` is missing (expected {}, {} bytes)",
                            b.digest, b.size
                        )));
                        continue;
                    }
                    Err(e) => {
                        problems.push(problem(format!("CAS object `{path}` cannot be read: {e}")));
                        continue;
                    }
                }
            }
        };
        let place = if b.inline.is_some() {
            "inline content".to_owned()
        } else {
            format!("CAS object `{}`", cas.locate(tenant, &b.digest))
        };
        if found != b.digest {
            problems.push(problem(format!("{place} is corrupt: expected {}, found {found}", b.digest)));
        } else if size != b.size {
            problems.push(problem(format!("{place} is {size} bytes, its row says {}", b.size)));
        }
    }
    problems
}
