//! File commits: immutable snapshots of a workspace, and the blobs they point to.

use super::{Digest, FileCommitId, TenantId, Timestamp, text_enum};
use std::sync::Arc;

/// What a path in a workspace is. Symlinks are stored as links (their target is the blob),
/// never followed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory (recorded so empty directories survive a restore).
    Dir,
    /// A symbolic link; its blob holds the target path.
    Symlink,
}
text_enum!(EntryKind, "entry kind", { File => "file", Dir => "dir", Symlink => "symlink" });

/// One path in a file commit.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FileEntry {
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Content digest (file bytes or link target); `None` for directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
}

/// A whole workspace: `/`-separated relative path → entry, sorted so parents precede children.
/// Persistent: a clone shares every entry, and a change copies only its path in the map, so a
/// node's capture costs its change, not the size of the workspace.
pub type FileTree = imbl::OrdMap<String, FileEntry>;

/// How a path changed between a commit and its parent.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New path.
    Added,
    /// Same path, different content, kind or mode.
    Modified,
    /// Path gone.
    Deleted,
}
text_enum!(ChangeKind, "change kind", { Added => "added", Modified => "modified", Deleted => "deleted" });

/// One changed path.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FileChange {
    /// The path.
    pub path: String,
    /// Added, modified or deleted.
    pub change: ChangeKind,
    /// The new entry; `None` when deleted.
    pub entry: Option<FileEntry>,
}

/// A commit stores its whole tree when its depth is a multiple of its interval; the others
/// store only their changes and are rebuilt from the nearest snapshot. The interval is the
/// power of two nearest above how many commits of this one's size make up the tree, between
/// [`SNAPSHOT_INTERVAL_MIN`] and [`SNAPSHOT_INTERVAL_MAX`]: a workspace growing by a file a
/// node then stores about one tree entry per commit whatever its size (a fixed interval of 16
/// stored `files / 16` per commit), and being powers of two, every multiple of the largest is
/// a snapshot, so a tree is never more than `SNAPSHOT_INTERVAL_MAX - 1` deltas away from one.
pub const SNAPSHOT_INTERVAL_MIN: u32 = 16;

/// The most commits between two snapshots along a parent chain (see [`SNAPSHOT_INTERVAL_MIN`]).
pub const SNAPSHOT_INTERVAL_MAX: u32 = 256;

/// An immutable snapshot of a workspace with the changes from its parent.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct FileCommit {
    /// Its id.
    pub id: FileCommitId,
    /// Its owner.
    pub tenant: TenantId,
    /// The commit it was captured against; `None` for an execution's first (empty) commit.
    pub parent: Option<FileCommitId>,
    /// Every path in the workspace; shared (not copied) with the drive's next entries, since a
    /// tree is O(files) and a node may run in a workspace of ten thousand.
    pub tree: Arc<FileTree>,
    /// What changed from `parent`.
    pub changes: Vec<FileChange>,
    /// Commits between this one and the first of its chain (0 for the first).
    pub depth: u32,
    /// When it was captured.
    pub created_at: Timestamp,
}

impl FileCommit {
    /// Whether this commit stores its whole tree (see [`SNAPSHOT_INTERVAL_MIN`]).
    pub fn is_snapshot(&self) -> bool {
        let per_commit = self.tree.len().div_ceil(self.changes.len().max(1)).max(1);
        let interval = u32::try_from(per_commit)
            .unwrap_or(u32::MAX)
            .checked_next_power_of_two()
            .unwrap_or(SNAPSHOT_INTERVAL_MAX)
            .clamp(SNAPSHOT_INTERVAL_MIN, SNAPSHOT_INTERVAL_MAX);
        self.depth.is_multiple_of(interval)
    }

    /// Total bytes of regular files in the tree.
    pub fn total_bytes(&self) -> u64 {
        self.tree.values().filter(|e| e.kind == EntryKind::File).map(|e| e.size).sum()
    }
}

/// A reference from a tenant to content in the store. Small contents live inline in the
/// database (they commit with the transaction, saving an fsync); larger ones in the CAS.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlobRecord {
    /// Owner.
    pub tenant: TenantId,
    /// SHA-256 of the content.
    pub digest: Digest,
    /// Content length.
    pub size: u64,
    /// The content itself when small; `None` when it is a file in the CAS.
    pub inline: Option<Vec<u8>>,
    /// When first stored.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(depth: u32, files: usize, changed: usize) -> FileCommit {
        let entry = FileEntry { kind: EntryKind::File, digest: None, size: 1, mode: 0o644 };
        let tree: FileTree = (0..files).map(|i| (format!("f{i:05}"), entry.clone())).collect();
        let changes = (0..changed)
            .map(|i| FileChange {
                path: format!("f{i:05}"),
                change: ChangeKind::Modified,
                entry: Some(entry.clone()),
            })
            .collect();
        FileCommit {
            id: FileCommitId::from_uuid(uuid::Uuid::nil()),
            tenant: TenantId::DEFAULT,
            parent: None,
            tree: Arc::new(tree),
            changes,
            depth,
            created_at: Timestamp::from_micros(0),
        }
    }

    #[test]
    fn a_growing_tree_stores_about_one_entry_per_commit_and_stays_near_a_snapshot() {
        for nodes in [50u32, 400, 2000] {
            let (mut stored, mut last) = (0usize, 0u32);
            for depth in 0..=nodes {
                let c = commit(depth, depth as usize, 1);
                if c.is_snapshot() {
                    stored += c.tree.len();
                    last = depth;
                }
                assert!(depth - last < SNAPSHOT_INTERVAL_MAX, "depth {depth}: last snapshot {last}");
            }
            let per_commit = stored as f64 / f64::from(nodes);
            assert!(per_commit <= if nodes <= 400 { 1.5 } else { 8.0 }, "{nodes}: {per_commit}");
        }
        // Small trees and large changes keep the shortest interval; every commit at depth 0 is whole.
        assert!(commit(16, 3, 1).is_snapshot() && !commit(8, 3, 1).is_snapshot());
        assert!(commit(0, 10_000, 1).is_snapshot() && commit(16, 5_000, 5_000).is_snapshot());
        assert!(!commit(64, 10_000, 100).is_snapshot() && commit(128, 10_000, 100).is_snapshot());
    }
}
