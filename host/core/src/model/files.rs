//! File commits: immutable snapshots of a workspace, and the blobs they point to.

use super::{Digest, FileCommitId, TenantId, Timestamp, text_enum};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a path in a workspace is. Symlinks are stored as links (their target is the blob),
/// never followed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
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
pub type FileTree = BTreeMap<String, FileEntry>;

/// How a path changed between a commit and its parent.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct FileChange {
    /// The path.
    pub path: String,
    /// Added, modified or deleted.
    pub change: ChangeKind,
    /// The new entry; `None` when deleted.
    pub entry: Option<FileEntry>,
}

/// Every this many commits along a parent chain, a commit stores its whole tree; the others
/// store only their changes and are rebuilt from the nearest snapshot. Storing every tree
/// made each commit O(workspace) and the database grow quadratically with the file count.
pub const SNAPSHOT_INTERVAL: u32 = 16;

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
    /// Whether this commit stores its whole tree (see [`SNAPSHOT_INTERVAL`]).
    pub fn is_snapshot(&self) -> bool {
        self.depth.is_multiple_of(SNAPSHOT_INTERVAL)
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
