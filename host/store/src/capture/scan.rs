//! The `lstat`-only walk of a workspace.

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::io;
use wtb_core::model::EntryKind;

/// Caps applied while walking, before any byte is read.
#[derive(Clone, Copy, Debug)]
pub struct CaptureLimits {
    /// Largest regular file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Most entries (files, directories, links) accepted.
    pub max_entries: usize,
    /// Files of at most this many bytes are kept inline in the database.
    pub inline_max_bytes: u64,
}

/// Why a workspace could not be captured or restored. Names the path.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A file system operation failed.
    #[error("`{path}`: {source}")]
    Io {
        /// The workspace-relative path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A regular file over the size cap (checked from `lstat`, without reading it).
    #[error("`{path}` is {size} bytes, over the {limit}-byte file limit")]
    FileTooLarge {
        /// The path.
        path: String,
        /// Its apparent size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// More entries than allowed.
    #[error("the workspace holds more than {limit} entries")]
    TooManyEntries {
        /// The cap.
        limit: usize,
    },
    /// A device, FIFO or socket: nothing a node should be able to make.
    #[error("`{path}` is a {kind}, which a workspace may not contain")]
    SpecialFile {
        /// The path.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A tree that is not a workspace (see `model::check_tree`): refused before restoring it.
    #[error("the tree to restore is not a workspace: {0}")]
    InvalidTree(wtb_core::model::TreeError),
    /// A path longer than one call may pass (a chain of directories opened one by one):
    /// refused, so a deep chain of long names cannot make capture hold the square of its
    /// depth in path bytes.
    #[error("the workspace holds a path longer than {limit} bytes: `{prefix}…`")]
    PathTooLong {
        /// Its first bytes.
        prefix: String,
        /// The cap.
        limit: usize,
    },
    /// A name that is not UTF-8 (WASI names always are, so something else wrote it).
    #[error("a file name under `{parent}` is not UTF-8")]
    NonUtf8Name {
        /// The directory holding it.
        parent: String,
    },
}

impl CaptureError {
    pub(crate) fn io(path: &str) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io { path: path.to_owned(), source }
    }

    pub(crate) fn too_long(e: wtb_vfs::PathTooLong) -> Self {
        Self::PathTooLong { prefix: e.prefix, limit: wtb_vfs::PATH_MAX - 1 }
    }
}

/// The parts of `lstat` that tell whether a file may have changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StatKey {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
    pub(crate) ctime: (i64, i64),
    pub(crate) mode: u32,
}

/// One path found by the walk.
#[derive(Clone, Debug)]
pub struct Scanned {
    pub(crate) path: String,
    pub(crate) kind: EntryKind,
    pub(crate) key: StatKey,
    /// Hard links to it (a file with more than one can change through another path).
    pub(crate) links: u64,
}

impl Scanned {
    /// A file reachable through another path too: a write there changes it unrecorded, so the
    /// workspace must be walked whole.
    pub(crate) fn is_hard_linked(&self) -> bool {
        self.kind == EntryKind::File && self.links > 1
    }
}

/// Walks `dir` depth-first without following links; paths are `/`-separated and relative.
pub fn scan(dir: &Dir, limits: &CaptureLimits) -> Result<Vec<Scanned>, CaptureError> {
    let mut out = Vec::new();
    walk(dir, "", limits, &mut out)?;
    // Each directory checks its own names against what was found before it; a deep tree can
    // still add up past the limit.
    if out.len() > limits.max_entries {
        return Err(CaptureError::TooManyEntries { limit: limits.max_entries });
    }
    Ok(out)
}

