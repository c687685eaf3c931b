//! Path resolution beneath a starting directory, as cap-std does it on Linux: components one
//! at a time, symlinks expanded in place (relative ones only), `..` never above the start.

use crate::node::Node;
use crate::{Errno, Ino, MAX_SYMLINKS, NAME_MAX, PATH_MAX, Vfs};
use std::collections::VecDeque;

/// Whether a symlink in the last component is followed ("instead of passing bare bools",
/// as cap-std puts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Follow it: the path names what the link points at.
    Yes,
    /// Do not: the path names the link itself.
    No,
}

/// Why a path is resolved (it changes which error the kernel gives first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// To find what it names.
    Lookup,
    /// To create what it names if missing (`O_CREAT`).
    Create,
}

/// The last component of a resolved path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Last {
    /// `.`: the directory itself.
    Dot,
    /// `..`: the parent, which `dir` then is.
    DotDot,
    /// A name in `dir`.
    Name(String),
}

/// Where a path leads: its directory, its last component, and what that names if anything.
#[derive(Clone, Debug)]
pub(crate) struct Walk {
    /// The directory holding the last component (for `.`/`..`: the directory named).
    pub(crate) dir: Ino,
    pub(crate) last: Last,
    /// The inode named, if it exists.
    pub(crate) found: Option<Ino>,
    /// The path ended with `/` (the name must be a directory).
    pub(crate) slash: bool,
}

impl Walk {
    /// The inode named, `NoEntry` when there is none.
    pub(crate) fn existing(&self) -> Result<Ino, Errno> {
        self.found.ok_or(Errno::NoEntry)
    }
}

/// Checks a path string before any lookup.
fn check(path: &str) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(Errno::NoEntry);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::NameTooLong);
    }
    if path.contains('\0') {
        return Err(Errno::Invalid);
    }
    if path.starts_with('/') {
        return Err(Errno::NotPermitted);
    }
    Ok(())
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/').filter(|c| !c.is_empty()).map(str::to_owned)
}

/// The last name of an operation that acts on a directory entry (cap-std's `open_parent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    /// `.`: the directory itself (a path ending in `/`, `/.`, `.` or `..`).
    Dot,
    /// A plain name, never followed.
    Name(String),
}

/// `path` without trailing slashes (`/` itself kept), as cap-std strips them before `mkdir`
/// and `rename`.
pub(crate) fn strip_slashes(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && !path.is_empty() { "/" } else { trimmed }
}

impl Vfs {
    /// The directory and last name `path` leads to, without following the last name: what
    /// cap-std's `via_parent` operations (mkdir, unlink, rmdir, rename, link, symlink,
    /// readlink, set-times without follow) then hand to the kernel.
    pub(crate) fn via_parent(&self, base: Ino, path: &str) -> Result<(Ino, Base), Errno> {
        check(path)?;
        if path.ends_with('/') || path.ends_with("/.") {
            return Ok((self.open_dir(base, path)?, Base::Dot));
        }
        let (dirname, last) = match path.rsplit_once('/') {
            Some((d, l)) => (d, l),
            None => ("", path),
        };
        let dir = if dirname.is_empty() { base } else { self.open_dir(base, dirname)? };
        match last {
            "." => Ok((dir, Base::Dot)),
            ".." => Ok((self.open_dir(base, path)?, Base::Dot)),
            name => Ok((dir, Base::Name(name.to_owned()))),
        }
    }

    /// The directory `path` names, symlinks followed (cap-std's `open_dir`).
    pub(crate) fn open_dir(&self, base: Ino, path: &str) -> Result<Ino, Errno> {
        let ino = self.walk(base, path, Follow::Yes)?.existing()?;
        self.dir_entries(ino)?;
        Ok(ino)
    }

    /// The inode `name` names in `dir`, if any (`.` is the directory).
    pub(crate) fn entry(&self, dir: Ino, name: &Base) -> Result<Option<Ino>, Errno> {
        match name {
            Base::Dot => Ok(Some(dir)),
            Base::Name(n) => self.child(dir, n),
        }
    }

    /// The inode `name` names in `dir`, if any; a name longer than any can be is refused when
    /// looked up, as the filesystem's lookup refuses it.
    pub(crate) fn child(&self, dir: Ino, name: &str) -> Result<Option<Ino>, Errno> {
        let entries = self.dir_entries(dir)?;
        if self.inode(dir)?.nlink == 0 {
            return Err(Errno::NoEntry); // a removed directory: nothing is looked up in it
        }
        if name.len() > NAME_MAX {
            return Err(Errno::NameTooLong);
        }
        Ok(entries.get(name).copied())
    }

