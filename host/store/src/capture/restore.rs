//! Restore: make a workspace equal to a file tree, rewriting only what differs.

use super::scan::{CaptureError, CaptureLimits, Scanned, scan};
use super::{DirWorkspace, beneath};
use crate::cas::hash_reader;
use std::io::{self, Read, Write};
use wtb_core::model::diff_trees;
use wtb_core::model::{ChangeKind, Digest, EntryKind, FileEntry, FileTree, check_tree};

/// Where restore gets contents from (inline rows and CAS objects, in the executor).
pub trait BlobSource: Send + Sync {
    /// A reader over the content with `digest`.
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>>;
}

/// What a restore did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Paths written or created.
    pub written: usize,
    /// Paths removed.
    pub removed: usize,
}

/// Makes the workspace hold exactly `target`. Current content is compared by digest (not
/// trusted from the index), so whatever a failed node did is undone. A file is hashed only
/// when the target holds a file of the same size at its path; anything else differs anyway,
/// so a guest's 1 TB sparse file is deleted, not read. The workspace is scanned without the
/// capture caps: whatever a guest left, restore must be able to clear it.
///
/// A target that is not a workspace (an entry under a non-directory, a path with `..`) is
/// refused before anything changes; and every operation resolves its path beneath the root
/// without following a link (see [`beneath`]), whatever the guest left on disk.
pub fn restore(
    ws: &mut DirWorkspace,
    target: &FileTree,
    blobs: &dyn BlobSource,
    limits: &CaptureLimits,
) -> Result<RestoreStats, CaptureError> {
    check_tree(target).map_err(CaptureError::InvalidTree)?;
    ws.index.clear();
    let mut current = FileTree::new();
    let uncapped = CaptureLimits { max_file_bytes: u64::MAX, max_entries: usize::MAX, ..*limits };
    let scanned = match scan(&ws.dir, &uncapped) {
        // A chain deeper than any path (no target holds one): start from an empty directory.
        Err(CaptureError::PathTooLong { .. }) => {
            let mut names = Vec::new();
            for entry in ws.dir.entries().map_err(CaptureError::io("/"))? {
                names.push(entry.map_err(CaptureError::io("/"))?.file_name().to_string_lossy().into_owned());
            }
            for name in names {
                remove(ws, &name)?;
            }
            Vec::new()
        }
        r => r?,
    };
    // Files are restored as copies; only a file kept from before can still be a hard link.
    ws.aliased = scanned.iter().any(Scanned::is_hard_linked);
    for s in scanned {
        let digest = match s.kind {
            EntryKind::Dir => None,
            EntryKind::Symlink => {
                Some(Digest::of(&beneath::readlink(&ws.dir, &s.path).map_err(CaptureError::io(&s.path))?))
            }
            EntryKind::File
                if target.get(&s.path).is_none_or(|t| t.kind != EntryKind::File || t.size != s.key.size) =>
            {
                None
            }
            EntryKind::File => {
                let f = beneath::open_file(&ws.dir, &s.path).map_err(CaptureError::io(&s.path))?;
                Some(hash_reader(f).map_err(CaptureError::io(&s.path))?.0)
            }
        };
        current.insert(s.path, FileEntry { kind: s.kind, digest, size: s.key.size, mode: s.key.mode });
    }
    let changes = diff_trees(&current, target);
    let mut stats = RestoreStats::default();
    // Deepest first, so a directory is empty when its turn comes; a path whose kind changes
    // is removed, then recreated below.
    for c in changes.iter().rev() {
        let old = current.get(&c.path);
        let kind_changed = matches!((old, &c.entry), (Some(o), Some(n)) if o.kind != n.kind);
        if c.change == ChangeKind::Deleted
            || kind_changed
            || old.is_some_and(|o| o.kind != EntryKind::Dir && c.entry.is_some())
        {
            remove(ws, &c.path)?;
            if c.change == ChangeKind::Deleted {
                stats.removed += 1;
            }
        }
    }
    for c in &changes {
        let Some(entry) = &c.entry else { continue };
        let path = c.path.as_str();
        match entry.kind {
            EntryKind::Dir => {
                if current.get(path).is_none_or(|o| o.kind != EntryKind::Dir) {
                    beneath::create_dir(&ws.dir, path).map_err(CaptureError::io(path))?;
                }
            }
            EntryKind::File => {
                let digest = entry.digest.ok_or_else(|| missing_digest(path))?;
                let mut src = blobs.open(&digest).map_err(CaptureError::io(path))?;
                let mut out = beneath::create_file(&ws.dir, path).map_err(CaptureError::io(path))?;
                io::copy(&mut src, &mut out).and_then(|_| out.flush()).map_err(CaptureError::io(path))?;
            }
            EntryKind::Symlink => {
                let digest = entry.digest.ok_or_else(|| missing_digest(path))?;
                let mut target_bytes = Vec::new();
                blobs
                    .open(&digest)
                    .and_then(|mut r| r.read_to_end(&mut target_bytes))
                    .map_err(CaptureError::io(path))?;
                beneath::symlink(&ws.dir, &target_bytes, path).map_err(CaptureError::io(path))?;
            }
        }
        stats.written += 1;
    }
    Ok(stats)
}

fn remove(ws: &DirWorkspace, path: &str) -> Result<(), CaptureError> {
    match beneath::remove_all(&ws.dir, path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(CaptureError::io(path)(e)),
        _ => Ok(()),
    }
}

fn missing_digest(path: &str) -> CaptureError {
    CaptureError::io(path)(io::Error::new(io::ErrorKind::InvalidData, "tree entry has no digest"))
}
