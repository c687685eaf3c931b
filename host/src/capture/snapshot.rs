//! Capture: workspace → file tree, changes and the new blobs they need.

use super::index::filesystem_tick;
use super::scan::{CaptureError, CaptureLimits, scan};
use super::{Workspace, diff_trees};
use crate::cas::{LocalCas, hash_reader};
use crate::model::{Digest, EntryKind, FileChange, FileEntry, FileTree, TenantId};
use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions};
use std::collections::BTreeMap;
use std::io::{Read, Seek};

/// Content the new commit references that the base did not. Large contents are already
/// durable in the CAS when this is returned; small ones travel inline to the database.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewBlob {
    /// The digest.
    pub digest: Digest,
    /// Its length.
    pub size: u64,
    /// The bytes, when at most the inline limit; `None` when written to the CAS.
    pub inline: Option<Vec<u8>>,
}

/// The result of a capture.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Every path in the workspace.
    pub tree: FileTree,
    /// The changes from the base tree.
    pub changes: Vec<FileChange>,
    /// Blobs the changed entries need, one per digest.
    pub blobs: Vec<NewBlob>,
}

/// Captures `ws` against `base` (the tree of the entry commit). Writes large new contents to
/// the CAS (durably) before returning; the caller commits the rest in one transaction.
pub fn capture(
    ws: &mut Workspace,
    base: &FileTree,
    cas: &LocalCas,
    tenant: TenantId,
    limits: &CaptureLimits,
) -> Result<Captured, CaptureError> {
    let scanned = scan(&ws.dir, limits)?;
    let tick = filesystem_tick();
    // Collected, then built in one go: `BTreeMap`'s `FromIterator` sorts and bulk-loads, which
    // beats inserting the walk's (hash-ordered) paths one by one.
    let mut entries = Vec::with_capacity(scanned.len());
    let mut pending: BTreeMap<Digest, NewBlob> = BTreeMap::new();
    ws.index.begin();
    for s in scanned {
        let entry = match s.kind {
            EntryKind::Dir => FileEntry { kind: EntryKind::Dir, digest: None, size: 0, mode: s.key.mode },
            EntryKind::Symlink => {
                let target = rustix::fs::readlinkat(&ws.dir, s.path.as_str(), Vec::new())
                    .map_err(|e| CaptureError::io(&s.path)(e.into()))?
                    .into_bytes();
                let digest = Digest::of(&target);
                let size = target.len() as u64;
                pending.entry(digest).or_insert(NewBlob { digest, size, inline: Some(target) });
                FileEntry { kind: EntryKind::Symlink, digest: Some(digest), size, mode: s.key.mode }
            }
            EntryKind::File => {
                let digest = match ws.index.lookup(&s.path, &s.key) {
                    Some(d) => d,
                    None => {
                        let d = hash_file(&ws.dir, &s.path, s.key.size, base, cas, tenant, limits, &mut pending)?;
                        ws.index.record(&s.path, s.key, d);
                        d
                    }
                };
                FileEntry { kind: EntryKind::File, digest: Some(digest), size: s.key.size, mode: s.key.mode }
            }
        };
        entries.push((s.path, entry));
    }
    let tree: FileTree = entries.into_iter().collect();
    ws.index.finish(tick);
    let changes = diff_trees(base, &tree);
    let needed: std::collections::HashSet<Digest> =
        changes.iter().filter_map(|c| c.entry.as_ref()?.digest).collect();
    let blobs = pending.into_values().filter(|b| needed.contains(&b.digest)).collect();
    Ok(Captured { tree, changes, blobs })
}

/// Hashes one file. Small files are read into memory once (kept if new); large ones are
/// streamed, and copied to the CAS only if the base tree did not already hold that content.
#[expect(clippy::too_many_arguments, reason = "one private helper of `capture`, called once")]
fn hash_file(
    dir: &Dir,
    path: &str,
    size: u64,
    base: &FileTree,
    cas: &LocalCas,
    tenant: TenantId,
    limits: &CaptureLimits,
    pending: &mut BTreeMap<Digest, NewBlob>,
) -> Result<Digest, CaptureError> {
    let mut opts = OpenOptions::new();
    opts.read(true).follow(FollowSymlinks::No);
    let mut file = dir.open_with(path, &opts).map_err(CaptureError::io(path))?;
    if size <= limits.inline_max_bytes {
        let mut bytes = Vec::with_capacity(size as usize);
        file.by_ref().take(limits.inline_max_bytes + 1).read_to_end(&mut bytes).map_err(CaptureError::io(path))?;
        if bytes.len() as u64 <= limits.inline_max_bytes {
            let digest = Digest::of(&bytes);
            let size = bytes.len() as u64;
            pending.entry(digest).or_insert(NewBlob { digest, size, inline: Some(bytes) });
            return Ok(digest);
        }
        file.rewind().map_err(CaptureError::io(path))?;
    }
    let (digest, len) = hash_reader(file.by_ref().take(limits.max_file_bytes + 1)).map_err(CaptureError::io(path))?;
    if len > limits.max_file_bytes {
        return Err(CaptureError::FileTooLarge { path: path.to_owned(), size: len, limit: limits.max_file_bytes });
    }
    let in_base = base.get(path).and_then(|e| e.digest) == Some(digest);
    if !in_base && !pending.contains_key(&digest) {
        file.rewind().map_err(CaptureError::io(path))?;
        cas.put(tenant, &digest, &mut file).map_err(CaptureError::io(path))?;
        pending.insert(digest, NewBlob { digest, size: len, inline: None });
    }
    Ok(digest)
}
