//! Workspace file write streams that write on the calling thread, charging the disk quota first.
//!
//! wasmtime-wasi's file stream hands every non-blocking `write` (the path wasi-libc, hence
//! Rust's `std::fs`, takes) to tokio's blocking pool and makes the guest poll for completion:
//! two thread hand-offs per write, measured at ~130 µs of a small node's 160 µs guest call.
//! A workspace write is a short `pwrite` to a local file, the kind of call the WASI context
//! already makes inline (`allow_blocking_current_thread`), so this stream does it at once; the
//! permit of `check-write` (64 KiB) bounds how long one call can hold the thread.

use super::quota::{DiskQuota, growth};
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamError, StreamResult};

/// Most bytes one `write` may carry (what `check-write` grants), as wasmtime-wasi's own.
pub(super) const WRITE_PERMIT: usize = 64 << 10;

/// Why bytes did not land.
pub(super) enum PutError {
    /// Reported to the guest by the stream's next call, which closes it.
    Failed(wasmtime::Error),
    /// Ends the attempt.
    Trap(wasmtime::Error),
}

/// Where a write stream's bytes land: a host file, or a file of an in-memory workspace.
pub(super) trait WriteTarget: Send + Sync + 'static {
    /// Its size now, for the growth a positional write causes.
    fn size(&self) -> Result<u64, wasmtime::Error>;
    /// Writes all of `bytes` (never empty) at `pos`, or at the end with `None`.
    fn put(&mut self, pos: Option<u64>, bytes: &[u8]) -> Result<(), PutError>;
}

/// A write stream that charges the quota before the bytes land and writes on the calling
/// thread; one implementation of the stream protocol over both kinds of workspace.
pub(super) struct QuotaWriter<T> {
    target: T,
    /// Where the next byte goes; `None` for an append stream (every byte is growth).
    pos: Option<u64>,
    /// The attempt's disk budget (`None` only when a benchmark switches accounting off).
    quota: Option<Arc<DiskQuota>>,
    /// A write failed: the stream reports it once, then is closed.
    failed: Option<wasmtime::Error>,
    closed: bool,
}

impl<T: WriteTarget> QuotaWriter<T> {
    /// A stream writing at `pos` (or appending, with `None`).
    pub(super) fn new(target: T, pos: Option<u64>, quota: Option<Arc<DiskQuota>>) -> Self {
        Self { target, pos, quota, failed: None, closed: false }
    }

    /// Charges the growth `len` bytes at the stream's position would cause.
    fn charge(&self, len: u64) -> StreamResult<()> {
        let Some(quota) = &self.quota else { return Ok(()) };
        let grows = match self.pos {
            None => len,
            Some(pos) => growth(self.target.size().map_err(StreamError::LastOperationFailed)?, pos, len),
        };
        quota.charge_bytes(grows, "a stream write").map_err(|t| StreamError::Trap(t.into()))
    }

    /// The error a failed write left, reported once; the stream is closed afterwards.
    fn status(&mut self) -> StreamResult<()> {
        if let Some(e) = self.failed.take() {
            self.closed = true;
            return Err(StreamError::LastOperationFailed(e));
        }
        if self.closed {
            return Err(StreamError::Closed);
        }
        Ok(())
    }
}

#[wasmtime_wasi_io::async_trait]
impl<T: WriteTarget> OutputStream for QuotaWriter<T> {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.status()?;
        if bytes.len() > WRITE_PERMIT {
            return Err(StreamError::trap("write exceeds the permit of check-write"));
        }
        if bytes.is_empty() {
            return Ok(()); // no write(2) is made, so nothing can fail
        }
        self.charge(bytes.len() as u64)?;
        match self.target.put(self.pos, &bytes) {
            Ok(()) => {
                if let Some(pos) = &mut self.pos {
                    *pos += bytes.len() as u64;
                }
            }
            Err(PutError::Failed(e)) => self.failed = Some(e),
            Err(PutError::Trap(t)) => return Err(StreamError::Trap(t)),
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Nothing is buffered: every write reached its target before it returned.
        self.status()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.status()?;
        Ok(WRITE_PERMIT)
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write(bytes)?;
        self.flush()
    }
}

#[wasmtime_wasi_io::async_trait]
impl<T: WriteTarget> Pollable for QuotaWriter<T> {
    /// Always ready: writes complete before they return.
    async fn ready(&mut self) {}
}

/// An open workspace file on the host.
pub(super) struct HostFile(pub(super) Arc<std::fs::File>);

/// A write stream on one open workspace file on the host.
pub(super) type FileWriter = QuotaWriter<HostFile>;

impl WriteTarget for HostFile {
    fn size(&self) -> Result<u64, wasmtime::Error> {
        Ok(self.0.metadata()?.len())
    }

    fn put(&mut self, pos: Option<u64>, bytes: &[u8]) -> Result<(), PutError> {
        let r = match pos {
            Some(pos) => self.0.write_all_at(bytes, pos),
            None => {
                let mut rest = bytes;
                let mut r = Ok(());
                while !rest.is_empty() && r.is_ok() {
                    r = append(&self.0, rest).map(|n| rest = &rest[n..]);
                }
                r
            }
        };
        r.map_err(|e| PutError::Failed(e.into()))
    }
}

/// One append write (`pwritev2` with `RWF_APPEND`, so the offset is the file's end at the
/// instant of the write even with other handles open, as wasmtime-wasi does).
fn append(file: &std::fs::File, data: &[u8]) -> std::io::Result<usize> {
    use rustix::io::{ReadWriteFlags, pwritev2};
    Ok(pwritev2(file, &[std::io::IoSlice::new(data)], 0, ReadWriteFlags::APPEND)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &tempfile::TempDir, pos: Option<u64>, quota: Option<Arc<DiskQuota>>) -> FileWriter {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.path().join("f"))
            .unwrap();
        FileWriter::new(HostFile(Arc::new(file)), pos, quota)
    }

    #[tokio::test]
    async fn writes_at_the_position_and_appends_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(&dir, Some(2), None);
        assert_eq!(w.check_write().unwrap(), WRITE_PERMIT);
        w.write(Bytes::from_static(b"ab")).unwrap();
        w.blocking_write_and_flush(Bytes::from_static(b"cd")).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"\0\0abcd");
        let mut a = writer(&dir, None, None);
        a.write(Bytes::from_static(b"!")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"\0\0abcd!");
    }

    #[test]
    fn growth_is_charged_before_the_bytes_land_and_overwrites_are_free() {
        let dir = tempfile::tempdir().unwrap();
        let quota = DiskQuota::new(4, 10);
        let mut w = writer(&dir, Some(0), Some(quota.clone()));
        w.write(Bytes::from_static(b"abcd")).unwrap();
        let mut again = writer(&dir, Some(0), Some(quota.clone()));
        again.write(Bytes::from_static(b"wxyz")).unwrap();
        assert_eq!(quota.bytes_used(), 4, "an overwrite in place is free");
        assert!(
            matches!(w.write(Bytes::from_static(b"e")), Err(StreamError::Trap(_))),
            "a byte over the quota traps"
        );
        assert_eq!(
            std::fs::read(dir.path().join("f")).unwrap(),
            b"wxyz",
            "the refused byte never reached the file"
        );
    }

    #[test]
    fn a_write_over_the_permit_traps() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(&dir, Some(0), None);
        assert!(matches!(w.write(Bytes::from(vec![0; WRITE_PERMIT + 1])), Err(StreamError::Trap(_))));
    }
}
