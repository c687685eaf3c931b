//! Disk quota enforced *while* a guest writes, not after.
//!
//! wasmtime-wasi has no quota, so the linker binds `wasi:filesystem/types` to `QuotaFs` (`quota_fs.rs`), which
//! forwards every call to wasmtime-wasi's own implementation and charges, before the bytes
//! reach the disk, whatever makes the workspace grow: a positional write past a file's end, a
//! write stream (written by `file_stream.rs`), an append, `set-size` (so a 1 TB sparse file is
//! refused at the call), and every new file, directory or link (hard links too: one entry
//! each). A charge over the limit traps the guest at once, so the host disk holds at most the
//! quota — the slack is file-system metadata, not data.
//!
//! What is charged is *growth made by this attempt*: overwriting bytes in place is free,
//! deleting or truncating gives nothing back (a guest cannot cycle a large temp file to write
//! unbounded bytes). Sizes come from `fstat` on the open file before each growing write, so
//! several handles on one file cannot hide growth from each other.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// One attempt's disk budget and what it has used; shared with its write streams.
#[derive(Debug)]
pub struct DiskQuota {
    max_bytes: u64,
    max_files: u64,
    bytes: AtomicU64,
    files: AtomicU64,
    exceeded: Mutex<Option<String>>,
}

/// The trap that ends an attempt over its quota (the detail is kept on the quota).
#[derive(Debug, thiserror::Error)]
#[error("disk quota exceeded")]
pub struct QuotaTrap;

impl DiskQuota {
    /// A fresh budget: `max_bytes` of growth and `max_files` new entries.
    pub fn new(max_bytes: u64, max_files: u64) -> Arc<Self> {
        Arc::new(Self {
            max_bytes,
            max_files,
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
            exceeded: Mutex::new(None),
        })
    }

    /// Bytes of growth charged so far.
    pub fn bytes_used(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// New entries charged so far.
    pub fn files_used(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }

    /// Why the attempt went over, if it did.
    pub fn exceeded(&self) -> Option<String> {
        self.exceeded.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Charges `n` bytes of growth, or records the overrun and returns the trap.
    pub(super) fn charge_bytes(&self, n: u64, what: &str) -> Result<(), QuotaTrap> {
        if n == 0 {
            return Ok(());
        }
        let before = self.bytes.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.max_bytes {
            self.bytes.fetch_sub(n, Ordering::Relaxed);
            return Err(self.over(format!(
                "{what} would grow the workspace by {n} bytes after {before}, over the {}-byte disk quota",
                self.max_bytes
            )));
        }
        Ok(())
    }

    /// Charges one new file, directory or link.
    pub(super) fn charge_file(&self, path: &str) -> Result<(), QuotaTrap> {
        let before = self.files.fetch_add(1, Ordering::Relaxed);
        if before >= self.max_files {
            self.files.fetch_sub(1, Ordering::Relaxed);
            return Err(self.over(format!(
                "creating `{path}` would make {} new files, over the limit of {}",
                before + 1,
                self.max_files
            )));
        }
        Ok(())
    }

    pub(super) fn refund_file(&self) {
        self.files.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records that the workspace refused to grow for another reason (an in-memory workspace
    /// at the host's memory budget) and returns the trap, so the attempt ends as over quota.
    pub(crate) fn refuse(&self, detail: String) -> QuotaTrap {
        self.over(detail)
    }

    fn over(&self, detail: String) -> QuotaTrap {
        self.exceeded.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(detail);
        QuotaTrap
    }
}

/// Bytes a write of `len` at `pos` adds to a file of `size` bytes (a gap counts: it is a hole
/// the file now spans).
pub(super) fn growth(size: u64, pos: u64, len: u64) -> u64 {
    pos.saturating_add(len).saturating_sub(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_counts_only_bytes_past_the_end_including_holes() {
        assert_eq!(growth(100, 0, 50), 0, "overwrite in place");
        assert_eq!(growth(100, 80, 50), 30, "extends past the end");
        assert_eq!(growth(0, 1 << 40, 1), (1 << 40) + 1, "a hole counts");
        assert_eq!(growth(10, u64::MAX, 5), u64::MAX - 10);
    }

    #[test]
    fn charges_stop_at_the_limit_and_record_why() {
        let q = DiskQuota::new(100, 2);
        q.charge_bytes(60, "w").unwrap();
        assert!(q.charge_bytes(41, "w").is_err());
        assert_eq!(q.bytes_used(), 60, "a refused charge is not counted");
        q.charge_bytes(40, "w").unwrap();
        q.charge_file("a").unwrap();
        q.charge_file("b").unwrap();
        assert!(q.charge_file("c").is_err());
        assert!(
            q.exceeded().unwrap().contains("41 bytes after 60, over the 100-byte disk quota"),
            "{:?}",
            q.exceeded()
        );
    }
}
