//! Read and write streams on in-memory files. They hold their inode open (a file removed
//! while a stream is open stays readable, as on Linux) and behave as wasmtime-wasi's file
//! streams do: a read past the end closes the stream, a failed write is reported once and
//! closes it, growth is charged to the quota before the bytes land.

use super::SharedVfs;
use crate::file_stream::{PutError, QuotaWriter, WRITE_PERMIT, WriteTarget};
use crate::quota::DiskQuota;
use std::sync::Arc;
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, StreamError, StreamResult};
use wtb_vfs::{Errno, Ino};

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
        let want = size.min(WRITE_PERMIT) as u64;
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

/// An in-memory file a write stream writes to (the stream protocol and the quota are
/// [`QuotaWriter`]'s, as for a host file).
pub(super) struct VfsFile {
    file: Held,
    /// The descriptor was opened without `write`: a write fails, as `write(2)` would.
    writable: bool,
    /// For the trap's detail when the host's memory for workspaces is spent.
    quota: Option<Arc<DiskQuota>>,
}

/// `write-via-stream` and `append-via-stream` on an in-memory file.
pub(super) type Writer = QuotaWriter<VfsFile>;

impl VfsFile {
    pub(super) fn new(vfs: &SharedVfs, ino: Ino, writable: bool, quota: Option<Arc<DiskQuota>>) -> Self {
        Self { file: Held::new(vfs, ino), writable, quota }
    }
}

impl WriteTarget for VfsFile {
    fn size(&self) -> Result<u64, wasmtime::Error> {
        Ok(self.file.with(|vfs, ino| vfs.stat(ino))?.size)
    }

    fn put(&mut self, pos: Option<u64>, bytes: &[u8]) -> Result<(), PutError> {
        if !self.writable {
            return Err(PutError::Failed(Errno::BadDescriptor.into()));
        }
        match self.file.with(|vfs, ino| vfs.write(ino, pos, bytes)) {
            Ok(_) => Ok(()),
            Err(Errno::InsufficientSpace) => Err(PutError::Trap(super::full(self.quota.as_ref()))),
            Err(e) => Err(PutError::Failed(e.into())),
        }
    }
}
