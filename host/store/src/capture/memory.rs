//! Lane workspaces in memory ([`wtb_vfs::Vfs`]): nothing on the host disk, so a guest's files
//! cost no inodes, capture reads the tree the guest left (hashing only contents written since
//! the restore), and restore builds the target tree without reading any content: each file
//! remembers its digest and is loaded from the blob store the first time a guest reads it.
//!
//! A workspace lives as long as its lane in the drive that runs it; a new drive (a resume, a
//! rollback, another worker) opens an empty one and restores the checkpoint it starts from,
//! which costs one entry per path, not one copy per file.

use super::memory_capture::{Puts, capture, vfs_error};
use super::{
    BlobSource, CaptureError, CaptureLimits, CaptureTo, Captured, RestoreStats, Workspace, Workspaces,
};
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use wtb_core::model::ExecutionId;
use wtb_core::model::{Digest, EntryKind, FileTree, check_tree};
use wtb_vfs::{Budget, Content, Entry, Loader, Pool, Vfs};

/// In-memory workspaces: see the module docs. Every workspace takes its bytes from one pool.
#[derive(Debug)]
pub struct MemoryWorkspaces {
    pool: Arc<Pool>,
}

/// Contents of a restored tree, loaded on first read.
struct Blobs(Arc<dyn BlobSource>);

impl Loader for Blobs {
    fn load(&self, key: &wtb_vfs::Key) -> io::Result<Vec<u8>> {
        let digest = Digest::from_bytes(*key);
        let mut bytes = Vec::new();
        self.0.open(&digest)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// The tree `target` as a workspace, its contents left in `blobs` until read.
fn build(target: &FileTree, blobs: Arc<dyn BlobSource>, pool: Arc<Pool>) -> Result<Vfs, CaptureError> {
    // Not bounded by a node's quota (it rebuilds what was captured), only by the pool.
    let mut vfs = Vfs::in_pool(Budget { bytes: u64::MAX, inodes: u64::MAX }, pool);
    for (path, e) in target {
        let entry = match (e.kind, e.digest) {
            (EntryKind::Dir, _) => Entry::Dir(wtb_vfs::Ino(0)),
            (EntryKind::File, Some(d)) => {
                Entry::File(wtb_vfs::Ino(0), Content::stored(*d.as_bytes(), e.size))
            }
            (EntryKind::Symlink, Some(d)) => {
                let mut text = String::new();
                blobs
                    .open(&d)
                    .and_then(|mut r| r.read_to_string(&mut text))
                    .map_err(CaptureError::io(path))?;
                Entry::Symlink(wtb_vfs::Ino(0), text)
            }
            (_, None) => return Err(CaptureError::io(path)(io::Error::other("an entry without content"))),
        };
        vfs.insert(path, entry, e.mode).map_err(vfs_error(path))?;
    }
    vfs.set_loader(Arc::new(Blobs(blobs)));
    vfs.mark();
    Ok(vfs)
}

impl MemoryWorkspaces {
    /// Workspaces that together hold at most `pool`'s bytes.
    pub fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }

    /// An empty workspace (one a lane of any execution would open).
    pub fn empty(&self) -> Workspace {
        let vfs = Vfs::in_pool(Budget::default(), self.pool.clone());
        Workspace { vfs: Arc::new(Mutex::new(vfs)), listed: None }
    }
}

impl Workspaces for MemoryWorkspaces {
    fn open(&self, _execution: ExecutionId, _lane: u32) -> io::Result<Workspace> {
        Ok(self.empty())
    }

    fn restore(
        &self,
        ws: &mut Workspace,
        target: &Arc<FileTree>,
        blobs: Arc<dyn BlobSource>,
        _limits: &CaptureLimits,
    ) -> Result<RestoreStats, CaptureError> {
        check_tree(target).map_err(CaptureError::InvalidTree)?;
        let before = ws.vfs.lock().unwrap_or_else(|e| e.into_inner()).entries().map_or(0, |e| e.len());
        let vfs = build(target, blobs, self.pool.clone())?;
        let listed = Some(target.clone());
        *ws = Workspace { vfs: Arc::new(Mutex::new(vfs)), listed };
        Ok(RestoreStats { written: target.len(), removed: before })
    }

    fn capture(
        &self,
        ws: &mut Workspace,
        base: &Arc<FileTree>,
        new: CaptureTo<'_>,
    ) -> Result<Captured, CaptureError> {
        Ok(capture(ws, base, new, Puts::Allowed)?.expect("puts are allowed"))
    }

    /// Inline unless a content must go to the blob store (which may block): then `None`, and
    /// the caller runs [`Workspaces::capture`] on the blocking pool.
    fn capture_quick(
        &self,
        ws: &mut Workspace,
        base: &Arc<FileTree>,
        new: CaptureTo<'_>,
    ) -> Result<Option<Captured>, CaptureError> {
        capture(ws, base, new, Puts::Refused)
    }
}
