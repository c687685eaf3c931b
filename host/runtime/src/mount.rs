//! What a node sees as `/`: an in-memory workspace the host holds (what the engine runs every
//! node on), or a host directory served by wasmtime-wasi — the reference the differential test
//! (`tests/all/vfs_differential.rs`) holds the in-memory filesystem to.

use crate::virtual_fs::SharedVfs;
use std::path::Path;

/// How a runtime serves workspaces; fixed per runtime, because it decides which
/// `wasi:filesystem` implementation the linker binds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceKind {
    /// A host directory, served by wasmtime-wasi (through the quota layer): the reference.
    Directory,
    /// An in-memory [`wtb_vfs::Vfs`], served by `virtual_fs` (the engine's: faster in every
    /// benchmark, and no host path is ever resolved for a guest).
    #[default]
    Virtual,
}

/// The workspace of one attempt.
#[derive(Clone, Copy)]
pub enum Mount<'a> {
    /// This host directory, preopened at `/`.
    Directory(&'a Path),
    /// This in-memory workspace, served at `/`; the caller reads it back afterwards.
    Virtual(&'a SharedVfs),
}

impl Mount<'_> {
    /// The kind of runtime that can run it.
    pub fn kind(&self) -> WorkspaceKind {
        match self {
            Self::Directory(_) => WorkspaceKind::Directory,
            Self::Virtual(_) => WorkspaceKind::Virtual,
        }
    }
}
