//! Capture of an in-memory workspace: the tree the guest left, as a file tree with its changes
//! and the contents they need.
//!
//! Usually only what changed is looked at: the workspace records which names changed since
//! the tree it was last listed as ([`Vfs::changed`]), so a node that wrote one file into a
//! 10,000-file workspace costs one entry, and an unchanged workspace costs nothing. The whole
//! tree is walked when that record is missing (a new lane, too many changes, a write through a
//! second name) or the base is not the tree last listed. Debug builds check every incremental
//! capture against a walk.

use super::snapshot::needed;
use super::{CaptureError, CaptureLimits, CaptureTo, Captured, NewBlob, Workspace};
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use wtb_core::model::{Digest, EntryKind, FileEntry, FileTree, diff_trees};
use wtb_vfs::{Changed, Entry, Errno, Vfs};

/// Whether a capture may put contents in the blob store (which may block the thread).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Puts {
    /// Yes: it runs on the blocking pool.
    Allowed,
    /// No: it runs inline, and gives up (`None`) when a content would need a put.
    Refused,
}

pub(super) fn vfs_error(path: &str) -> impl Fn(Errno) -> CaptureError + '_ {
    move |e| CaptureError::Io { path: path.to_owned(), source: io::Error::other(e.to_string()) }
}

/// Captures `ws` against `base`, then makes the result the tree later changes are relative to.
pub(super) fn capture(
    ws: &mut Workspace,
    base: &Arc<FileTree>,
    to: CaptureTo<'_>,
    puts: Puts,
) -> Result<Option<Captured>, CaptureError> {
    let mut vfs = ws.vfs.lock().unwrap_or_else(|e| e.into_inner());
    let listed = ws.listed.as_ref().filter(|l| Arc::ptr_eq(l, base));
    let captured = match (listed, vfs.changed()) {
        (Some(listed), Some(changed)) => {
            let captured = capture_changed(&mut vfs, listed, changed, to, puts)?;
            // Debug builds: it must equal what walking everything finds (against itself as
            // the base, a walk that agrees stores nothing).
            #[cfg(debug_assertions)]
            if let Some(c) = &captured {
                let walked = capture_all(&mut vfs, &c.tree, to, Puts::Refused)?.map(|w| w.tree);
                assert_eq!(walked.as_ref(), Some(&c.tree), "an incremental capture differs from a walk");
            }
            captured
        }
        _ => capture_all(&mut vfs, base, to, puts)?,
    };
    if let Some(c) = &captured {
        vfs.mark();
        ws.listed = Some(c.tree.clone());
    }
    Ok(captured)
}

/// Walks the whole tree.
fn capture_all(
    vfs: &mut Vfs,
    base: &FileTree,
    to: CaptureTo<'_>,
    puts: Puts,
) -> Result<Option<Captured>, CaptureError> {
    let entries = vfs.entries().map_err(CaptureError::too_long)?;
    if entries.len() > to.limits.max_entries {
        return Err(CaptureError::TooManyEntries { limit: to.limits.max_entries });
    }
    let mut new = New { base, to, puts, pending: BTreeMap::new() };
    let mut tree = FileTree::new();
    for (path, entry) in entries {
        let Some(e) = new.record(vfs, &path, entry)? else { return Ok(None) };
        tree.insert(path, e);
    }
    let changes = diff_trees(base, &tree);
    Ok(Some(Captured { blobs: needed(new.pending, &changes), tree: Arc::new(tree), changes }))
}

