//! Operations on names: make and remove directories, unlink, symlink, hard link, rename,
//! read a directory or a link. Each finds its directory and last name as cap-std does
//! ([`Vfs::via_parent`]), then checks what the Linux syscall checks, in the order that decides
//! which error a guest sees.

use crate::node::{Inode, Kind, Node};
use crate::path::{Base, strip_slashes};
use crate::{Errno, Ino, Vfs};

impl Vfs {
    /// `mkdirat` (trailing slashes allowed).
    pub fn mkdir(&mut self, base: Ino, path: &str) -> Result<(), Errno> {
        let (dir, name) = self.via_parent(base, strip_slashes(path))?;
        let Base::Name(name) = name else { return Err(Errno::Exist) };
        if self.entry(dir, &Base::Name(name.clone()))?.is_some() {
            return Err(Errno::Exist);
        }
        self.creatable(dir)?;
        let ino = self.alloc(Inode::dir(dir, name.clone(), self.now))?;
        self.link_into(dir, name, ino)
    }

    /// `unlinkat` of a file or symlink.
    pub fn unlink(&mut self, base: Ino, path: &str) -> Result<(), Errno> {
        let (dir, name) = self.via_parent(base, path)?;
        let Base::Name(name) = name else { return Err(Errno::IsDirectory) };
        let ino = self.child(dir, &name)?.ok_or(Errno::NoEntry)?;
        if self.inode(ino)?.kind() == Kind::Dir {
            return Err(Errno::IsDirectory);
        }
        self.unlink_entry(dir, &name, ino)
    }

    /// `unlinkat(AT_REMOVEDIR)`.
    pub fn rmdir(&mut self, base: Ino, path: &str) -> Result<(), Errno> {
        let (dir, name) = self.via_parent(base, path)?;
        let Base::Name(name) = name else { return Err(Errno::Invalid) };
        let ino = self.child(dir, &name)?.ok_or(Errno::NoEntry)?;
        match self.inode(ino)?.entries() {
            None => return Err(Errno::NotDirectory),
            Some(e) if !e.is_empty() => return Err(Errno::NotEmpty),
            Some(_) => {}
        }
        self.unlink_entry(dir, &name, ino)
    }

    /// `symlinkat`: a link at `path` whose target is `target`, stored as given.
    pub fn symlink(&mut self, base: Ino, target: &str, path: &str) -> Result<(), Errno> {
        // cap-std refuses a link that could only ever point outside, before looking at `path`.
        if target.starts_with('/') {
            return Err(Errno::NotPermitted);
        }
        let (dir, name) = self.via_parent(base, path)?;
        if target.is_empty() {
            return Err(Errno::NoEntry);
        }
        let Base::Name(name) = name else { return Err(Errno::Exist) };
        if self.child(dir, &name)?.is_some() {
            return Err(Errno::Exist);
        }
        self.creatable(dir)?;
        self.charge(0, target.len() as u64)?;
        let ino = self.alloc(Inode::symlink(target.to_owned(), self.now))?;
        self.link_into(dir, name, ino)
    }

