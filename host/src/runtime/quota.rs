//! Disk quota enforced *while* a guest writes, not after.
//!
//! wasmtime-wasi has no quota, so the linker binds `wasi:filesystem/types` to [`QuotaFs`], which
//! forwards every call to wasmtime-wasi's own implementation and charges, before the bytes
//! reach the disk, whatever makes the workspace grow: a positional write past a file's end, a
//! write stream (wrapped in [`QuotaStream`]), an append, `set-size` (so a 1 TB sparse file is
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
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, DirectoryEntryStream, ErrorCode, Filesize, HostDescriptor,
    HostDirectoryEntryStream, MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{FsError, FsResult};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, OutputStream, StreamError, StreamResult};
use wasmtime_wasi_io::bytes::Bytes;

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
        Arc::new(Self { max_bytes, max_files, bytes: AtomicU64::new(0), files: AtomicU64::new(0), exceeded: Mutex::new(None) })
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
    fn charge_bytes(&self, n: u64, what: &str) -> Result<(), QuotaTrap> {
        if n == 0 {
            return Ok(());
        }
        let before = self.bytes.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.max_bytes {
            self.bytes.fetch_sub(n, Ordering::Relaxed);
            return Err(self.over(format!("{what} would grow the workspace by {n} bytes after {before}, over the {}-byte disk quota", self.max_bytes)));
        }
        Ok(())
    }

    /// Charges one new file, directory or link.
    fn charge_file(&self, path: &str) -> Result<(), QuotaTrap> {
        let before = self.files.fetch_add(1, Ordering::Relaxed);
        if before >= self.max_files {
            self.files.fetch_sub(1, Ordering::Relaxed);
            return Err(self.over(format!("creating `{path}` would make {} new files, over the limit of {}", before + 1, self.max_files)));
        }
        Ok(())
    }

    fn refund_file(&self) {
        self.files.fetch_sub(1, Ordering::Relaxed);
    }

    fn over(&self, detail: String) -> QuotaTrap {
        self.exceeded.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(detail);
        QuotaTrap
    }
}

/// `wasi:filesystem/types` for one store: wasmtime-wasi's implementation plus the quota.
pub struct QuotaFs<'a> {
    /// wasmtime-wasi's view, which does the real work.
    pub fs: WasiFilesystemCtxView<'a>,
    /// The attempt's budget; `None` switches accounting off (benchmarks only).
    pub quota: Option<&'a Arc<DiskQuota>>,
}

/// Selects [`QuotaFs`] as the host of `wasi:filesystem` in the linker.
pub struct QuotaFsData;

impl wasmtime::component::HasData for QuotaFsData {
    type Data<'a> = QuotaFs<'a>;
}

fn trap(t: QuotaTrap) -> FsError {
    FsError::trap(t)
}

/// A borrowed handle to the same resource, to call the inner implementation twice.
fn again<T: 'static>(r: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(r.rep())
}

impl QuotaFs<'_> {
    /// The host file behind `fd`, if it is a file.
    fn file(&self, fd: &Resource<types::Descriptor>) -> FsResult<Option<Arc<std::fs::File>>> {
        Ok(match self.fs.table.get(fd)? {
            Descriptor::File(f) => Some(f.file.clone()),
            Descriptor::Dir(_) => None,
        })
    }

    fn wrap_stream(&mut self, stream: Resource<DynOutputStream>, file: Arc<std::fs::File>, pos: Option<u64>) -> FsResult<Resource<DynOutputStream>> {
        let Some(quota) = self.quota.cloned() else { return Ok(stream) };
        let inner = self.fs.table.delete(stream)?;
        let wrapped: DynOutputStream = Box::new(QuotaStream { inner, file, pos, quota });
        Ok(self.fs.table.push(wrapped)?)
    }
}

/// Bytes a write of `len` at `pos` adds to a file of `size` bytes (a gap counts: it is a hole
/// the file now spans).
fn growth(size: u64, pos: u64, len: u64) -> u64 {
    pos.saturating_add(len).saturating_sub(size)
}

