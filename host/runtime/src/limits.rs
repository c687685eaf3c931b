//! The limits one attempt runs under, resolved from the manifest and the runtime defaults.

use std::time::Duration;

/// Resource limits of one node attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Memory of the node: all its linear memories and tables together, in bytes.
    pub memory_bytes: u64,
    /// Wall-time limit (epoch interruption inside wasm, plus an outer timeout around host calls).
    pub timeout: Duration,
    /// Instructions' fuel: a budget that runs out after the same work on every machine
    /// (`None`: unlimited; the wall-time limit still holds).
    pub fuel: Option<u64>,
    /// Bytes by which the attempt may grow its workspace (checked before each write lands).
    pub disk_bytes: u64,
    /// New files, directories and links the attempt may create.
    pub max_files: u64,
    /// Bytes of stdout and of stderr kept (each); the write past it ends the attempt.
    pub output_bytes: usize,
    /// Most WASI resources (open files, streams, ...) alive at once.
    pub max_resources: usize,
    /// Largest state update, in bytes of JSON.
    pub update_bytes: usize,
    /// Bytes of event kinds and payloads one attempt may emit, in total.
    pub event_bytes: usize,
    /// Bytes of log messages one attempt may write, in total.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            timeout: Duration::from_secs(30),
            fuel: None,
            disk_bytes: 1 << 30,
            max_files: 10_000,
            output_bytes: 1 << 20,
            max_resources: 10_000,
            update_bytes: 16 << 20,
            event_bytes: 4 << 20,
            log_bytes: 1 << 20,
        }
    }
}

/// Engine-wide switches, for measuring what each safeguard costs (`wtb bench --only limits`).
/// Production always runs with [`Tuning::default`]: everything on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Epoch interruption: wall-time limits and cancellation inside wasm code.
    pub epoch: bool,
    /// Fuel metering: instruction budgets (manifests may set `fuel` only with it on).
    pub fuel: bool,
    /// Disk accounting on every workspace write.
    pub disk_accounting: bool,
    /// Host directories or in-memory workspaces (not a safeguard: both are sandboxed alike).
    pub workspace: crate::WorkspaceKind,
}

impl Default for Tuning {
    fn default() -> Self {
        Self { epoch: true, fuel: true, disk_accounting: true, workspace: crate::WorkspaceKind::Virtual }
    }
}