    /// `readlinkat`.
    pub fn readlink(&self, base: Ino, path: &str) -> Result<String, Errno> {
        let (dir, name) = self.via_parent(base, path)?;
        let ino = self.entry(dir, &name)?.ok_or(Errno::NoEntry)?;
        match &self.inode(ino)?.node {
            Node::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::Invalid),
        }
    }

    /// `linkat` without following: a second name for a file or symlink.
    pub fn link(&mut self, old_base: Ino, old: &str, new_base: Ino, new: &str) -> Result<(), Errno> {
        let (from_dir, from) = self.via_parent(old_base, old)?;
        let (to_dir, to) = self.via_parent(new_base, new)?;
        let ino = self.entry(from_dir, &from)?.ok_or(Errno::NoEntry)?;
        let Base::Name(name) = to else { return Err(Errno::Exist) };
        if self.child(to_dir, &name)?.is_some() {
            return Err(Errno::Exist);
        }
        if self.inode(ino)?.kind() == Kind::Dir {
            return Err(Errno::NotPermitted);
        }
        self.creatable(to_dir)?;
        let change = self.now.change;
        let inode = self.inode_mut(ino)?;
        inode.nlink += 1;
        inode.times.change = change;
        self.link_into(to_dir, name, ino)
    }

    /// `renameat`, after wasmtime-wasi strips trailing slashes (a slash on either path then
    /// says `old` must be a directory): replaces what `new` names, as POSIX says.
    pub fn rename(&mut self, old_base: Ino, old: &str, new_base: Ino, new: &str) -> Result<(), Errno> {
        let old_slash = old.ends_with('/') || new.ends_with('/');
        let (from_dir, from) = self.via_parent(old_base, strip_slashes(old))?;
        let (to_dir, to) = self.via_parent(new_base, strip_slashes(new))?;
        let (Base::Name(old_name), Base::Name(new_name)) = (from, to) else { return Err(Errno::Busy) };
        // The kernel's order: both lookups, then the trailing slash, then the two ancestry
        // checks (`lock_rename`'s trap), then `vfs_rename`'s.
        let ino = self.child(from_dir, &old_name)?.ok_or(Errno::NoEntry)?;
        let target = self.child(to_dir, &new_name)?;
        let is_dir = self.inode(ino)?.kind() == Kind::Dir;
        if !is_dir && old_slash {
            return Err(Errno::NotDirectory);
        }
        if is_dir && self.is_within(to_dir, ino)? {
            return Err(Errno::Invalid);
        }
        if let Some(target) = target {
            if self.inode(target)?.kind() == Kind::Dir && self.is_within(from_dir, target)? {
                return Err(Errno::NotEmpty);
            }
            if target == ino {
                return Ok(());
            }
            match (is_dir, self.inode(target)?.entries()) {
                (true, None) => return Err(Errno::NotDirectory),
                (false, Some(_)) => return Err(Errno::IsDirectory),
                (true, Some(e)) if !e.is_empty() => return Err(Errno::NotEmpty),
                _ => {}
            }
        }
        self.creatable(to_dir)?;
        if let Some(target) = target {
            self.unlink_entry(to_dir, &new_name, target)?;
        }
        self.detach(from_dir, &old_name)?;
        let now = self.now;
        let inode = self.inode_mut(ino)?;
        inode.times.change = now.change;
        if let Node::Dir { parent, name, .. } = &mut inode.node {
            *parent = to_dir;
            name.clone_from(&new_name);
        }
        self.link_into(to_dir, new_name, ino)
    }

    /// What `path` names for `set-times-at` without following: the last name itself.
    pub fn lookup_entry(&self, base: Ino, path: &str) -> Result<Ino, Errno> {
        let (dir, name) = self.via_parent(base, path)?;
        self.entry(dir, &name)?.ok_or(Errno::NoEntry)
    }

    /// A directory's entries (not `.` and `..`) with their kinds, in name order.
    pub fn read_dir(&self, dir: Ino) -> Result<Vec<(String, Kind)>, Errno> {
        let entries = self.dir_entries(dir)?;
        entries.iter().map(|(n, i)| Ok((n.clone(), self.inode(*i)?.kind()))).collect()
    }

    /// Whether directory `dir` is `ancestor` or beneath it.
    fn is_within(&self, mut dir: Ino, ancestor: Ino) -> Result<bool, Errno> {
        loop {
            if dir == ancestor {
                return Ok(true);
            }
            let Node::Dir { parent, .. } = &self.inode(dir)?.node else { return Ok(false) };
            if *parent == dir {
                return Ok(false);
            }
            dir = *parent;
        }
    }

    /// A removed directory takes no new entries.
    pub(crate) fn creatable(&self, dir: Ino) -> Result<(), Errno> {
        match self.inode(dir)?.nlink {
            0 => Err(Errno::NoEntry),
            _ => Ok(()),
        }
    }

    /// Adds `name → ino` to `dir`, stamping the directory.
    pub(crate) fn link_into(&mut self, dir: Ino, name: String, ino: Ino) -> Result<(), Errno> {
        let now = self.now;
        self.journal.name(dir, &name);
        let is_dir = self.inode(ino)?.kind() == Kind::Dir;
        let inode = self.inode_mut(dir)?;
        let Node::Dir { entries, subdirs, .. } = &mut inode.node else { return Err(Errno::NotDirectory) };
        *subdirs += u64::from(is_dir);
        entries.insert(name, ino);
        inode.times.modify = now.modify;
        inode.times.change = now.change;
        Ok(())
    }

    /// Removes `name` from `dir` without touching the inode it names.
    fn detach(&mut self, dir: Ino, name: &str) -> Result<(), Errno> {
        let now = self.now;
        self.journal.name(dir, name);
        let child = self.dir_entries(dir)?.get(name).copied();
        let was_dir = child.is_some_and(|c| self.inodes.get(&c).is_some_and(|i| i.kind() == Kind::Dir));
        let inode = self.inode_mut(dir)?;
        let Node::Dir { entries, subdirs, .. } = &mut inode.node else { return Err(Errno::NotDirectory) };
        *subdirs -= u64::from(was_dir);
        entries.remove(name);
        inode.times.modify = now.modify;
        inode.times.change = now.change;
        Ok(())
    }

    /// Removes `name` (naming `ino`) from `dir`, and `ino` itself once nothing names or holds it.
    fn unlink_entry(&mut self, dir: Ino, name: &str, ino: Ino) -> Result<(), Errno> {
        self.detach(dir, name)?;
        let change = self.now.change;
        let inode = self.inode_mut(ino)?;
        inode.nlink = match inode.node {
            Node::Dir { .. } => 0,
            _ => inode.nlink.saturating_sub(1),
        };
        inode.times.change = change;
        self.drop_if_unused(ino);
        Ok(())
    }
}
