//! Host-side operations on a path inside a workspace (or export) tree that never follow a
//! symlink and never leave the tree's root.
//!
//! A guest can leave any shape in its workspace, including a directory replaced by a link that
//! points outside (wasmtime-wasi lets it create one, it only refuses following it). A host
//! call that resolves `a/x` by path from the root lets the kernel follow `a`: that is how a
//! guest once made the host plant a link at `<data-dir>/wtb.toml`. So here every parent
//! component is resolved with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (or, where the
//! kernel lacks it, one `O_NOFOLLOW` open per component), and the operation acts on the last
//! name relative to that parent with its own no-follow flag. A path that is not a plain
//! relative path (empty, `.`, `..`, absolute, NUL) is refused before any syscall.
//!
//! Capture, restore, export and workspace removal use these and nothing path-based.

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use wtb_core::model::is_plain_path;

/// Mode of files a restore creates (before the umask), as `std::fs` and cap-std use.
const FILE_MODE: u32 = 0o666;
/// Mode of directories a restore creates (before the umask).
const DIR_MODE: u32 = 0o777;
/// Opening a directory to read it, refusing a symlink in its place.
const READ_DIR: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

fn refuse(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("`{path}` is not a plain relative path"))
}

/// Runs `op` with the directory holding `path`'s last component and that name, resolved
/// beneath `root` without following any symlink.
pub fn at<T>(
    root: &Dir,
    path: &str,
    op: impl FnOnce(BorrowedFd<'_>, &str) -> io::Result<T>,
) -> io::Result<T> {
    if !is_plain_path(path) {
        return Err(refuse(path));
    }
    match path.rsplit_once('/') {
        None => op(root.as_fd(), path),
        Some((parent, name)) => {
            let dir = open_beneath(root.as_fd(), parent)?;
            op(dir.as_fd(), name)
        }
    }
}

/// Opens the directory at `path` (plain, relative) beneath `root`, refusing symlinks at every
/// component.
fn open_beneath(root: BorrowedFd<'_>, path: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(root, path, flags, Mode::empty(), resolve) {
        Ok(fd) => Ok(fd),
        // No `openat2` (old kernel, or a seccomp filter that hides it): walk by hand.
        Err(Errno::NOSYS | Errno::PERM) => walk(root, path),
        Err(e) => Err(e.into()),
    }
}

/// [`open_beneath`] one component at a time, each opened with `O_NOFOLLOW`.
fn walk(root: BorrowedFd<'_>, path: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut parts = path.split('/');
    let first = parts.next().unwrap_or(".");
    let mut fd = rustix::fs::openat(root, first, flags, Mode::empty())?;
    for part in parts {
        fd = rustix::fs::openat(&fd, part, flags, Mode::empty())?;
    }
    // `O_PATH | O_NOFOLLOW` opens a symlink itself instead of failing; make sure it did not.
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return Err(Errno::NOTDIR.into());
    }
    Ok(fd)
}

/// `lstat` of `path`.
pub fn lstat(root: &Dir, path: &str) -> io::Result<rustix::fs::Stat> {
    at(root, path, |dir, name| Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?))
}

/// A symlink's target bytes.
pub fn readlink(root: &Dir, path: &str) -> io::Result<Vec<u8>> {
    at(root, path, |dir, name| Ok(rustix::fs::readlinkat(dir, name, Vec::new())?.into_bytes()))
}

/// Opens a regular file for reading; a symlink at `path` is refused, not followed.
pub fn open_file(root: &Dir, path: &str) -> io::Result<std::fs::File> {
    at(root, path, |dir, name| {
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(fd.into())
    })
}

/// Opens the directory at `path` itself, refusing a symlink there or on the way.
pub fn open_dir(root: &Dir, path: &str) -> io::Result<Dir> {
    at(root, path, |dir, name| Ok(Dir::from(rustix::fs::openat(dir, name, READ_DIR, Mode::empty())?)))
}

/// Creates a new regular file for writing; fails if anything (a link included) is there.
pub fn create_file(root: &Dir, path: &str) -> io::Result<std::fs::File> {
    at(root, path, |dir, name| {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(FILE_MODE))?.into())
    })
}

/// Creates a directory.
pub fn create_dir(root: &Dir, path: &str) -> io::Result<()> {
    at(root, path, |dir, name| Ok(rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(DIR_MODE))?))
}

/// Creates a symlink at `path` pointing at `target` (stored as given, never resolved here).
pub fn symlink(root: &Dir, target: &[u8], path: &str) -> io::Result<()> {
    at(root, path, |dir, name| Ok(rustix::fs::symlinkat(target, dir, name)?))
}

/// Removes whatever is at `path`: a file or link is unlinked (a link's target is untouched),
/// a directory is emptied depth-first, every level opened without following links.
pub fn remove_all(root: &Dir, path: &str) -> io::Result<()> {
    at(root, path, |dir, name| remove_entry(dir, name.as_bytes()))
}

/// Names come from the directory itself, so they are bytes (not necessarily UTF-8).
fn remove_entry(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        // Linux says EISDIR for a directory; POSIX allows EPERM.
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = rustix::fs::openat(dir, name, READ_DIR, Mode::empty())?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&sub)? {
        let n = entry?.file_name().to_bytes().to_vec();
        if n != b"." && n != b".." {
            names.push(n);
        }
    }
    for n in names {
        remove_entry(sub.as_fd(), &n)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}
