//! `wasi:filesystem` through the disk quota and the touch log: every call goes to
//! wasmtime-wasi's own implementation; the ones that make the workspace grow are charged first
//! (see `quota.rs`), and the paths of the ones that change it are recorded, so capture looks
//! at those alone (see [`Touched`]).

use super::file_stream::{FileWriter, HostFile};
use super::quota::{DiskQuota, QuotaTrap, growth};
use crate::touch_log::TouchLog;
use std::sync::Arc;
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, DirectoryEntryStream,
    ErrorCode, Filesize, HostDescriptor, HostDirectoryEntryStream, MetadataHashValue, NewTimestamp,
    OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{FsError, FsResult};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

/// `wasi:filesystem/types` for one store: wasmtime-wasi's implementation plus the quota.
pub struct QuotaFs<'a> {
    /// wasmtime-wasi's view, which does the real work.
    pub fs: WasiFilesystemCtxView<'a>,
    /// The attempt's budget; `None` switches accounting off (benchmarks only).
    pub quota: Option<&'a Arc<DiskQuota>>,
    /// Where each descriptor is, and what changed.
    pub touch: &'a mut TouchLog,
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

    fn wrap_stream(
        &mut self,
        stream: Resource<DynOutputStream>,
        file: Arc<std::fs::File>,
        pos: Option<u64>,
    ) -> FsResult<Resource<DynOutputStream>> {
        // wasmtime-wasi's stream checked the descriptor's permissions; ours does the writing.
        drop(self.fs.table.delete(stream)?);
        let ours: DynOutputStream = Box::new(FileWriter::new(HostFile(file), pos, self.quota.cloned()));
        Ok(self.fs.table.push(ours)?)
    }
}

impl preopens::Host for QuotaFs<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<types::Descriptor>, String)>> {
        let dirs = preopens::Host::get_directories(&mut self.fs)?;
        self.touch.preopened(&dirs);
        Ok(dirs)
    }
}

impl types::Host for QuotaFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl HostDescriptor for QuotaFs<'_> {
    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
        len: Filesize,
        advice: Advice,
    ) -> FsResult<()> {
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
        self.touch.mark(&fd, ".");
        self.fs.set_size(fd, size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        self.fs.set_times(fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.fs.read(fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buf: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        if let (Some(quota), Some(file)) = (self.quota, self.file(&fd)?) {
            let size = file.metadata().map_err(ErrorCode::from)?.len();
            quota.charge_bytes(growth(size, offset, buf.len() as u64), "a write").map_err(trap)?;
        }
        self.touch.mark(&fd, ".");
        self.fs.write(fd, buf, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DirectoryEntryStream>> {
        self.fs.read_directory(fd).await
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.fs.sync(fd).await
    }

    async fn create_directory_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        let touched = self.touch.path(&fd, &path);
        if let Some(quota) = self.quota {
            quota.charge_file(&path).map_err(trap)?;
        }
        let r = self.fs.create_directory_at(fd, path).await;
        match (&r, self.quota) {
            (Ok(()), _) => self.touch.touched.mark(touched),
            (Err(_), Some(quota)) => quota.refund_file(),
            (Err(_), None) => {}
        }
        r
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorStat> {
        self.fs.stat(fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        self.fs.stat_at(fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        self.fs.set_times_at(fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_flags: PathFlags,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        // A hard link makes a write through one name change another: capture walks everything.
        self.touch.touched.mark_everything();
        let Some(quota) = self.quota else {
            return self.fs.link_at(fd, old_flags, old_path, new_fd, new_path).await;
        };
        quota.charge_file(&new_path).map_err(trap)?;
        let r = self.fs.link_at(fd, old_flags, old_path, new_fd, new_path).await;
        if r.is_err() {
            quota.refund_file();
        }
        r
    }

    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        let at = self.touch.path(&fd, &path);
        let changes = oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE)
            || flags.intersects(DescriptorFlags::WRITE | DescriptorFlags::MUTATE_DIRECTORY);
        let charged = match self.quota {
            Some(quota) if oflags.contains(OpenFlags::CREATE) => {
                // Charged only when the entry is new; refunded if the open then fails.
                let exists = self.fs.stat_at(again(&fd), PathFlags::empty(), path.clone()).await.is_ok();
                if !exists {
                    quota.charge_file(&path).map_err(trap)?;
                }
                (!exists).then_some(quota)
            }
            _ => None,
        };
        let r = self.fs.open_at(fd, path_flags, path, oflags, flags).await;
        match &r {
            Ok(opened) => {
                if changes {
                    self.touch.touched.mark(at.clone());
                }
                self.touch.descriptors.insert(opened.rep(), at);
            }
            Err(_) => {
                if let Some(quota) = charged {
                    quota.refund_file();
                }
            }
        }
        r
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        self.touch.descriptors.remove(&fd.rep());
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<String> {
        self.fs.readlink_at(fd, path).await
    }

    async fn remove_directory_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        let at = self.touch.path(&fd, &path);
        let r = self.fs.remove_directory_at(fd, path).await;
        if r.is_ok() {
            self.touch.touched.mark(at);
        }
        r
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (from, to) = (self.touch.path(&fd, &old_path), self.touch.path(&new_fd, &new_path));
        let r = self.fs.rename_at(fd, old_path, new_fd, new_path).await;
        if r.is_ok() {
            self.touch.touched.mark(from);
            self.touch.touched.mark(to);
        }
        r
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        // A path through a symlink names another place: capture walks everything.
        self.touch.touched.mark_everything();
        let Some(quota) = self.quota else { return self.fs.symlink_at(fd, src_path, dest_path).await };
        quota.charge_file(&dest_path).map_err(trap)?;
        let r = self.fs.symlink_at(fd, src_path, dest_path).await;
        if r.is_err() {
            quota.refund_file();
        }
        r
    }

    async fn unlink_file_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        let at = self.touch.path(&fd, &path);
        let r = self.fs.unlink_file_at(fd, path).await;
        if r.is_ok() {
            self.touch.touched.mark(at);
        }
        r
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        self.fs.read_via_stream(fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        self.touch.mark(&fd, ".");
        let file = self.file(&fd)?;
        let stream = self.fs.write_via_stream(fd, offset)?;
        match file {
            Some(file) => self.wrap_stream(stream, file, Some(offset)),
            None => Ok(stream),
        }
    }

    fn append_via_stream(&mut self, fd: Resource<types::Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        self.touch.mark(&fd, ".");
        let file = self.file(&fd)?;
        let stream = self.fs.append_via_stream(fd)?;
        match file {
            Some(file) => self.wrap_stream(stream, file, None),
            None => Ok(stream),
        }
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        self.fs.is_same_object(a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<types::Descriptor>) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash(fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash_at(fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for QuotaFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirectoryEntryStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        self.fs.read_directory_entry(stream).await
    }

    fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}
