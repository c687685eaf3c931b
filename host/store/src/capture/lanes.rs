//! Where workspaces live: one per execution lane, made to hold a checkpoint's tree, captured
//! into a file commit after each node, removed with its execution.
//!
//! [`Workspaces`] is the seam the engine runs against; [`LocalWorkspaces`] keeps each lane as
//! a directory under the data dir (`workspaces/<execution>` for lane 0, `<execution>.<n>` for
//! a parallel branch), every call on it relative to that directory and never through a
//! symlink. The workspace handle itself is still directory-backed (the WASI layer preopens
//! its path); an in-memory implementation replaces both together.

use super::snapshot::{capture, capture_quick};
use super::{
    BlobSource, CaptureError, CaptureLimits, Captured, DirWorkspace, RestoreStats, Workspace, beneath,
    restore,
};
use crate::cas::BlobStore;
use cap_std::fs::Dir;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wtb_core::model::{ExecutionId, FileTree, TenantId, Touched};

/// The workspaces of a host's executions.
pub trait Workspaces: Send + Sync + 'static {
    /// Opens a lane's workspace, creating it empty if it does not exist.
    fn open(&self, execution: ExecutionId, lane: u32) -> io::Result<Workspace>;
    /// Whether a workspace outlives the drive that ran it (a directory does; an in-memory
    /// tree is rebuilt by the next drive, so a rollback or fork need not restore it).
    fn kept(&self) -> bool {
        true
    }

    /// Removes the workspaces of `lanes` (branches that will not run again).
    fn remove_lanes(&self, execution: ExecutionId, lanes: &[u32]) -> io::Result<()>;
    /// Removes every lane workspace of an execution (after its rows are gone).
    fn remove_execution(&self, execution: ExecutionId) -> io::Result<()>;
    /// Makes `ws` hold exactly `target`, reading contents from `blobs` (now, or when first
    /// needed: an in-memory workspace keeps the source).
    fn restore(
        &self,
        ws: &mut Workspace,
        target: &Arc<FileTree>,
        blobs: Arc<dyn BlobSource>,
        limits: &CaptureLimits,
    ) -> Result<RestoreStats, CaptureError>;
    /// What a node left in `ws` since `base`, new contents stored in `cas`.
    fn capture(
        &self,
        ws: &mut Workspace,
        base: &Arc<FileTree>,
        new: CaptureTo<'_>,
    ) -> Result<Captured, CaptureError>;
    /// [`Workspaces::capture`] when it is cheap enough to run inline (only the touched paths
    /// need looking at); `None` when it is not.
    fn capture_quick(
        &self,
        ws: &mut Workspace,
        base: &Arc<FileTree>,
        new: CaptureTo<'_>,
    ) -> Result<Option<Captured>, CaptureError>;
}

/// Where a capture's new contents go, and what bounds it.
#[derive(Clone, Copy)]
pub struct CaptureTo<'a> {
    /// The blob store for contents too large to keep inline.
    pub cas: &'a dyn BlobStore,
    /// Whose contents they are.
    pub tenant: TenantId,
    /// Size and count bounds.
    pub limits: &'a CaptureLimits,
    /// The paths the node changed, as the WASI layer saw them.
    pub touched: &'a Touched,
}

/// Lane workspaces as directories under one root.
pub struct LocalWorkspaces {
    root: Dir,
    root_path: PathBuf,
}

impl LocalWorkspaces {
    /// Workspaces under `root` (opened), which is `root_path` on the host.
    pub fn new(root: Dir, root_path: PathBuf) -> Self {
        Self { root, root_path }
    }
}

/// A lane's workspace directory name: lane 0 (the main line) is `<execution>`, lane n (a
/// parallel branch) `<execution>.<n>`.
pub fn lane_dir(execution: ExecutionId, lane: u32) -> String {
    if lane == 0 { execution.to_string() } else { format!("{execution}.{lane}") }
}

/// Where a lane's workspace lives under a data dir (for tools and tests that look at it).
pub fn workspace_dir(data_dir: &Path, execution: ExecutionId, lane: u32) -> PathBuf {
    data_dir.join("workspaces").join(lane_dir(execution, lane))
}

/// Removes `name` under `root`, a missing one being fine.
fn remove_if_present(root: &Dir, name: &str) -> io::Result<()> {
    match beneath::remove_all(root, name) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Workspaces for LocalWorkspaces {
    fn open(&self, execution: ExecutionId, lane: u32) -> io::Result<Workspace> {
        let name = lane_dir(execution, lane);
        let created = match self.root.create_dir(&name) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e),
        };
        let dir = self.root.open_dir(&name)?;
        let path = self.root_path.join(&name);
        Ok(Workspace::Directory(if created {
            DirWorkspace::created(dir, path)
        } else {
            DirWorkspace::new(dir, path)
        }))
    }

    fn remove_lanes(&self, execution: ExecutionId, lanes: &[u32]) -> io::Result<()> {
        lanes.iter().try_for_each(|lane| remove_if_present(&self.root, &lane_dir(execution, *lane)))
    }

    fn remove_execution(&self, execution: ExecutionId) -> io::Result<()> {
        let (main, lanes) = (execution.to_string(), format!("{execution}."));
        for entry in self.root.entries()? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name == main || name.starts_with(&lanes) {
                remove_if_present(&self.root, &name)?;
            }
        }
        Ok(())
    }

    fn restore(
        &self,
        ws: &mut Workspace,
        target: &Arc<FileTree>,
        blobs: Arc<dyn BlobSource>,
        limits: &CaptureLimits,
    ) -> Result<RestoreStats, CaptureError> {
        restore(ws.directory()?, target, &*blobs, limits)
    }

    fn capture(
        &self,
        ws: &mut Workspace,
        base: &Arc<FileTree>,
        new: CaptureTo<'_>,
    ) -> Result<Captured, CaptureError> {
        capture(ws.directory()?, base, new.cas, new.tenant, new.limits, new.touched)
    }

    fn capture_quick(
        &self,
        ws: &mut Workspace,
        base: &Arc<FileTree>,
        new: CaptureTo<'_>,
    ) -> Result<Option<Captured>, CaptureError> {
        capture_quick(ws.directory()?, base, new.cas, new.tenant, new.limits, new.touched)
    }
}
