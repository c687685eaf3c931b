//! Capture: workspace → file tree, changes and the new blobs they need.

use super::index::filesystem_tick;
use super::scan::{CaptureError, CaptureLimits, Scanned, scan, scan_at};
use super::{DirWorkspace, beneath};
use crate::cas::{BlobStore, hash_reader};
use cap_std::fs::Dir;
use std::collections::BTreeMap;
use std::io::{Read, Seek};
use wtb_core::model::diff_trees;
use wtb_core::model::{Digest, EntryKind, FileChange, FileEntry, FileTree, TenantId};
use wtb_core::model::{Touched, is_under};

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
    /// Every path in the workspace (shared: an unchanged workspace's is its base's).
    pub tree: std::sync::Arc<FileTree>,
    /// The changes from the base tree.
    pub changes: Vec<FileChange>,
    /// Blobs the changed entries need, one per digest.
    pub blobs: Vec<NewBlob>,
}

/// Captures `ws` against `base` (the tree of the entry commit, which the workspace held when
/// the attempt began) after an attempt that changed what `touched` says. Writes large new
/// contents to the CAS (durably) before returning; the caller commits the rest in one
/// transaction.
pub fn capture(
    ws: &mut DirWorkspace,
    base: &FileTree,
    cas: &dyn BlobStore,
    tenant: TenantId,
    limits: &CaptureLimits,
    touched: &Touched,
) -> Result<Captured, CaptureError> {
    if by_path(ws, base, touched)
        && let Some(captured) = capture_touched(ws, base, cas, tenant, limits, touched)?
    {
        return Ok(captured);
    }
    capture_all(ws, base, cas, tenant, limits)
}

/// Whether the touched paths alone can tell what changed.
fn by_path(ws: &DirWorkspace, base: &FileTree, touched: &Touched) -> bool {
    !touched.is_everything() && !ws.aliased && !base.values().any(|e| e.kind == EntryKind::Symlink)
}

/// The whole-workspace walk, with the stat index sparing unchanged files their hashing.
fn capture_all(
    ws: &mut DirWorkspace,
    base: &FileTree,
    cas: &dyn BlobStore,
    tenant: TenantId,
    limits: &CaptureLimits,
) -> Result<Captured, CaptureError> {
    let scanned = scan(&ws.dir, limits)?;
    let tick = filesystem_tick();
    ws.aliased = scanned.iter().any(Scanned::is_hard_linked);
    // Collected, then built in one go: `BTreeMap`'s `FromIterator` sorts and bulk-loads, which
    // beats inserting the walk's (hash-ordered) paths one by one.
    let mut entries = Vec::with_capacity(scanned.len());
    let mut pending: BTreeMap<Digest, NewBlob> = BTreeMap::new();
    ws.index.begin();
    for s in scanned {
        let entry = match s.kind {
            EntryKind::File => {
                let digest = match ws.index.lookup(&s.path, &s.key) {
                    Some(d) => d,
                    None => {
                        let d =
                            hash_file(&ws.dir, &s.path, s.key.size, base, cas, tenant, limits, &mut pending)?;
                        ws.index.record(&s.path, s.key, d);
                        d
                    }
                };
                FileEntry { kind: EntryKind::File, digest: Some(digest), size: s.key.size, mode: s.key.mode }
            }
            _ => entry_of(&ws.dir, &s, base, cas, tenant, limits, &mut pending)?,
        };
        entries.push((s.path, entry));
    }
    let tree: FileTree = entries.into_iter().collect();
    ws.index.finish(tick);
    let changes = diff_trees(base, &tree);
    Ok(Captured { blobs: needed(pending, &changes), tree: tree.into(), changes })
}

/// Examines only the touched paths (and what is under them); the base tree stands for the
/// rest. `None` when the workspace turns out to need the full walk (a touched path is a
/// symlink or has several hard links).
fn capture_touched(
    ws: &mut DirWorkspace,
    base: &FileTree,
    cas: &dyn BlobStore,
    tenant: TenantId,
    limits: &CaptureLimits,
    touched: &Touched,
) -> Result<Option<Captured>, CaptureError> {
    let mut found = Vec::new();
    for root in touched.roots() {
        let scanned = scan_at(&ws.dir, root, limits)?;
        for s in &scanned {
            match s.kind {
                EntryKind::Symlink => return Ok(None),
                EntryKind::File if s.is_hard_linked() => return Ok(None),
                EntryKind::File | EntryKind::Dir => {}
            }
        }
        found.push((root, scanned));
    }
    let mut tree = base.clone();
    let mut pending: BTreeMap<Digest, NewBlob> = BTreeMap::new();
    let mut changes = Vec::new();
    for (root, scanned) in found {
        let old: FileTree = subtree(base, root).map(|(p, e)| (p.clone(), e.clone())).collect();
        for p in old.keys() {
            tree.remove(p);
            // The index's fingerprint of a changed path is stale; a later walk hashes it anew.
            ws.index.forget(p);
        }
        let mut new = FileTree::new();
        for s in &scanned {
            new.insert(s.path.clone(), entry_of(&ws.dir, s, base, cas, tenant, limits, &mut pending)?);
        }
        if tree.len() + new.len() > limits.max_entries {
            return Err(CaptureError::TooManyEntries { limit: limits.max_entries });
        }
        changes.extend(diff_trees(&old, &new));
        tree.extend(new);
    }
    // Roots are in order, but a root's subtree (`a/…`) sorts after a sibling such as `a-b`.
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    #[cfg(debug_assertions)]
    verify_against_walk(ws, &tree, limits);
    Ok(Some(Captured { blobs: needed(pending, &changes), tree: tree.into(), changes }))
}