/// `listed` (the tree the workspace held at its last listing, and the base) with `changed`
/// applied: the cost is the change's, plus one copy of the tree's index.
fn capture_changed(
    vfs: &mut Vfs,
    listed: &Arc<FileTree>,
    changed: Changed,
    to: CaptureTo<'_>,
    puts: Puts,
) -> Result<Option<Captured>, CaptureError> {
    if changed.is_empty() {
        return Ok(Some(Captured { tree: listed.clone(), changes: Vec::new(), blobs: Vec::new() }));
    }
    let mut tree = FileTree::clone(listed);
    let (mut before, mut after) = (FileTree::new(), FileTree::new());
    for path in &changed.dropped {
        before.extend(take_under(&mut tree, path));
    }
    let mut new = New { base: listed, to, puts, pending: BTreeMap::new() };
    for (path, entry) in changed.entries {
        let Some(e) = new.record(vfs, &path, entry)? else { return Ok(None) };
        after.insert(path, e);
    }
    if tree.len() + after.len() > to.limits.max_entries {
        return Err(CaptureError::TooManyEntries { limit: to.limits.max_entries });
    }
    // Beyond the dropped paths the tree is the base's, so the changes are theirs alone.
    let changes = diff_trees(&before, &after);
    tree.extend(after);
    Ok(Some(Captured { blobs: needed(new.pending, &changes), tree: Arc::new(tree), changes }))
}

/// Removes `path` and everything beneath it from `tree`, returning them.
fn take_under(tree: &mut FileTree, path: &str) -> FileTree {
    let mut taken = FileTree::new();
    if let Some(e) = tree.remove(path) {
        taken.insert(path.to_owned(), e);
    }
    let (under, beyond) = (format!("{path}/"), format!("{path}0")); // '0' follows '/'
    let keys: Vec<String> = tree.range(under..beyond).map(|(k, _)| k.clone()).collect();
    for k in keys {
        let e = tree.remove(&k).expect("a key just listed");
        taken.insert(k, e);
    }
    taken
}

/// How the entries of one capture become file entries, and the contents they bring.
struct New<'a> {
    base: &'a FileTree,
    to: CaptureTo<'a>,
    puts: Puts,
    pending: BTreeMap<Digest, NewBlob>,
}

impl New<'_> {
    /// `entry` at `path` as a file entry, hashing a file written since its last capture and
    /// keeping the bytes of a content new at this path; `None` when a put was refused.
    fn record(&mut self, vfs: &mut Vfs, path: &str, entry: Entry) -> Result<Option<FileEntry>, CaptureError> {
        let limits: &CaptureLimits = self.to.limits;
        let (kind, digest, size, ino) = match entry {
            Entry::Dir(ino) => (EntryKind::Dir, None, 0, ino),
            Entry::Symlink(ino, target) => {
                let digest = Digest::of(target.as_bytes());
                let size = target.len() as u64;
                let blob = NewBlob { digest, size, inline: Some(target.into_bytes()) };
                self.pending.entry(digest).or_insert(blob);
                (EntryKind::Symlink, Some(digest), size, ino)
            }
            Entry::File(ino, content) => {
                let size = content.len();
                if size > limits.max_file_bytes {
                    let path = path.to_owned();
                    return Err(CaptureError::FileTooLarge { path, size, limit: limits.max_file_bytes });
                }
                let (digest, bytes) = match content.key().map(Digest::from_bytes) {
                    Some(digest) => (digest, content.loaded().cloned()),
                    _ => {
                        let bytes = vfs.contents(ino).map_err(vfs_error(path))?;
                        let digest = Digest::of(&bytes);
                        // The next capture of this lane finds it unchanged without hashing.
                        vfs.set_key(ino, *digest.as_bytes()).map_err(vfs_error(path))?;
                        (digest, Some(bytes))
                    }
                };
                // New at this path: its bytes go with the commit (stored again if an earlier
                // capture's commit never landed: storing is idempotent). A file never loaded
                // was restored from the store, so its content is there.
                let in_base = self.base.get(path).and_then(|e| e.digest) == Some(digest);
                if let (false, false, Some(bytes)) = (in_base, self.pending.contains_key(&digest), bytes) {
                    let inline = (size <= limits.inline_max_bytes).then(|| bytes.to_vec());
                    if inline.is_none() {
                        if self.puts == Puts::Refused {
                            return Ok(None);
                        }
                        let to = self.to;
                        to.cas.put(to.tenant, &digest, &mut &bytes[..]).map_err(CaptureError::io(path))?;
                    }
                    self.pending.insert(digest, NewBlob { digest, size, inline });
                }
                (EntryKind::File, Some(digest), size, ino)
            }
        };
        let mode = vfs.mode(ino).map_err(vfs_error(path))?;
        Ok(Some(FileEntry { kind, digest, size, mode }))
    }
}
