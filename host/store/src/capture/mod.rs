//! Workspaces and their capture: what a node left on disk, as a file commit.
//!
//! Every path in a workspace is treated as hostile: the walk uses `lstat` only and opens
//! nothing through a symlink; symlinks are recorded as links (target = blob), never followed;
//! devices, FIFOs and sockets are refused; a file larger than the cap is refused from its size
//! alone, without reading it (so a 1 TB sparse file costs nothing).
//!
//! Change detection: a file is re-hashed unless its stat fingerprint (inode, size, mtime,
//! ctime, mode) matches the one recorded at the last capture. A guest can reset mtime through
//! WASI but not ctime, and any write or `set-times` moves ctime, so a restored mtime does not
//! hide a change. Fingerprints recorded in the same filesystem-clock tick as the scan are not
//! trusted (git's "racily clean" rule): a later write in that tick could leave every field
//! unchanged, so such files are hashed again next time.
//!
//! Usually no walk is needed at all: the WASI layer reports the paths an attempt changed
//! ([`Touched`]) and capture examines only those, the entry tree standing for the rest. It
//! walks the whole workspace when the report is "everything", when the workspace holds a
//! symlink (a path through it names another place), or may hold a hard link (a write through
//! one name changes another); in debug builds every path-only capture is checked against a
//! full walk.

pub mod beneath;
mod index;
mod lanes;
mod memory;
mod memory_capture;
mod restore;
mod scan;
mod snapshot;

pub use index::StatIndex;
pub use index::filesystem_tick;
pub use lanes::{CaptureTo, Workspaces};
pub use memory::MemoryWorkspaces;
pub use restore::{BlobSource, RestoreStats, restore};
pub use scan::{CaptureError, CaptureLimits};
pub use snapshot::{Captured, NewBlob, capture};

use cap_std::fs::Dir;
use std::path::{Path, PathBuf};

/// One lane's workspace, as [`MemoryWorkspaces`] keeps it: the in-memory tree, and the tree it
/// was last listed as (captured or restored), which the changes it records are relative to.
/// Disposable: any workspace can be rebuilt from a file commit.
#[derive(Debug)]
pub struct Workspace {
    vfs: wtb_vfs::Shared,
    listed: Option<std::sync::Arc<wtb_core::model::FileTree>>,
}

impl Workspace {
    /// The tree, shared with the guest's calls and streams while a node runs.
    pub fn vfs(&self) -> &wtb_vfs::Shared {
        &self.vfs
    }
}

/// A host directory captured or restored as a workspace (`wtb export`, the copy `wtb node run`
/// starts from, the runtime's reference mount), and the stat index that makes its next capture
/// cheap.
#[derive(Debug)]
pub struct DirWorkspace {
    dir: Dir,
    host_path: PathBuf,
    index: StatIndex,
    /// May hold a file with several hard links (unknown until a full walk has looked).
    aliased: bool,
}

impl DirWorkspace {
    /// Wraps an open directory. `host_path` is only used to preopen it for the guest.
    pub fn new(dir: Dir, host_path: PathBuf) -> Self {
        Self { dir, host_path, index: StatIndex::default(), aliased: true }
    }

    /// Wraps a directory just created, hence empty: it holds no hard link, so its first capture
    /// need not walk it.
    pub fn created(dir: Dir, host_path: PathBuf) -> Self {
        Self { aliased: false, ..Self::new(dir, host_path) }
    }

    /// The directory.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Where it is on the host, for the WASI preopen.
    pub fn host_path(&self) -> &Path {
        &self.host_path
    }
}
