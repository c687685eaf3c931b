//! Workspace lanes: each concurrently running branch of an execution has its own workspace
//! (`workspaces/<execution>.<lane>/`), with the file commit it is known to hold, so a task
//! whose entry matches needs no restore.

use super::drive::{Drive, Stop};
use super::{ExecError, Executor};
use std::collections::BTreeSet;
use std::sync::Arc;
use wtb_core::model::Checkpoint;
use wtb_core::model::{ExecutionId, FileCommitId, FileTree};
use wtb_runtime::Mount;
use wtb_store::capture::{RestoreStats, Workspace, lane_dir};

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
        let blobs = self.ex.lane_blobs(&tree).await?;
        let (mut ws, _) = self.take_lane(lane)?;
        let limits = self.ex.config.capture_limits();
        let workspaces = self.ex.lanes.clone();
        let (ws, r) = super::blocking(move || {
            let r = workspaces.restore(&mut ws, &tree, blobs, &limits);
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
        for lane in &extra {
            self.lanes.remove(lane);
        }
        // Best effort: a lane left behind is removed with its execution (retention GC).
        let (workspaces, id) = (self.ex.lanes.clone(), self.id);
        let _ = super::blocking(move || workspaces.remove_lanes(id, &extra)).await;
    }
}

/// What the guest sees as `/` for a lane's workspace.
pub(crate) fn mount(ws: &Workspace) -> Mount<'_> {
    match ws {
        Workspace::Directory(d) => Mount::Directory(d.host_path()),
        Workspace::Virtual(v) => Mount::Virtual(v.vfs()),
    }
}

/// Runs blocking file work on tokio's blocking pool. (`block_in_place` was measured as no
/// faster per node, and it does not work on a current-thread runtime.)
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ExecError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ExecError::Task(e.to_string()))
}

impl Executor {
    /// Deletes every lane workspace of an execution (retention GC, after its rows are gone).
    pub(crate) async fn remove_workspaces(&self, execution: ExecutionId) -> Result<(), ExecError> {
        let workspaces = self.lanes.clone();
        blocking(move || workspaces.remove_execution(execution)).await?.map_err(|source| ExecError::Io {
            what: format!("deleting the workspaces of {execution}"),
            source,
        })
    }

    /// Opens (creating if needed) a lane's workspace.
    pub(crate) fn open_workspace(&self, execution: ExecutionId, lane: u32) -> Result<Workspace, ExecError> {
        self.lanes.open(execution, lane).map_err(|source| ExecError::Io {
            what: format!("opening workspace `{}`", lane_dir(execution, lane)),
            source,
        })
    }
}

impl Executor {
    /// Makes the workspace of `cp`'s lane (in `execution`) hold `cp`'s files.
    pub(crate) async fn restore_lane(
        &self,
        execution: ExecutionId,
        cp: &Checkpoint,
    ) -> Result<RestoreStats, ExecError> {
        if !self.lanes.kept() {
            // Nothing to put back: the drive that resumes it builds its workspace from `cp`.
            return Ok(RestoreStats::default());
        }
        let commit = self.commit_of(cp).await?;
        let blobs = self.lane_blobs(&commit.tree).await?;
        let mut ws = self.open_workspace(execution, cp.lane)?;
        let (limits, workspaces) = (self.config.capture_limits(), self.lanes.clone());
        super::blocking(move || workspaces.restore(&mut ws, &commit.tree, blobs, &limits))
            .await?
            .map_err(|source| ExecError::Workspace { execution, source })
    }
}
