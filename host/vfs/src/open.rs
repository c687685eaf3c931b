//! `openat`: find or create what a path names, as `open(2)` with `O_NOFOLLOW` when asked.

use crate::node::{Inode, Node};
use crate::path::{Follow, Last, Purpose};
use crate::{Content, Errno, Ino, Vfs};

/// How to open: the `O_*` flags that change what open does to the namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// `O_CREAT`.
    pub create: bool,
    /// `O_EXCL` (with `create`: the name must not exist, not even as a symlink).
    pub exclusive: bool,
    /// `O_TRUNC`.
    pub truncate: bool,
    /// `O_DIRECTORY`.
    pub directory: bool,
    /// Opened for writing (a directory cannot be).
    pub write: bool,
}

/// What was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// A regular file.
    File(Ino),
    /// A directory.
    Dir(Ino),
}

impl Vfs {
    /// Opens (or creates) what `path` names beneath `base`. The caller holds the result
    /// ([`Vfs::hold`]) for as long as its descriptor lives.
    pub fn open(&mut self, base: Ino, path: &str, follow: Follow, flags: OpenFlags) -> Result<Opened, Errno> {
        let follow = if flags.create && flags.exclusive { Follow::No } else { follow };
        let purpose = if flags.create { Purpose::Create } else { Purpose::Lookup };
        let w = self.walk_for(base, path, follow, purpose)?;
        let Some(ino) = w.found else {
            if !flags.create {
                return Err(Errno::NoEntry);
            }
            let Last::Name(name) = w.last else { return Err(Errno::Exist) };
            if self.inode(w.dir)?.nlink == 0 {
                return Err(Errno::NoEntry);
            }
            let ino = self.alloc(Inode::file(Content::bytes(Vec::new()), self.now))?;
            self.link_into(w.dir, name, ino)?;
            return Ok(Opened::File(ino));
        };
        if flags.create && flags.exclusive {
            return Err(Errno::Exist);
        }
        match &self.inode(ino)?.node {
            Node::Symlink(_) => Err(Errno::Loop),
            Node::Dir { .. } if flags.write => Err(Errno::IsDirectory),
            Node::Dir { .. } => Ok(Opened::Dir(ino)),
            Node::File(_) if flags.directory || w.slash => Err(Errno::NotDirectory),
            Node::File(_) => {
                if let (true, Last::Name(name)) = (flags.write || flags.truncate, &w.last) {
                    // Written bytes are found through this name at the next capture.
                    self.journal.name(w.dir, name);
                }
                if flags.truncate {
                    self.set_size(ino, 0)?;
                }
                Ok(Opened::File(ino))
            }
        }
    }
}