fn walk(dir: &Dir, prefix: &str, limits: &CaptureLimits, out: &mut Vec<Scanned>) -> Result<(), CaptureError> {
    let shown = if prefix.is_empty() { "/" } else { prefix };
    let mut names = Vec::new();
    // rustix's `getdents64` reader: cap-std's iterator costs several times more per entry,
    // which shows on a 10,000-file workspace.
    // cap-std's handles are `O_PATH`; reading needs a real descriptor of the same directory.
    let readable =
        rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .and_then(rustix::fs::Dir::new)
            .map_err(|e| CaptureError::io(shown)(e.into()))?;
    for entry in readable {
        let entry = entry.map_err(|e| CaptureError::io(shown)(e.into()))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| CaptureError::NonUtf8Name { parent: shown.to_owned() })?;
        if out.len() + names.len() >= limits.max_entries {
            return Err(CaptureError::TooManyEntries { limit: limits.max_entries });
        }
        names.push(name);
    }
    let stats = stat_all(dir, &names);
    for (name, st) in names.into_iter().zip(stats) {
        // One allocation per entry: the name becomes the path (or is appended to the prefix).
        let name_len = name.len();
        let path = if prefix.is_empty() {
            name
        } else {
            let mut p = String::with_capacity(prefix.len() + 1 + name_len);
            p.push_str(prefix);
            p.push('/');
            p.push_str(&name);
            p
        };
        wtb_vfs::PathTooLong::check(&path).map_err(CaptureError::too_long)?;
        let st = st.map_err(|e| CaptureError::io(&path)(e.into()))?;
        let (kind, key) = classify(&path, &st, limits)?;
        if kind == EntryKind::Dir {
            let sub = super::beneath::open_dir(dir, &path[path.len() - name_len..])
                .map_err(CaptureError::io(&path))?;
            out.push(Scanned { path: path.clone(), kind, key, links: st.st_nlink });
            walk(&sub, &path, limits, out)?;
        } else {
            out.push(Scanned { path, kind, key, links: st.st_nlink });
        }
    }
    Ok(())
}

/// The entry at `path` and, for a directory, everything under it, as [`scan`] finds them;
/// nothing when `path` does not exist. A symlink on the way is an error, never followed.
pub fn scan_at(dir: &Dir, path: &str, limits: &CaptureLimits) -> Result<Vec<Scanned>, CaptureError> {
    let st = match super::beneath::lstat(dir, path) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CaptureError::io(path)(e)),
    };
    let (kind, key) = classify(path, &st, limits)?;
    let mut out = vec![Scanned { path: path.to_owned(), kind, key, links: st.st_nlink }];
    if kind == EntryKind::Dir {
        let sub = super::beneath::open_dir(dir, path).map_err(CaptureError::io(path))?;
        walk(&sub, path, limits, &mut out)?;
    }
    Ok(out)
}

/// What an `lstat` says an entry is, refusing what a workspace may not hold.
fn classify(
    path: &str,
    st: &rustix::fs::Stat,
    limits: &CaptureLimits,
) -> Result<(EntryKind, StatKey), CaptureError> {
    let key = StatKey {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size as u64,
        mtime: (st.st_mtime, st.st_mtime_nsec as i64),
        ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        mode: st.st_mode & 0o7777,
    };
    let special = |kind| Err(CaptureError::SpecialFile { path: path.to_owned(), kind });
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            if key.size > limits.max_file_bytes {
                return Err(CaptureError::FileTooLarge {
                    path: path.to_owned(),
                    size: key.size,
                    limit: limits.max_file_bytes,
                });
            }
            EntryKind::File
        }
        FileType::Directory => EntryKind::Dir,
        FileType::Symlink => EntryKind::Symlink,
        FileType::Fifo => return special("FIFO"),
        FileType::Socket => return special("socket"),
        FileType::CharacterDevice | FileType::BlockDevice => return special("device"),
        FileType::Unknown => return special("file of unknown type"),
    };
    Ok((kind, key))
}

/// Directories with at least this many entries are `lstat`ed by several threads.
const PARALLEL_STAT_FROM: usize = 1024;

/// Threads for a large directory's `lstat`s, asked of the OS once per process: on Linux
/// `available_parallelism` reads cgroup files, which cost ~130 µs — most of a small
/// workspace's capture when it was asked at every directory (measured).
fn stat_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// `lstat` of every name in `dir`, in order. One syscall per entry is most of an unchanged
/// capture's time, so large directories spread them over the cores.
fn stat_all(dir: &Dir, names: &[String]) -> Vec<rustix::io::Result<rustix::fs::Stat>> {
    let stat = |name: &String| rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW);
    if names.len() < PARALLEL_STAT_FROM {
        return names.iter().map(stat).collect();
    }
    let threads = stat_threads();
    if threads < 2 {
        return names.iter().map(stat).collect();
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = names
            .chunks(names.len().div_ceil(threads))
            .map(|part| scope.spawn(move || part.iter().map(stat).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}
