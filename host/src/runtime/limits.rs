//! The limits one attempt runs under, resolved from the manifest and the runtime defaults.

use std::time::Duration;

/// Resource limits of one node attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: u64,
    /// Wall-time limit (epoch interruption inside wasm, plus an outer timeout around host calls).
    pub timeout: Duration,
    /// Bytes of stdout and of stderr kept (each); writes beyond fail in the guest.
    pub output_bytes: usize,
    /// Most WASI resources (open files, streams, ...) alive at once.
    pub max_resources: usize,
    /// Largest state update, in bytes of JSON.
    pub update_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            timeout: Duration::from_secs(30),
            output_bytes: 1 << 20,
            max_resources: 10_000,
            update_bytes: 16 << 20,
        }
    }
}
