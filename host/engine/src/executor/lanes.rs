//! Workspace lanes: each concurrently running branch of an execution has its own in-memory
//! workspace, with the file commit it is known to hold, so a task whose entry matches needs no
//! restore. They live as long as the drive.

use super::drive::Drive;
use super::{ExecError, Executor};
use std::collections::BTreeSet;
use std::sync::Arc;
use wtb_core::model::{ExecutionId, FileCommitId, FileTree};
use wtb_runtime::Mount;
use wtb_store::capture::Workspace;

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
        let blobs = self.ex.lane_blobs();
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
}

/// What the guest sees as `/` for a lane's workspace.
pub(crate) fn mount(ws: &Workspace) -> Mount<'_> {
    Mount::Virtual(ws.vfs())
}

/// Runs blocking file work on tokio's blocking pool. (`block_in_place` was measured as no
/// faster per node, and it does not work on a current-thread runtime.)
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ExecError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ExecError::Task(e.to_string()))
}

impl Executor {
    /// Opens a lane's workspace, empty.
    pub(crate) fn open_workspace(&self, execution: ExecutionId, lane: u32) -> Result<Workspace, ExecError> {
        self.lanes.open(execution, lane).map_err(|source| ExecError::Io {
            what: format!("opening the workspace of lane {lane} of {execution}"),
            source,
        })
    }
}
