//! A workspace as data: an in-memory filesystem (directories, files, symlinks, hard links)
//! that behaves as Linux does beneath a `cap-std` directory, with no I/O at all.
//!
//! Why: a real directory per lane costs an inode on the host disk per guest file, capture and
//! restore walk host paths (where symlink races live), and rollback copies files. A [`Vfs`]
//! is a value: cloning one is a snapshot (contents are shared, copied on write), every path
//! resolves beneath the descriptor it starts from, and what changed is known exactly.
//!
//! Semantics follow what a guest observes through wasmtime-wasi over a real directory on
//! Linux: error codes ([`Errno`]), link counts, sizes, `..` and symlink rules (an absolute
//! path or a `..` above the starting directory is [`Errno::NotPermitted`], as cap-std makes
//! it), removed-but-open files. The stat fields that differ are inode numbers, times (from
//! the clock the caller sets, [`Vfs::set_now`], so deterministic runs see deterministic
//! times), a directory's size (4096; it depends on the filesystem anyway) and permission
//! bits (WASI cannot set them). The differential tests in `tests/all/vfs_differential.rs` hold the
//! two to the same results.
#![deny(missing_docs)]

mod changes;
mod file;
mod namespace;
mod node;
mod open;
mod path;
mod walk;

pub use changes::Changed;
pub use file::Content;
pub use node::{Ino, Kind, Stat, Times};
pub use open::{OpenFlags, Opened};
pub use path::Follow;
pub use walk::{Entry, PathTooLong};

use node::Inode;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest name a directory entry may have (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest path a call may pass (Linux's `PATH_MAX`, terminating NUL included).
pub const PATH_MAX: usize = 4096;
/// Symlinks followed while resolving one path before it is a loop (Linux's and cap-std's 40).
pub const MAX_SYMLINKS: usize = 40;

/// Why an operation failed: the POSIX error a real directory gives, named as
/// `wasi:filesystem`'s `error-code` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Errno {
    /// `EACCES`.
    #[error("permission denied")]
    Access,
    /// `EBADF`: the descriptor may not do this (read on a write-only file, …).
    #[error("bad descriptor")]
    BadDescriptor,
    /// `EBUSY`: renaming `.` or `..`.
    #[error("device or resource busy")]
    Busy,
    /// `EEXIST`.
    #[error("file exists")]
    Exist,
    /// `EINVAL`.
    #[error("invalid argument")]
    Invalid,
    /// `EISDIR`.
    #[error("is a directory")]
    IsDirectory,
    /// `ELOOP`: too many symlinks, or a symlink where none may be followed.
    #[error("too many levels of symbolic links")]
    Loop,
    /// `ENAMETOOLONG`.
    #[error("file name too long")]
    NameTooLong,
    /// `ENOENT`.
    #[error("no such file or directory")]
    NoEntry,
    /// `ENOTDIR`.
    #[error("not a directory")]
    NotDirectory,
    /// `ENOTEMPTY`.
    #[error("directory not empty")]
    NotEmpty,
    /// `EPERM`: an escape from the starting directory, or a hard link to a directory.
    #[error("operation not permitted")]
    NotPermitted,
    /// `ENOSPC`: the workspace's byte or entry budget is spent.
    #[error("no space left in the workspace")]
    InsufficientSpace,
    /// `EFBIG`: an offset or size beyond what a file may have.
    #[error("file too large")]
    FileTooLarge,
    /// `EIO`: a stored content could not be loaded.
    #[error("input/output error")]
    Io,
}

/// What the caller allows one workspace to hold: its memory is bounded by these, whatever the
/// guest does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes of file contents and symlink targets.
    pub bytes: u64,
    /// Inodes (files, directories, symlinks), removed-but-open ones included.
    pub inodes: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Self { bytes: 1 << 30, inodes: 1 << 20 }
    }
}

/// Memory shared by every workspace of a host: each byte a workspace holds is taken from it,
/// so many workspaces together stay within the host's budget whatever their guests do.
#[derive(Debug)]
pub struct Pool {
    limit: u64,
    used: std::sync::atomic::AtomicU64,
}

impl Pool {
    /// A pool of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self { limit, used: 0.into() })
    }

    /// Bytes taken now.
    pub fn used(&self) -> u64 {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Its size.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn take(&self, n: u64) -> Result<(), Errno> {
        use std::sync::atomic::Ordering::Relaxed;
        self.used
            .fetch_update(Relaxed, Relaxed, |u| u.checked_add(n).filter(|t| *t <= self.limit))
            .map(|_| ())
            .map_err(|_| Errno::InsufficientSpace)
    }

    fn give(&self, n: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self.used.fetch_update(Relaxed, Relaxed, |u| Some(u.saturating_sub(n)));
    }
}

/// What names a stored content: its SHA-256 digest.
pub type Key = [u8; 32];

/// Loads a content that is not in memory yet (a file restored from a checkpoint), once, on
/// first use.
pub trait Loader: Send + Sync {
    /// The bytes of the content `key` names.
    fn load(&self, key: &Key) -> std::io::Result<Vec<u8>>;
}

/// A workspace shared between its holder and the calls and streams of the guest using it.
pub type Shared = Arc<std::sync::Mutex<Vfs>>;