/// The entries of `tree` at `root` and under it.
fn subtree<'t>(tree: &'t FileTree, root: &'t str) -> impl Iterator<Item = (&'t String, &'t FileEntry)> {
    tree.range::<_, str>((std::ops::Bound::Included(root), std::ops::Bound::Unbounded))
        .take_while(move |(p, _)| p.starts_with(root))
        .filter(move |(p, _)| is_under(p, root))
}

/// The tree entry of one scanned path, hashing a file's content.
fn entry_of(
    dir: &Dir,
    s: &Scanned,
    base: &FileTree,
    cas: &dyn BlobStore,
    tenant: TenantId,
    limits: &CaptureLimits,
    pending: &mut BTreeMap<Digest, NewBlob>,
) -> Result<FileEntry, CaptureError> {
    Ok(match s.kind {
        EntryKind::Dir => FileEntry { kind: EntryKind::Dir, digest: None, size: 0, mode: s.key.mode },
        EntryKind::Symlink => {
            let target = beneath::readlink(dir, &s.path).map_err(CaptureError::io(&s.path))?;
            let digest = Digest::of(&target);
            let size = target.len() as u64;
            pending.entry(digest).or_insert(NewBlob { digest, size, inline: Some(target) });
            FileEntry { kind: EntryKind::Symlink, digest: Some(digest), size, mode: s.key.mode }
        }
        EntryKind::File => {
            let digest = hash_file(dir, &s.path, s.key.size, base, cas, tenant, limits, pending)?;
            FileEntry { kind: EntryKind::File, digest: Some(digest), size: s.key.size, mode: s.key.mode }
        }
    })
}

/// The blobs the changes reference, one per digest.
pub(super) fn needed(pending: BTreeMap<Digest, NewBlob>, changes: &[FileChange]) -> Vec<NewBlob> {
    let needed: std::collections::HashSet<Digest> =
        changes.iter().filter_map(|c| c.entry.as_ref()?.digest).collect();
    pending.into_values().filter(|b| needed.contains(&b.digest)).collect()
}

/// Debug builds: a path-only capture must equal what walking everything finds.
#[cfg(debug_assertions)]
fn verify_against_walk(ws: &DirWorkspace, tree: &FileTree, limits: &CaptureLimits) {
    let uncapped = CaptureLimits { max_entries: usize::MAX, ..*limits };
    let walked: FileTree = scan(&ws.dir, &uncapped)
        .expect("walking the workspace to verify a capture")
        .into_iter()
        .map(|s| {
            let digest = match s.kind {
                EntryKind::Dir => None,
                EntryKind::Symlink => {
                    Some(Digest::of(&beneath::readlink(&ws.dir, &s.path).expect("readlink")))
                }
                EntryKind::File => {
                    let f = beneath::open_file(&ws.dir, &s.path).expect("opening to verify");
                    Some(hash_reader(f).expect("hashing to verify").0)
                }
            };
            let size = if s.kind == EntryKind::Dir { 0 } else { s.key.size };
            (s.path, FileEntry { kind: s.kind, digest, size, mode: s.key.mode })
        })
        .collect();
    if &walked != tree {
        let diff: Vec<String> = diff_trees(&walked, tree)
            .iter()
            .map(|c| {
                format!("{}: on disk {:?}, captured {:?}", c.path, walked.get(&c.path), tree.get(&c.path))
            })
            .collect();
        panic!("a path-only capture differs from the workspace: {diff:?}");
    }
}

/// Hashes one file. Small files are read into memory once (kept if new); large ones are
/// streamed, and copied to the CAS only if the base tree did not already hold that content.
#[expect(clippy::too_many_arguments, reason = "one private helper of `capture`, called once")]
fn hash_file(
    dir: &Dir,
    path: &str,
    size: u64,
    base: &FileTree,
    cas: &dyn BlobStore,
    tenant: TenantId,
    limits: &CaptureLimits,
    pending: &mut BTreeMap<Digest, NewBlob>,
) -> Result<Digest, CaptureError> {
    let mut file = beneath::open_file(dir, path).map_err(CaptureError::io(path))?;
    if size <= limits.inline_max_bytes {
        let mut bytes = Vec::with_capacity(size as usize);
        file.by_ref()
            .take(limits.inline_max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(CaptureError::io(path))?;
        if bytes.len() as u64 <= limits.inline_max_bytes {
            let digest = Digest::of(&bytes);
            let size = bytes.len() as u64;
            pending.entry(digest).or_insert(NewBlob { digest, size, inline: Some(bytes) });
            return Ok(digest);
        }
        file.rewind().map_err(CaptureError::io(path))?;
    }
    let (digest, len) =
        hash_reader(file.by_ref().take(limits.max_file_bytes + 1)).map_err(CaptureError::io(path))?;
    if len > limits.max_file_bytes {
        return Err(CaptureError::FileTooLarge {
            path: path.to_owned(),
            size: len,
            limit: limits.max_file_bytes,
        });
    }
    let in_base = base.get(path).and_then(|e| e.digest) == Some(digest);
    if !in_base && !pending.contains_key(&digest) {
        file.rewind().map_err(CaptureError::io(path))?;
        cas.put(tenant, &digest, &mut file).map_err(CaptureError::io(path))?;
        pending.insert(digest, NewBlob { digest, size: len, inline: None });
    }
    Ok(digest)
}
