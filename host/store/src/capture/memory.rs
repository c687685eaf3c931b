//! Lane workspaces in memory ([`wtb_vfs::Vfs`]): nothing on the host disk, so a guest's files
//! cost no inodes, capture reads the tree the guest left (hashing only contents written since
//! the restore), and restore builds the target tree without reading any content: each file
//! remembers its digest and is loaded from the blob store the first time a guest reads it.
//!
//! A workspace lives as long as its lane in the drive that runs it; a new drive (a resume, a
//! rollback, another worker) opens an empty one and restores the checkpoint it starts from,
//! which costs one entry per path, not one copy per file.

use super::snapshot::needed;
use super::{
    BlobSource, CaptureError, CaptureLimits, CaptureTo, Captured, NewBlob, RestoreStats, Workspace,
    Workspaces,
};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use wtb_core::model::ExecutionId;
use wtb_core::model::{Digest, EntryKind, FileEntry, FileTree, check_tree, diff_trees};
use wtb_vfs::{Budget, Content, Entry, Errno, Loader, Pool, Vfs};

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

fn vfs_error(path: &str) -> impl Fn(Errno) -> CaptureError + '_ {
    move |e| CaptureError::Io { path: path.to_owned(), source: io::Error::other(e.to_string()) }
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
    Ok(vfs)
}

/// Whether a capture may put contents in the blob store (which may block the thread).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Puts {
    /// Yes: it runs on the blocking pool.
    Allowed,
    /// No: it runs inline, and gives up (`None`) when a content would need a put.
    Refused,
}

/// The tree `vfs` holds, with the new contents it needs (large ones put in the CAS now).
fn capture(
    vfs: &mut Vfs,
    base: &FileTree,
    to: CaptureTo<'_>,
    puts: Puts,
) -> Result<Option<Captured>, CaptureError> {
    let limits: &CaptureLimits = to.limits;
    let entries = vfs.entries();
    if entries.len() > limits.max_entries {
        return Err(CaptureError::TooManyEntries { limit: limits.max_entries });
    }
    let mut tree = FileTree::new();
    let mut pending: BTreeMap<Digest, NewBlob> = BTreeMap::new();
    for (path, entry) in entries {
        let (kind, digest, size, ino) = match entry {
            Entry::Dir(ino) => (EntryKind::Dir, None, 0, ino),
            Entry::Symlink(ino, target) => {
                let digest = Digest::of(target.as_bytes());
                let size = target.len() as u64;
                pending.entry(digest).or_insert(NewBlob { digest, size, inline: Some(target.into_bytes()) });
                (EntryKind::Symlink, Some(digest), size, ino)
            }
            Entry::File(ino, content) => {
                let size = content.len();
                if size > limits.max_file_bytes {
                    return Err(CaptureError::FileTooLarge { path, size, limit: limits.max_file_bytes });
                }
                let (digest, bytes) = match content.key().map(Digest::from_bytes) {
                    Some(digest) => (digest, content.loaded().cloned()),
                    _ => {
                        let bytes = vfs.contents(ino).map_err(vfs_error(&path))?;
                        let digest = Digest::of(&bytes);
                        // The next capture of this lane finds it unchanged without hashing.
                        vfs.set_key(ino, *digest.as_bytes()).map_err(vfs_error(&path))?;
                        (digest, Some(bytes))
                    }
                };
                // New at this path: its bytes go with the commit (stored again if an earlier
                // capture's commit never landed: storing is idempotent). A file never loaded
                // was restored from the store, so its content is there.
                let in_base = base.get(&path).and_then(|e| e.digest) == Some(digest);
                if let (false, false, Some(bytes)) = (in_base, pending.contains_key(&digest), bytes) {
                    let inline = (size <= limits.inline_max_bytes).then(|| bytes.to_vec());
                    if inline.is_none() {
                        if puts == Puts::Refused {
                            return Ok(None);
                        }
                        to.cas.put(to.tenant, &digest, &mut &bytes[..]).map_err(CaptureError::io(&path))?;
                    }
                    pending.insert(digest, NewBlob { digest, size, inline });
                }
                (EntryKind::File, Some(digest), size, ino)
            }
        };
        let mode = vfs.mode(ino).map_err(vfs_error(&path))?;
        tree.insert(path, FileEntry { kind, digest, size, mode });
    }
    let changes = diff_trees(base, &tree);
    let blobs = needed(pending, &changes);
    Ok(Some(Captured { tree, changes, blobs }))
}

impl MemoryWorkspaces {
    /// Workspaces that together hold at most `pool`'s bytes.
    pub fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }

    /// An empty workspace (one a lane of any execution would open).
    pub fn empty(&self) -> Workspace {
        Workspace::Virtual(Arc::new(Mutex::new(Vfs::in_pool(Budget::default(), self.pool.clone()))))
    }
}

impl Workspaces for MemoryWorkspaces {
    fn open(&self, _execution: ExecutionId, _lane: u32) -> io::Result<Workspace> {
        Ok(self.empty())
    }

    fn kept(&self) -> bool {
        false
    }

    fn remove_lanes(&self, _execution: ExecutionId, _lanes: &[u32]) -> io::Result<()> {
        Ok(()) // dropped with their drive
    }

    fn remove_execution(&self, _execution: ExecutionId) -> io::Result<()> {
        Ok(())
    }

    fn restore(
        &self,
        ws: &mut Workspace,
        target: &FileTree,
        blobs: Arc<dyn BlobSource>,
        _limits: &CaptureLimits,
    ) -> Result<RestoreStats, CaptureError> {
        check_tree(target).map_err(CaptureError::InvalidTree)?;
        let before = ws.tree()?.lock().unwrap_or_else(|e| e.into_inner()).entries().len();
        let vfs = build(target, blobs, self.pool.clone())?;
        *ws = Workspace::Virtual(Arc::new(Mutex::new(vfs)));
        Ok(RestoreStats { written: target.len(), removed: before })
    }

    fn capture(
        &self,
        ws: &mut Workspace,
        base: &FileTree,
        new: CaptureTo<'_>,
    ) -> Result<Captured, CaptureError> {
        let mut vfs = ws.tree()?.lock().unwrap_or_else(|e| e.into_inner());
        Ok(capture(&mut vfs, base, new, Puts::Allowed)?.expect("puts are allowed"))
    }

    /// Inline unless a content must go to the blob store (which may block): then `None`, and
    /// the caller runs [`Workspaces::capture`] on the blocking pool.
    fn capture_quick(
        &self,
        ws: &mut Workspace,
        base: &FileTree,
        new: CaptureTo<'_>,
    ) -> Result<Option<Captured>, CaptureError> {
        capture(&mut ws.tree()?.lock().unwrap_or_else(|e| e.into_inner()), base, new, Puts::Refused)
    }
}
