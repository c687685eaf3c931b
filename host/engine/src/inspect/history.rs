//! Time travel that only reads: an execution's timeline (superseded checkpoints included),
//! filtered listing with cursor pages, the files at a checkpoint, and diffs between any two
//! checkpoints (also across executions, e.g. an original and its fork).

use super::Inspect;
use crate::executor::ExecError;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use wtb_core::history::diff::TEXT_DIFF_MAX_BYTES;
use wtb_core::history::{Content, FileDiff, FileSide, StateDiff, content_change};
use wtb_core::model::diff_trees;
use wtb_core::model::{
    Checkpoint, CheckpointId, CheckpointKind, Digest, EntryKind, Execution, ExecutionId, FileChange,
    FileCommitId, FileEntry, FileTree, Timestamp,
};
use wtb_core::workflow::{Definition, StoredEdge};
use wtb_store::capture::{BlobSource, CaptureLimits, DirWorkspace, restore};
use wtb_store::db::ListFilter;

/// One checkpoint in an execution's timeline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The checkpoint.
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    /// The status of its node attempt (`running` while open); `pending` for an entry whose
    /// attempt has no row yet, `unknown` for an exit without one.
    #[schema(pattern = "^(running|succeeded|guest_error|trapped|invalid_output|cancelled|pending|unknown)$")]
    pub status: String,
    /// Bytes of its state as JSON.
    pub state_bytes: usize,
    /// Paths its file commit changed from the checkpoint before it (0 when it shares it).
    pub files_changed: usize,
    /// When a rollback superseded it (`None`: live).
    pub superseded_at: Option<Timestamp>,
    /// On an exit checkpoint: how long its node attempt took, launch to exit (ms; a pause
    /// before the attempt ran is not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

/// The workflow an execution runs, as a graph to draw: nodes in manifest order (joins
/// marked), labelled edges, the entry node.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GraphView {
    /// The workflow's name.
    pub name: String,
    /// The node an execution starts at.
    pub entry: String,
    /// Its nodes, in manifest order.
    pub nodes: Vec<GraphNode>,
    /// Its edges (a label: taken when the node returns that route).
    pub edges: Vec<StoredEdge>,
}

/// One node of a [`GraphView`].
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GraphNode {
    /// Its id.
    pub id: String,
    /// Whether it waits for all its inputs.
    pub join: bool,
}

/// An execution's timeline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    /// The execution.
    pub execution: Execution,
    /// Its workflow's graph.
    pub graph: GraphView,
    /// Every checkpoint in seq order, superseded ones included.
    pub checkpoints: Vec<HistoryEntry>,
}

/// A page of executions.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    /// Newest first.
    pub executions: Vec<Execution>,
    /// Pass as `after` for the next page; `None` on the last one.
    pub next: Option<ExecutionId>,
}

/// Two checkpoints compared.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointDiff {
    /// The first checkpoint.
    pub from: CheckpointId,
    /// The second checkpoint.
    pub to: CheckpointId,
    /// The state change.
    pub state: StateDiff,
    /// Changed paths in path order.
    pub files: Vec<FileDiff>,
}