    /// Resolves `path` beneath the directory `base`; the last component is followed if it is a
    /// symlink and `follow` says so or the path ends with `/`.
    pub(crate) fn walk(&self, base: Ino, path: &str, follow: Follow) -> Result<Walk, Errno> {
        self.walk_for(base, path, follow, Purpose::Lookup)
    }

    /// [`Vfs::walk`] for `purpose`: to create, a last name that must be a directory (a trailing
    /// slash, in the path or in a symlink followed at its end) is `IsDirectory` before it is
    /// looked up, as `open(O_CREAT)` makes it.
    pub(crate) fn walk_for(
        &self,
        base: Ino,
        path: &str,
        follow: Follow,
        purpose: Purpose,
    ) -> Result<Walk, Errno> {
        check(path)?;
        self.dir_entries(base)?;
        let mut stack = vec![base];
        let mut queue: VecDeque<String> = components(path).collect();
        let mut slash = path.ends_with('/');
        let mut links = 0;
        while let Some(comp) = queue.pop_front() {
            let last = queue.is_empty();
            let cur = *stack.last().expect("the stack keeps its base");
            match comp.as_str() {
                "." if last => return Ok(Walk { dir: cur, last: Last::Dot, found: Some(cur), slash }),
                "." => {}
                ".." if stack.len() == 1 => return Err(Errno::NotPermitted),
                ".." => {
                    stack.pop();
                    let up = *stack.last().expect("popped above the base");
                    if last {
                        return Ok(Walk { dir: up, last: Last::DotDot, found: Some(up), slash });
                    }
                }
                name => {
                    if last && slash && purpose == Purpose::Create {
                        return Err(Errno::IsDirectory);
                    }
                    let found = self.child(cur, name)?;
                    let Some(ino) = found else {
                        if last {
                            return Ok(Walk { dir: cur, last: Last::Name(comp), found: None, slash });
                        }
                        return Err(Errno::NoEntry);
                    };
                    match &self.inode(ino)?.node {
                        Node::Symlink(target) if !last || slash || follow == Follow::Yes => {
                            links += 1;
                            if links > MAX_SYMLINKS {
                                return Err(Errno::Loop);
                            }
                            if target.starts_with('/') {
                                return Err(Errno::NotPermitted);
                            }
                            if target.is_empty() {
                                return Err(Errno::NoEntry);
                            }
                            if last {
                                slash |= target.ends_with('/');
                            }
                            let expanded: Vec<String> = components(target).collect();
                            if expanded.is_empty() {
                                queue.push_front(".".into());
                            }
                            for c in expanded.into_iter().rev() {
                                queue.push_front(c);
                            }
                        }
                        Node::Dir { .. } if !last => stack.push(ino),
                        _ if !last => return Err(Errno::NotDirectory),
                        _ => return Ok(Walk { dir: cur, last: Last::Name(comp), found: Some(ino), slash }),
                    }
                }
            }
        }
        // Only `.` components (`./`, `a/.` handled above): the path names the last directory.
        let cur = *stack.last().expect("the stack keeps its base");
        Ok(Walk { dir: cur, last: Last::Dot, found: Some(cur), slash })
    }

    /// The entries of directory `ino` (`NotDirectory` for anything else).
    pub(crate) fn dir_entries(&self, ino: Ino) -> Result<&std::collections::BTreeMap<String, Ino>, Errno> {
        self.inode(ino)?.entries().ok_or(Errno::NotDirectory)
    }

    /// What `stat-at` reports on: as [`Vfs::lookup`], except that a path of one name (after
    /// dropping slashes and inner `.`, as Rust's `Path::components` does) is looked up as that
    /// name without following, whatever its trailing slash says: cap-std `fstatat`s it
    /// directly.
    pub fn stat_target(&self, base: Ino, path: &str, follow: Follow) -> Result<Ino, Errno> {
        if follow == Follow::No && !path.starts_with('.') && !path.starts_with('/') {
            let mut names = path.split('/').filter(|c| !c.is_empty() && *c != ".");
            if let (Some(name), None) = (names.next(), names.next())
                && name != ".."
            {
                check(path)?;
                return self.child(base, name)?.ok_or(Errno::NoEntry);
            }
        }
        self.lookup(base, path, follow)
    }

    /// What `path` names beneath `base`, following a final symlink if `follow` says so; a
    /// name that must be a directory (`x/`) but is not is `NotDirectory`.
    pub fn lookup(&self, base: Ino, path: &str, follow: Follow) -> Result<Ino, Errno> {
        let w = self.walk(base, path, follow)?;
        let ino = w.existing()?;
        if w.slash && self.inode(ino)?.kind() != crate::Kind::Dir {
            return Err(Errno::NotDirectory);
        }
        Ok(ino)
    }
}