/// One workspace. Cloning is cheap (contents are shared) and yields an independent snapshot;
/// a clone takes its bytes from the pool again (shared contents are counted once per holder,
/// so the pool errs on the safe side).
pub struct Vfs {
    inodes: BTreeMap<Ino, Inode>,
    next: Ino,
    now: Times,
    budget: Budget,
    /// Content bytes held (loaded or not), for the budget.
    bytes: u64,
    /// Content bytes in memory, taken from the pool.
    resident: u64,
    loader: Option<Arc<dyn Loader>>,
    pool: Option<Arc<Pool>>,
    journal: changes::Journal,
}

impl Clone for Vfs {
    fn clone(&self) -> Self {
        if let Some(pool) = &self.pool {
            pool.used.fetch_add(self.resident, std::sync::atomic::Ordering::Relaxed);
        }
        Self {
            inodes: self.inodes.clone(),
            next: self.next,
            now: self.now,
            budget: self.budget,
            bytes: self.bytes,
            resident: self.resident,
            loader: self.loader.clone(),
            pool: self.pool.clone(),
            journal: self.journal.clone(),
        }
    }
}

impl Drop for Vfs {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give(self.resident);
        }
    }
}

impl Default for Vfs {
    fn default() -> Self {
        Self::new(Budget::default())
    }
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs").field("inodes", &self.inodes.len()).field("bytes", &self.bytes).finish()
    }
}

impl Vfs {
    /// The root directory's inode: what the guest sees as `/`.
    pub const ROOT: Ino = Ino(1);

    /// An empty workspace (a root directory) within `budget`.
    pub fn new(budget: Budget) -> Self {
        let mut inodes = BTreeMap::new();
        inodes.insert(Self::ROOT, Inode::dir(Self::ROOT, String::new(), Times::default()));
        Self {
            inodes,
            next: Ino(2),
            now: Times::default(),
            budget,
            bytes: 0,
            resident: 0,
            loader: None,
            pool: None,
            journal: changes::Journal::default(),
        }
    }

    /// An empty workspace whose bytes are also taken from `pool`.
    pub fn in_pool(budget: Budget, pool: Arc<Pool>) -> Self {
        let mut vfs = Self::new(budget);
        vfs.pool = Some(pool);
        vfs
    }

    /// Sets the time later changes are stamped with (nanoseconds since the Unix epoch).
    pub fn set_now(&mut self, nanos: u64) {
        self.now = Times { access: nanos, modify: nanos, change: nanos };
    }

    /// Sets where contents added with [`Content::Stored`] are loaded from.
    pub fn set_loader(&mut self, loader: Arc<dyn Loader>) {
        self.loader = Some(loader);
    }

    /// Changes the budget (a smaller one does not remove anything already held).
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    /// Inodes held, removed-but-open ones included.
    pub fn inodes(&self) -> u64 {
        self.inodes.len() as u64
    }

    /// Content bytes held, loaded or not.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// What `ino` is; `NoEntry` for an inode that no longer exists.
    pub fn stat(&self, ino: Ino) -> Result<Stat, Errno> {
        Ok(self.inode(ino)?.stat(ino))
    }

    fn inode(&self, ino: Ino) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(Errno::NoEntry)
    }

    fn inode_mut(&mut self, ino: Ino) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&ino).ok_or(Errno::NoEntry)
    }

    /// Adds an inode within the budget.
    fn alloc(&mut self, inode: Inode) -> Result<Ino, Errno> {
        if self.inodes.len() as u64 >= self.budget.inodes {
            return Err(Errno::InsufficientSpace);
        }
        let ino = self.next;
        self.next = Ino(ino.0 + 1);
        self.inodes.insert(ino, inode);
        Ok(ino)
    }

    /// Replaces `old` content bytes in memory by `new` ones, within the budget and the pool.
    fn charge(&mut self, old: u64, new: u64) -> Result<(), Errno> {
        self.charge_stored(old, new)?;
        if let Err(e) = self.take_resident(old, new) {
            self.bytes = self.bytes - new.min(self.bytes) + old;
            return Err(e);
        }
        Ok(())
    }

    /// Replaces `old` content bytes by `new` ones not (yet) in memory, within the budget.
    fn charge_stored(&mut self, old: u64, new: u64) -> Result<(), Errno> {
        let total = self.bytes - old.min(self.bytes) + new;
        if new > old && total > self.budget.bytes {
            return Err(Errno::InsufficientSpace);
        }
        self.bytes = total;
        Ok(())
    }

    /// Replaces `old` bytes in memory by `new` ones, within the pool.
    fn take_resident(&mut self, old: u64, new: u64) -> Result<(), Errno> {
        match &self.pool {
            Some(pool) if new > old => pool.take(new - old)?,
            Some(pool) => pool.give(old - new),
            None => {}
        }
        self.resident = self.resident - old.min(self.resident) + new;
        Ok(())
    }

    /// Notes a descriptor open on `ino`: a removed inode lives on while one is.
    pub fn hold(&mut self, ino: Ino) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.opens += 1;
        }
    }

    /// Notes a descriptor on `ino` closed; drops the inode when nothing names or holds it.
    pub fn close(&mut self, ino: Ino) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.opens = inode.opens.saturating_sub(1);
        }
        self.drop_if_unused(ino);
    }

    /// Drops `ino` if no entry names it and no descriptor holds it.
    fn drop_if_unused(&mut self, ino: Ino) {
        if let Some(inode) = self.inodes.get(&ino)
            && inode.nlink == 0
            && inode.opens == 0
            && ino != Self::ROOT
        {
            let (size, resident) = (inode.content_bytes(), inode.resident_bytes());
            self.inodes.remove(&ino);
            let _ = self.charge_stored(size, 0);
            let _ = self.take_resident(resident, 0);
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_changes;