impl Inspect<'_> {
    /// The timeline of `id`: every checkpoint with its attempt's status, state size and files
    /// changed; superseded ones say when. The fork parent is on the execution row.
    pub async fn history(&self, id: ExecutionId) -> Result<History, ExecError> {
        let execution = self.exec.execution_of_tenant(id).await?;
        let graph = self.graph(&execution).await?;
        let mut status: HashMap<CheckpointId, String> = HashMap::new();
        let mut durations: HashMap<CheckpointId, f64> = HashMap::new();
        for (b, _) in self.exec.db.boundaries().list_history(self.exec.tenant, id).await? {
            // A reopened attempt shares its entry with the superseded one: the later row wins.
            status.insert(b.entry_checkpoint, b.status.as_str().to_owned());
            if let Some(exit) = b.exit_checkpoint {
                status.insert(exit, b.status.as_str().to_owned());
                if let Some(end) = b.finished_at {
                    durations.insert(exit, (end.micros() - b.started_at.micros()) as f64 / 1000.0);
                }
            }
        }
        let rows = self.exec.db.checkpoints().list_history(self.exec.tenant, id).await?;
        let commit_of: HashMap<CheckpointId, FileCommitId> =
            rows.iter().map(|(c, _)| (c.id, c.file_commit)).collect();
        let mut counts: HashMap<FileCommitId, usize> = HashMap::new();
        let mut checkpoints = Vec::with_capacity(rows.len());
        for (cp, superseded_at) in rows {
            let before = cp.parents.first().and_then(|p| commit_of.get(p));
            let files_changed = if before.is_none_or(|b| *b == cp.file_commit) {
                0
            } else {
                match counts.get(&cp.file_commit) {
                    Some(n) => *n,
                    None => {
                        let n = self
                            .exec
                            .db
                            .file_commits()
                            .change_count(self.exec.tenant, cp.file_commit)
                            .await?;
                        counts.insert(cp.file_commit, n);
                        n
                    }
                }
            };
            let status = status.get(&cp.id).cloned().unwrap_or_else(|| {
                if cp.kind == CheckpointKind::Entry { "pending".into() } else { "unknown".into() }
            });
            let duration_ms = durations.get(&cp.id).copied();
            checkpoints.push(HistoryEntry {
                status,
                state_bytes: cp.state.to_string().len(),
                files_changed,
                superseded_at,
                duration_ms,
                checkpoint: cp,
            });
        }
        Ok(History { execution, graph, checkpoints })
    }

    /// The graph of `execution`'s stored workflow definition.
    async fn graph(&self, execution: &Execution) -> Result<GraphView, ExecError> {
        let record =
            self.exec.db.workflows().get_one(self.exec.tenant, execution.workflow).await?.ok_or_else(
                || ExecError::StoredWorkflow(format!("workflow {} is not stored", execution.workflow)),
            )?;
        let def: Definition = serde_json::from_value(record.definition)
            .map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
        Ok(GraphView {
            name: def.name,
            entry: def.entry,
            nodes: def.nodes.iter().map(|n| GraphNode { id: n.id.clone(), join: n.join }).collect(),
            edges: def.edges,
        })
    }

    /// One page of the tenant's executions matching `filter`, newest first, after the cursor
    /// `after` (the previous page's `next`).
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<ExecutionId>,
        limit: u32,
    ) -> Result<Page, ExecError> {
        let limit = limit.clamp(1, 1000);
        let mut executions =
            self.exec.db.executions().list(self.exec.tenant, filter, after, limit + 1).await?;
        let next = if executions.len() > limit as usize {
            executions.truncate(limit as usize);
            executions.last().map(|e| e.id)
        } else {
            None
        };
        Ok(Page { executions, next })
    }

    /// The tenant's checkpoint `id` and the tree of its files.
    pub async fn files(&self, id: CheckpointId) -> Result<(Checkpoint, FileTree), ExecError> {
        let (cp, _) = self.exec.checkpoint_of_tenant(id).await?;
        let commit = self.exec.commit_of(&cp).await?;
        Ok((cp, Arc::unwrap_or_clone(commit.tree)))
    }

    /// The content of `path` at checkpoint `id`.
    pub async fn cat(&self, id: CheckpointId, path: &str) -> Result<Vec<u8>, ExecError> {
        let (_, tree) = self.files(id).await?;
        let path = path.trim_start_matches("./").trim_end_matches('/');
        let entry =
            tree.get(path).ok_or_else(|| ExecError::NoFile { checkpoint: id, path: path.to_owned() })?;
        let digest = match (entry.kind, entry.digest) {
            (EntryKind::File, Some(d)) => d,
            (kind, _) => {
                return Err(ExecError::NotAFile {
                    checkpoint: id,
                    path: path.to_owned(),
                    kind: kind.as_str(),
                });
            }
        };
        let blobs = self.exec.stored_blobs(&FileTree::from_iter([(path.to_owned(), entry.clone())])).await?;
        crate::executor::blocking(move || {
            let mut out = Vec::new();
            blobs.open(&digest)?.read_to_end(&mut out)?;
            Ok::<_, std::io::Error>(out)
        })
        .await?
        .map_err(|source| ExecError::Io { what: format!("reading `{path}` ({digest})"), source })
    }

    /// Writes the workspace as it was at checkpoint `id` into `dir` (created if missing). A
    /// non-empty `dir` is refused unless `force`, which makes it hold exactly those files
    /// (others are removed).
    pub async fn export(&self, id: CheckpointId, dir: &Path, force: bool) -> Result<usize, ExecError> {
        let (_, tree) = self.files(id).await?;
        let io = |what: String| move |source| ExecError::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating `{}`", dir.display())))?;
        let non_empty =
            std::fs::read_dir(dir).map_err(io(format!("reading `{}`", dir.display())))?.next().is_some();
        if non_empty && !force {
            return Err(ExecError::NotEmpty(dir.to_owned()));
        }
        let handle = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
            .map_err(io(format!("opening `{}`", dir.display())))?;
        let mut ws = DirWorkspace::new(handle, dir.to_owned());
        let blobs = self.exec.stored_blobs(&tree).await?;
        let limits = CaptureLimits {
            max_entries: usize::MAX,
            max_file_bytes: u64::MAX,
            ..self.exec.config.capture_limits()
        };
        let files = tree.values().filter(|e| e.kind == EntryKind::File).count();
        crate::executor::blocking(move || restore(&mut ws, &tree, &blobs, &limits)).await?.map_err(|e| {
            ExecError::Io {
                what: format!("exporting into `{}`", dir.display()),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        Ok(files)
    }

    /// How checkpoint `b` differs from checkpoint `a` (any two of the tenant's).
    pub async fn diff(&self, a: CheckpointId, b: CheckpointId) -> Result<CheckpointDiff, ExecError> {
        let (ca, ta) = self.files(a).await?;
        let (cb, tb) = self.files(b).await?;
        let changes = diff_trees(&ta, &tb);
        let wanted = diffed_digests(&ta, &tb, &changes);
        let blobs = self.exec.blobs_for(wanted).await?;
        let files = crate::executor::blocking(move || file_diffs(&ta, &tb, &changes, &blobs, &blobs))
            .await?
            .map_err(|source| ExecError::Io { what: "reading file contents for the diff".into(), source })?;
        Ok(CheckpointDiff { from: a, to: b, state: StateDiff::between(&ca.state, &cb.state), files })
    }
}

/// The contents [`file_diffs`] reads for `changes` from `a` to `b`.
pub(crate) fn diffed_digests(a: &FileTree, b: &FileTree, changes: &[FileChange]) -> BTreeSet<Digest> {
    changes
        .iter()
        .flat_map(|c| [a.get(&c.path), b.get(&c.path)])
        .flatten()
        .filter(|e| e.kind == EntryKind::File && e.size <= TEXT_DIFF_MAX_BYTES)
        .filter_map(|e| e.digest)
        .collect()
}

/// Each changed path from tree `a` to tree `b`, with a unified diff of text files within the
/// limit (contents read from `from_a` and `from_b`). Blocking.
pub(crate) fn file_diffs(
    a: &FileTree,
    b: &FileTree,
    changes: &[FileChange],
    from_a: &dyn BlobSource,
    from_b: &dyn BlobSource,
) -> std::io::Result<Vec<FileDiff>> {
    let read = |e: Option<&FileEntry>, from: &dyn BlobSource| -> std::io::Result<Option<Vec<u8>>> {
        match e {
            Some(e) if e.kind == EntryKind::File && e.size <= TEXT_DIFF_MAX_BYTES => {
                let mut out = Vec::new();
                let digest =
                    e.digest.ok_or_else(|| std::io::Error::other("a file entry without a digest"))?;
                from.open(&digest)?.read_to_end(&mut out)?;
                Ok(Some(out))
            }
            _ => Ok(None),
        }
    };
    changes
        .iter()
        .map(|c| {
            let (old, new) = (a.get(&c.path), b.get(&c.path));
            let is_file = |e: Option<&FileEntry>| e.is_none_or(|e| e.kind == EntryKind::File);
            let content = if is_file(old) && is_file(new) {
                let (ob, nb) = (read(old, from_a)?, read(new, from_b)?);
                Some(content_change(&c.path, side(old, &ob), side(new, &nb)))
            } else {
                None
            };
            Ok(FileDiff {
                path: c.path.clone(),
                change: c.change,
                before: old.map(FileSide::from),
                after: new.map(FileSide::from),
                content,
            })
        })
        .collect()
}

/// One side of a changed path for [`content_change`]: absent, fetched bytes, or too large.
fn side<'a>(e: Option<&FileEntry>, bytes: &'a Option<Vec<u8>>) -> Content<'a> {
    match (e, bytes) {
        (None, _) => Content::Absent,
        (Some(_), Some(b)) => Content::Bytes(b),
        (Some(e), None) => Content::TooLarge(e.size),
    }
}
