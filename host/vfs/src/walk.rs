//! The whole tree as paths, for capture and comparison, and building one from paths, for
//! restore.

use crate::node::{Inode, Kind};
use crate::{Content, Errno, Ino, PATH_MAX, Vfs};

/// One path of a tree.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A regular file (its inode, so hard links show as one).
    File(Ino, Content),
    /// A directory.
    Dir(Ino),
    /// A symlink (its inode: a symlink can be hard-linked too) and its target.
    Symlink(Ino, String),
}

/// A path of the tree too long for one call to pass ([`PATH_MAX`]). Listing stops there: a
/// guest's chain of directories, deeper than any path can name, would otherwise cost the
/// lister the square of its depth in path bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{prefix}…` is longer than {} bytes", PATH_MAX - 1)]
pub struct PathTooLong {
    /// Its first bytes (at most 64).
    pub prefix: String,
}

impl PathTooLong {
    /// `Err` naming `path` if it is too long, for every walker of a workspace.
    pub fn check(path: &str) -> Result<(), Self> {
        if path.len() < PATH_MAX {
            return Ok(());
        }
        let end = (0..=64).rev().find(|i| path.is_char_boundary(*i)).unwrap_or(0);
        Err(Self { prefix: path[..end].to_owned() })
    }
}

impl Vfs {
    /// Every path beneath the root, parents before children, names in byte order within a
    /// directory. Iterative, so a deep chain cannot exhaust the host's stack.
    pub fn entries(&self) -> Result<Vec<(String, Entry)>, PathTooLong> {
        let mut out = Vec::new();
        self.list_under(String::new(), Self::ROOT, &mut out)?;
        Ok(out)
    }

    /// Appends every path beneath directory `dir` (whose path is `prefix`) to `out`, as
    /// [`Vfs::entries`] orders them.
    pub(crate) fn list_under(
        &self,
        prefix: String,
        dir: Ino,
        out: &mut Vec<(String, Entry)>,
    ) -> Result<(), PathTooLong> {
        let mut stack = vec![(prefix, dir)];
        while let Some((prefix, dir)) = stack.pop() {
            let Some(entries) = self.inodes.get(&dir).and_then(Inode::entries) else { continue };
            let mut subdirs = Vec::new();
            for (name, ino) in entries {
                let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
                PathTooLong::check(&path)?;
                let Some(entry) = self.entry_of(*ino) else { continue };
                if let Entry::Dir(_) = entry {
                    subdirs.push((path.clone(), *ino));
                }
                out.push((path, entry));
            }
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }

    /// Adds `path` (whose parent must exist) holding `entry` (its inode is ignored) with
    /// permission bits `mode`: how a restore builds a tree. Returns the new inode.
    pub fn insert(&mut self, path: &str, entry: Entry, mode: u32) -> Result<Ino, Errno> {
        let (dir, name) = match path.rsplit_once('/') {
            Some((parent, name)) => (self.lookup(Self::ROOT, parent, crate::Follow::No)?, name),
            None => (Self::ROOT, path),
        };
        if name.is_empty() || name == "." || name == ".." || self.dir_entries(dir)?.contains_key(name) {
            return Err(Errno::Exist);
        }
        let inode = match entry {
            Entry::File(_, content) => {
                match content.loaded() {
                    Some(_) => self.charge(0, content.len())?,
                    None => self.charge_stored(0, content.len())?,
                }
                Inode::file(content, self.now)
            }
            Entry::Dir(_) => Inode::dir(dir, name.to_owned(), self.now),
            Entry::Symlink(_, target) => {
                self.charge(0, target.len() as u64)?;
                Inode::symlink(target, self.now)
            }
        };
        let ino = self.alloc(Inode { mode, ..inode })?;
        self.link_into(dir, name.to_owned(), ino)?;
        Ok(ino)
    }

    /// The permission bits of `ino` (cheaper than [`Vfs::stat`], which counts a directory's
    /// subdirectories).
    pub fn mode(&self, ino: Ino) -> Result<u32, Errno> {
        Ok(self.inode(ino)?.mode)
    }

    /// The kind of `ino`.
    pub fn kind(&self, ino: Ino) -> Result<Kind, Errno> {
        Ok(self.inode(ino)?.kind())
    }
}