impl types::Host for QuotaFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl HostDescriptor for QuotaFs<'_> {
    async fn advise(&mut self, fd: Resource<types::Descriptor>, offset: Filesize, len: Filesize, advice: Advice) -> FsResult<()> {
        self.fs.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.fs.sync_data(fd).await
    }

    async fn get_flags(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorFlags> {
        self.fs.get_flags(fd).await
    }

    async fn get_type(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorType> {
        self.fs.get_type(fd).await
    }

    async fn set_size(&mut self, fd: Resource<types::Descriptor>, size: Filesize) -> FsResult<()> {
        if let (Some(quota), Some(file)) = (self.quota, self.file(&fd)?) {
            let current = file.metadata().map_err(ErrorCode::from)?.len();
            quota.charge_bytes(size.saturating_sub(current), "set-size").map_err(trap)?;
        }
        self.fs.set_size(fd, size).await
    }

    async fn set_times(&mut self, fd: Resource<types::Descriptor>, atim: NewTimestamp, mtim: NewTimestamp) -> FsResult<()> {
        self.fs.set_times(fd, atim, mtim).await
    }

    async fn read(&mut self, fd: Resource<types::Descriptor>, len: Filesize, offset: Filesize) -> FsResult<(Vec<u8>, bool)> {
        self.fs.read(fd, len, offset).await
    }

    async fn write(&mut self, fd: Resource<types::Descriptor>, buf: Vec<u8>, offset: Filesize) -> FsResult<Filesize> {
        if let (Some(quota), Some(file)) = (self.quota, self.file(&fd)?) {
            let size = file.metadata().map_err(ErrorCode::from)?.len();
            quota.charge_bytes(growth(size, offset, buf.len() as u64), "a write").map_err(trap)?;
        }
        self.fs.write(fd, buf, offset).await
    }

    async fn read_directory(&mut self, fd: Resource<types::Descriptor>) -> FsResult<Resource<DirectoryEntryStream>> {
        self.fs.read_directory(fd).await
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.fs.sync(fd).await
    }

    async fn create_directory_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        let Some(quota) = self.quota else { return self.fs.create_directory_at(fd, path).await };
        quota.charge_file(&path).map_err(trap)?;
        let r = self.fs.create_directory_at(fd, path).await;
        if r.is_err() {
            quota.refund_file();
        }
        r
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorStat> {
        self.fs.stat(fd).await
    }

    async fn stat_at(&mut self, fd: Resource<types::Descriptor>, path_flags: PathFlags, path: String) -> FsResult<DescriptorStat> {
        self.fs.stat_at(fd, path_flags, path).await
    }

    async fn set_times_at(&mut self, fd: Resource<types::Descriptor>, path_flags: PathFlags, path: String, atim: NewTimestamp, mtim: NewTimestamp) -> FsResult<()> {
        self.fs.set_times_at(fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(&mut self, fd: Resource<types::Descriptor>, old_flags: PathFlags, old_path: String, new_fd: Resource<types::Descriptor>, new_path: String) -> FsResult<()> {
        let Some(quota) = self.quota else { return self.fs.link_at(fd, old_flags, old_path, new_fd, new_path).await };
        quota.charge_file(&new_path).map_err(trap)?;
        let r = self.fs.link_at(fd, old_flags, old_path, new_fd, new_path).await;
        if r.is_err() {
            quota.refund_file();
        }
        r
    }

    async fn open_at(&mut self, fd: Resource<types::Descriptor>, path_flags: PathFlags, path: String, oflags: OpenFlags, flags: DescriptorFlags) -> FsResult<Resource<types::Descriptor>> {
        let quota = match self.quota {
            Some(q) if oflags.contains(OpenFlags::CREATE) => q,
            _ => return self.fs.open_at(fd, path_flags, path, oflags, flags).await,
        };
        // Charged only when the entry is new; refunded if the open then fails.
        let exists = self.fs.stat_at(again(&fd), PathFlags::empty(), path.clone()).await.is_ok();
        if !exists {
            quota.charge_file(&path).map_err(trap)?;
        }
        let r = self.fs.open_at(fd, path_flags, path, oflags, flags).await;
        if r.is_err() && !exists {
            quota.refund_file();
        }
        r
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<String> {
        self.fs.readlink_at(fd, path).await
    }

    async fn remove_directory_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        self.fs.remove_directory_at(fd, path).await
    }

    async fn rename_at(&mut self, fd: Resource<types::Descriptor>, old_path: String, new_fd: Resource<types::Descriptor>, new_path: String) -> FsResult<()> {
        self.fs.rename_at(fd, old_path, new_fd, new_path).await
    }

    async fn symlink_at(&mut self, fd: Resource<types::Descriptor>, src_path: String, dest_path: String) -> FsResult<()> {
        let Some(quota) = self.quota else { return self.fs.symlink_at(fd, src_path, dest_path).await };
        quota.charge_file(&dest_path).map_err(trap)?;
        let r = self.fs.symlink_at(fd, src_path, dest_path).await;
        if r.is_err() {
            quota.refund_file();
        }
        r
    }

    async fn unlink_file_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        self.fs.unlink_file_at(fd, path).await
    }

    fn read_via_stream(&mut self, fd: Resource<types::Descriptor>, offset: Filesize) -> FsResult<Resource<DynInputStream>> {
        self.fs.read_via_stream(fd, offset)
    }

    fn write_via_stream(&mut self, fd: Resource<types::Descriptor>, offset: Filesize) -> FsResult<Resource<DynOutputStream>> {
        let file = self.file(&fd)?;
        let stream = self.fs.write_via_stream(fd, offset)?;
        match file {
            Some(file) => self.wrap_stream(stream, file, Some(offset)),
            None => Ok(stream),
        }
    }

    fn append_via_stream(&mut self, fd: Resource<types::Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        let file = self.file(&fd)?;
        let stream = self.fs.append_via_stream(fd)?;
        match file {
            Some(file) => self.wrap_stream(stream, file, None),
            None => Ok(stream),
        }
    }

    async fn is_same_object(&mut self, a: Resource<types::Descriptor>, b: Resource<types::Descriptor>) -> wasmtime::Result<bool> {
        self.fs.is_same_object(a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<types::Descriptor>) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash(fd).await
    }

    async fn metadata_hash_at(&mut self, fd: Resource<types::Descriptor>, path_flags: PathFlags, path: String) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash_at(fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for QuotaFs<'_> {
    async fn read_directory_entry(&mut self, stream: Resource<DirectoryEntryStream>) -> FsResult<Option<DirectoryEntry>> {
        self.fs.read_directory_entry(stream).await
    }

    fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}

/// A file write stream that charges growth before passing bytes on.
struct QuotaStream {
    inner: DynOutputStream,
    file: Arc<std::fs::File>,
    /// Where the next byte goes; `None` for an append stream (every byte is growth).
    pos: Option<u64>,
    quota: Arc<DiskQuota>,
}

impl QuotaStream {
    fn charge(&mut self, len: usize) -> StreamResult<()> {
        let len = len as u64;
        let grows = match self.pos {
            None => len,
            Some(pos) => {
                let size = self.file.metadata().map_err(|e| StreamError::LastOperationFailed(e.into()))?.len();
                growth(size, pos, len)
            }
        };
        self.quota.charge_bytes(grows, "a stream write").map_err(|t| StreamError::Trap(t.into()))?;
        if let Some(pos) = &mut self.pos {
            *pos += len;
        }
        Ok(())
    }
}

#[wasmtime_wasi_io::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, n: usize) -> StreamResult<()> {
        self.charge(n)?;
        self.inner.write_zeroes(n)
    }

    async fn write_ready(&mut self) -> StreamResult<usize> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
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
        assert!(q.exceeded().unwrap().contains("41 bytes after 60, over the 100-byte disk quota"), "{:?}", q.exceeded());
    }
}
