//! Inodes: what a name points at, with the fields `stat` reports.

use crate::file::Content;
use std::collections::BTreeMap;

/// An inode number, unique within one [`crate::Vfs`] (not across snapshots' later changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ino(pub u64);

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// Access, modification and status-change times, in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    /// Last read.
    pub access: u64,
    /// Last change of content.
    pub modify: u64,
    /// Last change of content or metadata.
    pub change: u64,
}

/// What `stat` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The inode.
    pub ino: Ino,
    /// File, directory or symlink.
    pub kind: Kind,
    /// Names it has (a directory: 2 plus its subdirectories, as on Linux).
    pub nlink: u64,
    /// Bytes of a file, bytes of a symlink's target; a directory's is 4096, as ext4 reports
    /// for a small one.
    pub size: u64,
    /// Its times.
    pub times: Times,
    /// Permission bits (WASI cannot change them; kept from a restore, else the usual
    /// `0o644` for a file, `0o755` for a directory, `0o777` for a symlink).
    pub mode: u32,
}

/// A directory's size as `stat` reports it.
pub(crate) const DIR_SIZE: u64 = 4096;

/// What an inode holds.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    File(Content),
    /// Entries by name, the parent (itself for the root) and its name there (empty for the
    /// root): a directory has one name, so its path is known without a walk.
    Dir {
        entries: BTreeMap<String, crate::Ino>,
        parent: crate::Ino,
        name: String,
        /// Entries that are directories (its link count, without scanning the entries).
        subdirs: u64,
    },
    Symlink(String),
}

/// One inode.
#[derive(Clone, Debug)]
pub(crate) struct Inode {
    pub(crate) node: Node,
    /// Directory entries naming it (for a directory: 0 once removed, else 1; `stat` adds `.`
    /// and its subdirectories' `..`).
    pub(crate) nlink: u64,
    /// Descriptors open on it.
    pub(crate) opens: u32,
    pub(crate) times: Times,
    pub(crate) mode: u32,
}

impl Inode {
    pub(crate) fn dir(parent: crate::Ino, name: String, times: Times) -> Self {
        let node = Node::Dir { entries: BTreeMap::new(), parent, name, subdirs: 0 };
        Self { node, nlink: 1, opens: 0, times, mode: 0o755 }
    }

    pub(crate) fn file(content: Content, times: Times) -> Self {
        Self { node: Node::File(content), nlink: 1, opens: 0, times, mode: 0o644 }
    }

    pub(crate) fn symlink(target: String, times: Times) -> Self {
        Self { node: Node::Symlink(target), nlink: 1, opens: 0, times, mode: 0o777 }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self.node {
            Node::File(_) => Kind::File,
            Node::Dir { .. } => Kind::Dir,
            Node::Symlink(_) => Kind::Symlink,
        }
    }

    /// Bytes it charges against the budget.
    pub(crate) fn content_bytes(&self) -> u64 {
        match &self.node {
            Node::File(c) => c.len(),
            Node::Symlink(t) => t.len() as u64,
            Node::Dir { .. } => 0,
        }
    }

    /// Bytes it holds in memory.
    pub(crate) fn resident_bytes(&self) -> u64 {
        match &self.node {
            Node::File(c) if c.loaded().is_none() => 0,
            _ => self.content_bytes(),
        }
    }

    pub(crate) fn entries(&self) -> Option<&BTreeMap<String, crate::Ino>> {
        match &self.node {
            Node::Dir { entries, .. } => Some(entries),
            _ => None,
        }
    }

    /// What `stat` reports on it.
    pub(crate) fn stat(&self, ino: Ino) -> Stat {
        let (nlink, size) = match &self.node {
            Node::Dir { .. } if self.nlink == 0 => (0, DIR_SIZE),
            Node::Dir { subdirs, .. } => (2 + subdirs, DIR_SIZE),
            _ => (self.nlink, self.content_bytes()),
        };
        Stat { ino, kind: self.kind(), nlink, size, times: self.times, mode: self.mode }
    }
}
