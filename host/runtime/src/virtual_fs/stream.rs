//! Read and write streams on in-memory files. They hold their inode open (a file removed
//! while a stream is open stays readable, as on Linux) and behave as wasmtime-wasi's file
//! streams do: a read past the end closes the stream, a failed write is reported once and
//! closes it, growth is charged to the quota before the bytes land.

use super::SharedVfs;
use crate::quota::{DiskQuota, growth};
use std::sync::Arc;
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};
use wtb_vfs::{Errno, Ino};

/// Most bytes one `write` may carry, and one `read` return (as wasmtime-wasi's own streams).
const PERMIT: usize = 64 << 10;

fn failed(e: Errno) -> StreamError {
    StreamError::LastOperationFailed(e.into())
}

/// Keeps an inode alive for as long as a stream on it is.
struct Held {
    vfs: SharedVfs,
    ino: Ino,
}

impl Held {
    fn new(vfs: &SharedVfs, ino: Ino) -> Self {
        vfs.lock().unwrap_or_else(|e| e.into_inner()).hold(ino);
        Self { vfs: vfs.clone(), ino }
    }

    fn with<T>(&self, f: impl FnOnce(&mut wtb_vfs::Vfs, Ino) -> T) -> T {
        f(&mut self.vfs.lock().unwrap_or_else(|e| e.into_inner()), self.ino)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.with(|vfs, ino| vfs.close(ino));
    }
}

/// `read-via-stream`.
pub(super) struct Reader {
    file: Held,
    pos: u64,
    /// The descriptor was opened without `read`: every read fails, as `read(2)` on it would.
    readable: bool,
    closed: bool,
}

impl Reader {
    pub(super) fn new(vfs: &SharedVfs, ino: Ino, pos: u64, readable: bool) -> Self {
        Self { file: Held::new(vfs, ino), pos, readable, closed: false }
    }
}

#[wasmtime_wasi_io::async_trait]
impl InputStream for Reader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        if !self.readable {
            self.closed = true;
            return Err(failed(Errno::BadDescriptor));
        }
        let want = size.min(PERMIT) as u64;
        let bytes = self.file.with(|vfs, ino| vfs.read(ino, self.pos, want)).map_err(failed)?;
        if bytes.is_empty() && want > 0 {
            self.closed = true;
            return Err(StreamError::Closed);
        }
        self.pos += bytes.len() as u64;
        Ok(Bytes::from(bytes))
    }

    /// As wasmtime-wasi's file stream: a blocking read of nothing reads nothing, which is the
    /// end of the stream.
    async fn blocking_read(&mut self, size: usize) -> StreamResult<Bytes> {
        if size == 0 && self.readable && !self.closed {
            self.closed = true;
            return Err(StreamError::Closed);
        }
        self.read(size)
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for Reader {
    /// Always ready: the bytes are in memory.
    async fn ready(&mut self) {}
}

/// `write-via-stream` and `append-via-stream`.
pub(super) struct Writer {
    file: Held,
    /// Where the next byte goes; `None` appends.
    pos: Option<u64>,
    quota: Option<Arc<DiskQuota>>,
    /// The descriptor was opened without `write`: the first write fails, as `write(2)` would.
    writable: bool,
    failed: Option<Errno>,
    closed: bool,
}

impl Writer {
    pub(super) fn new(
        vfs: &SharedVfs,
        ino: Ino,
        pos: Option<u64>,
        quota: Option<Arc<DiskQuota>>,
        writable: bool,
    ) -> Self {
        Self { file: Held::new(vfs, ino), pos, quota, writable, failed: None, closed: false }
    }

    fn status(&mut self) -> StreamResult<()> {
        if let Some(e) = self.failed.take() {
            self.closed = true;
            return Err(failed(e));
        }
        if self.closed {
            return Err(StreamError::Closed);
        }
        Ok(())
    }
}

#[wasmtime_wasi_io::async_trait]
impl OutputStream for Writer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.status()?;
        if bytes.len() > PERMIT {
            return Err(StreamError::trap("write exceeds the permit of check-write"));
        }
        if bytes.is_empty() {
            return Ok(()); // no write(2) is made, so nothing can fail (as `write_all_at`)
        }
        if !self.writable {
            self.failed = Some(Errno::BadDescriptor);
            return Ok(());
        }
        let pos = self.pos;
        let size = self.file.with(|vfs, ino| vfs.stat(ino)).map_err(failed)?.size;
        if let Some(quota) = &self.quota {
            let grows = match pos {
                None => bytes.len() as u64,
                Some(p) => growth(size, p, bytes.len() as u64),
            };
            quota.charge_bytes(grows, "a stream write").map_err(|t| StreamError::Trap(t.into()))?;
        }
        match self.file.with(|vfs, ino| vfs.write(ino, pos, &bytes)) {
            Ok(end) if self.pos.is_some() => self.pos = Some(end),
            Ok(_) => {}
            Err(Errno::InsufficientSpace) => return Err(StreamError::Trap(super::full(self.quota.as_ref()))),
            Err(e) => self.failed = Some(e),
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.status()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.status()?;
        Ok(PERMIT)
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write(bytes)?;
        self.flush()
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for Writer {
    /// Always ready: writes complete before they return.
    async fn ready(&mut self) {}
}
