//! `wasi:filesystem` served from an in-memory workspace ([`wtb_vfs::Vfs`]) instead of a host
//! directory: the guest's `/` is a value the host holds, fixtures stay read-only host
//! directories (their descriptors are wasmtime-wasi's, wrapped), and the disk quota is charged
//! exactly as for a directory-backed workspace (`quota_fs.rs`), so a guest cannot tell the two
//! apart by what it is allowed to do.
//!
//! This module converts and delegates: names resolve, errors and link counts come from
//! `wtb_vfs`; descriptor permissions (`read`/`write` modes, `bad-descriptor`) are checked here,
//! as the operating system checks them for wasmtime-wasi.

mod convert;
mod descriptor;
mod listing;
mod ops;
mod preopen;
mod stream;

use crate::bindings::wasi_fs::wasi::filesystem::types::ErrorCode;
use crate::quota::DiskQuota;
use std::sync::{Arc, MutexGuard};
use wasmtime::component::{HasData, ResourceTable, ResourceTableError};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wtb_vfs::{Errno, Ino, Vfs};

pub use crate::bindings::wasi_fs::wasi::filesystem::{preopens, types};

/// A workspace shared between an attempt's store and its streams; the caller keeps a clone
/// of the `Arc` to read the tree back after the attempt.
pub type SharedVfs = wtb_vfs::Shared;

/// What a guest descriptor is.
#[derive(Clone, Copy, Debug)]
pub enum Descriptor {
    /// An inode of the in-memory workspace.
    Virtual(VirtualFd),
    /// A fixture: wasmtime-wasi's descriptor, at this rep in the same table.
    Fixture(u32),
}

/// A descriptor on the in-memory workspace, with the mode it was opened in.
#[derive(Clone, Copy, Debug)]
pub struct VirtualFd {
    ino: Ino,
    dir: bool,
    read: bool,
    write: bool,
}

/// A directory listing being read.
pub enum DirStream {
    /// Entries of an in-memory directory, taken when it was opened for reading.
    Virtual(std::vec::IntoIter<types::DirectoryEntry>),
    /// wasmtime-wasi's listing of a fixture directory, at this rep in the table.
    Fixture(u32),
}

/// A `wasi:filesystem` error or a trap, as the bindings want them.
#[derive(Debug)]
pub enum FsError {
    /// Returned to the guest.
    Code(ErrorCode),
    /// Ends the attempt (quota, resource table full, a host failure).
    Trap(wasmtime::Error),
}

impl From<ErrorCode> for FsError {
    fn from(code: ErrorCode) -> Self {
        Self::Code(code)
    }
}

impl From<Errno> for FsError {
    fn from(e: Errno) -> Self {
        Self::Code(convert::code(e))
    }
}

impl From<ResourceTableError> for FsError {
    fn from(e: ResourceTableError) -> Self {
        Self::Trap(e.into())
    }
}

impl From<crate::quota::QuotaTrap> for FsError {
    fn from(t: crate::quota::QuotaTrap) -> Self {
        Self::Trap(t.into())
    }
}

/// Result of a filesystem call.
pub type FsResult<T> = Result<T, FsError>;

/// The view the linker hands the bindings: the workspace, the resource table, wasmtime-wasi's
/// filesystem context (for fixtures) and the quota.
pub struct VirtualFs<'a> {
    /// The workspace.
    pub vfs: &'a SharedVfs,
    /// wasmtime-wasi's view, which holds the table and serves fixtures.
    pub host: WasiFilesystemCtxView<'a>,
    /// The attempt's budget; `None` switches accounting off (benchmarks only).
    pub quota: Option<&'a Arc<DiskQuota>>,
    /// Wall-clock time of this call, in nanoseconds since the epoch, for the times it stamps.
    pub now: u64,
}

/// Selects [`VirtualFs`] as the host of `wasi:filesystem` in the linker.
pub struct VirtualFsData;

impl HasData for VirtualFsData {
    type Data<'a> = VirtualFs<'a>;
}

/// Bounds what the attempt about to run may add to `vfs`: the disk quota's bytes and files on
/// top of what it holds (the quota traps first; this bounds host memory when accounting is
/// switched off for a benchmark).
pub(crate) fn budget(vfs: &SharedVfs, limits: &crate::Limits) {
    let mut vfs = vfs.lock().unwrap_or_else(|e| e.into_inner());
    let budget = wtb_vfs::Budget {
        bytes: vfs.bytes().saturating_add(limits.disk_bytes),
        inodes: vfs.inodes().saturating_add(limits.max_files).saturating_add(limits.max_resources as u64),
    };
    vfs.set_budget(budget);
}

/// The trap that ends an attempt whose in-memory workspace cannot grow: the host's memory
/// for workspaces is spent (a real directory would fill the disk instead; a guest is not told
/// `insufficient-space` and left to retry).
pub(crate) fn full(quota: Option<&Arc<DiskQuota>>) -> wasmtime::Error {
    let detail = "the in-memory workspace cannot grow: the host's memory for workspaces is spent".to_owned();
    match quota {
        Some(q) => q.refuse(detail).into(),
        None => wasmtime::Error::msg(detail),
    }
}

impl VirtualFs<'_> {
    /// The workspace, locked, stamped with this call's time. Never held across an await.
    fn lock(&self) -> MutexGuard<'_, Vfs> {
        let mut vfs = self.vfs.lock().unwrap_or_else(|e| e.into_inner());
        vfs.set_now(self.now);
        vfs
    }

    fn table(&mut self) -> &mut ResourceTable {
        self.host.table
    }
}
