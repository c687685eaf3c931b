//! Workspace lanes: each concurrently running branch of an execution has its own workspace
//! (`workspaces/<execution>.<lane>/`), with the file commit it is known to hold, so a task
//! whose entry matches needs no restore.

use super::drive::{Drive, Stop};
use super::{ExecError, Executor};
use cap_std::fs::Dir;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use wtb_core::model::Checkpoint;
use wtb_core::model::{ExecutionId, FileCommitId, FileTree};
use wtb_store::capture::{RestoreStats, Workspace, restore};
use wtb_store::db::{self, DbError};

/// One lane's workspace and what it holds.
#[derive(Default)]
pub(super) struct Lane {
    pub(super) ws: Option<Workspace>,
    /// The file commit the workspace is known to hold (`None`: unknown, restore first).
    pub(super) commit: Option<FileCommitId>,
}

impl Drive<'_> {
    /// Notes that lane 0 already holds `commit` (a fresh execution's empty workspace).
    pub(crate) fn adopt_lane(&mut self, lane: u32, ws: Workspace, commit: Option<FileCommitId>) {
        self.lanes.insert(lane, Lane { ws: Some(ws), commit });
    }

    pub(crate) fn set_lane_commit(&mut self, lane: u32, commit: Option<FileCommitId>) {
        self.lanes.entry(lane).or_default().commit = commit;
    }

    pub(super) fn take_lane(&mut self, lane: u32) -> Result<(Workspace, Option<FileCommitId>), ExecError> {
        let state = self.lanes.entry(lane).or_default();
        if let Some(ws) = state.ws.take() {
            return Ok((ws, state.commit));
        }
        Ok((self.ex.open_workspace(self.id, lane)?, None))
    }

    /// The lowest lane no ready or running task holds, other than `besides`.
    pub(crate) fn free_lane(&self, besides: &[u32]) -> u32 {
        let busy: BTreeSet<u32> = self
            .ready
            .iter()
            .map(|t| t.entry.lane)
            .chain(self.in_flight.values().map(|(_, l, _)| *l))
            .chain(besides.iter().copied())
            .collect();
        (0..).find(|l| !busy.contains(l)).unwrap_or(0)
    }

    pub(crate) fn lane_is_free(&self, lane: u32) -> bool {
        !self.ready.iter().any(|t| t.entry.lane == lane)
            && !self.in_flight.values().any(|(_, l, _)| *l == lane)
    }

    /// Puts a lane's workspace back to `tree` now (after a failure, so the workspace shows
    /// the files the failed node was given).
    pub(crate) async fn restore_lane(
        &mut self,
        lane: u32,
        commit: FileCommitId,
        tree: Arc<FileTree>,
    ) -> Result<(), ExecError> {
        self.chain.settle().await?;
        let blobs = self.ex.stored_blobs(&tree).await?;
        let (mut ws, _) = self.take_lane(lane)?;
        let limits = self.ex.config.capture_limits();
        let (ws, r) = super::blocking(move || {
            let r = restore(&mut ws, &tree, &blobs, &limits);
            (ws, r)
        })
        .await?;
        let ok = r.map_err(|source| ExecError::Workspace { execution: self.id, source });
        self.lanes.insert(lane, Lane { ws: Some(ws), commit: ok.is_ok().then_some(commit) });
        ok.map(|_| ())
    }

    /// Removes the workspaces of lanes other than 0 once nothing will run in them.
    pub(super) async fn cleanup_lanes(&mut self) {
        if !matches!(self.stop, None | Some(Stop::Fail(_)) | Some(Stop::Cancel)) {
            return;
        }
        let extra: Vec<u32> = self.lanes.keys().copied().filter(|l| *l != 0).collect();
        if extra.is_empty() {
            return;
        }
        let Ok(root) = self.ex.workspaces.try_clone() else { return };
        let names: Vec<String> = extra.iter().map(|lane| lane_dir(self.id, *lane)).collect();
        for lane in extra {
            self.lanes.remove(&lane);
        }
        // Best effort: a lane left behind is removed with its execution (retention GC).
        let _ = super::blocking(move || {
            names.iter().try_for_each(|n| wtb_store::capture::beneath::remove_all(&root, n))
        })
        .await;
    }
}

/// Runs blocking file work on tokio's blocking pool. (`block_in_place` was measured as no
/// faster per node, and it does not work on a current-thread runtime.)
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ExecError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ExecError::Task(e.to_string()))
}

/// A lane's workspace directory name: lane 0 (the main line) is `<execution>`, lane n (a
/// parallel branch) `<execution>.<n>`.
pub(super) fn lane_dir(execution: ExecutionId, lane: u32) -> String {
    if lane == 0 { execution.to_string() } else { format!("{execution}.{lane}") }
}

/// Where a lane's workspace lives under a data dir.
pub fn workspace_dir(data_dir: &std::path::Path, execution: ExecutionId, lane: u32) -> PathBuf {
    data_dir.join("workspaces").join(lane_dir(execution, lane))
}

impl Executor {
    /// Deletes every lane workspace of an execution (retention GC, after its rows are gone).
    pub(crate) async fn remove_workspaces(&self, execution: ExecutionId) -> Result<(), ExecError> {
        let root = self
            .workspaces
            .try_clone()
            .map_err(|source| ExecError::Io { what: "opening the workspaces dir".into(), source })?;
        let (main, lanes) = (execution.to_string(), format!("{execution}."));
        blocking(move || -> std::io::Result<()> {
            for entry in root.entries()? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if name == main || name.starts_with(&lanes) {
                    match wtb_store::capture::beneath::remove_all(&root, &name) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
            }
            Ok(())
        })
        .await?
        .map_err(|source| ExecError::Io { what: format!("deleting the workspaces of {execution}"), source })
    }

    /// Opens (creating if needed) a lane's workspace.
    pub(crate) fn open_workspace(&self, execution: ExecutionId, lane: u32) -> Result<Workspace, ExecError> {
        let name = lane_dir(execution, lane);
        let io = |source| ExecError::Io { what: format!("opening workspace `{name}`"), source };
        let created = match self.workspaces.create_dir(&name) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io(e)),
        };
        let dir: Dir = self.workspaces.open_dir(&name).map_err(io)?;
        let path = self.workspaces_path.join(&name);
        Ok(if created { Workspace::created(dir, path) } else { Workspace::new(dir, path) })
    }
}

impl Executor {
    /// Makes the workspace of `cp`'s lane (in `execution`) hold `cp`'s files.
    pub(crate) async fn restore_lane(
        &self,
        execution: ExecutionId,
        cp: &Checkpoint,
    ) -> Result<RestoreStats, ExecError> {
        let mut conn = self.pool.acquire().await.map_err(DbError::from)?;
        let commit = db::file_commit::get_one(&mut conn, self.tenant, cp.file_commit)
            .await?
            .ok_or(DbError::Corrupt { what: "file commit", detail: cp.file_commit.to_string() })?;
        drop(conn);
        let blobs = self.stored_blobs(&commit.tree).await?;
        let mut ws = self.open_workspace(execution, cp.lane)?;
        let limits = self.config.capture_limits();
        super::blocking(move || restore(&mut ws, &commit.tree, &blobs, &limits))
            .await?
            .map_err(|source| ExecError::Workspace { execution, source })
    }
}
