//! Where workspaces live: one per execution lane, made to hold a checkpoint's tree, captured
//! into a file commit after each node, dropped with its drive.
//!
//! [`Workspaces`] is the seam the engine runs against; [`super::MemoryWorkspaces`] keeps each
//! lane as an in-memory tree. (Host-directory lanes were removed once the in-memory ones
//! matched them in the differential test and beat them in every benchmark.)

use super::{BlobSource, CaptureError, CaptureLimits, Captured, RestoreStats, Workspace};
use crate::cas::BlobStore;
use std::io;
use std::sync::Arc;
use wtb_core::model::{ExecutionId, FileTree, TenantId};

/// The workspaces of a host's executions.
pub trait Workspaces: Send + Sync + 'static {
    /// Opens a lane's workspace, empty. It lives as long as the drive that holds it: the next
    /// drive (a resume, a rollback, another worker) rebuilds it from a checkpoint.
    fn open(&self, execution: ExecutionId, lane: u32) -> io::Result<Workspace>;
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
}
