//! The in-memory side of each `wasi:filesystem` call: descriptor modes checked as the kernel
//! checks them, quota charged as `quota_fs.rs` charges it, then `wtb_vfs` does the work.

use super::convert;
use super::stream::{Reader, VfsFile, Writer};
use super::types::{DescriptorFlags, DescriptorStat, NewTimestamp, OpenFlags, PathFlags};
use super::{FsResult, VirtualFd, VirtualFs};
use crate::quota::growth;
use wasmtime::component::Resource;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};
use wtb_vfs::{Errno, Follow, Ino, Opened};

/// Most bytes one `read` returns: wasmtime-wasi's cap (`MAX_READ_SIZE_ALLOC`), so a guest
/// sees the same short reads, and a huge length allocates nothing.
const MAX_READ: u64 = 64 << 10;

pub(super) fn follow(flags: PathFlags) -> Follow {
    if flags.contains(PathFlags::SYMLINK_FOLLOW) { Follow::Yes } else { Follow::No }
}

impl VirtualFd {
    /// The root of the workspace, as preopened: readable, mutable.
    pub(super) fn root(ino: Ino) -> Self {
        Self { ino, dir: true, read: true, write: true }
    }

    fn file(self) -> Result<Ino, Errno> {
        if self.dir { Err(Errno::BadDescriptor) } else { Ok(self.ino) }
    }

    pub(super) fn dir(self) -> Result<Ino, Errno> {
        if self.dir { Ok(self.ino) } else { Err(Errno::NotDirectory) }
    }
}

impl VirtualFs<'_> {
    /// `None` leaves a time as it is.
    fn time(&self, t: NewTimestamp) -> Option<u64> {
        match t {
            NewTimestamp::NoChange => None,
            NewTimestamp::Now => Some(self.now),
            NewTimestamp::Timestamp(d) => {
                Some(d.seconds.saturating_mul(1_000_000_000).saturating_add(u64::from(d.nanoseconds)))
            }
        }
    }

    pub(super) fn v_flags(&self, fd: VirtualFd) -> DescriptorFlags {
        let mut flags = DescriptorFlags::empty();
        if fd.read {
            flags |= DescriptorFlags::READ;
        }
        if fd.write {
            flags |= if fd.dir { DescriptorFlags::MUTATE_DIRECTORY } else { DescriptorFlags::WRITE };
        }
        flags
    }

    pub(super) fn v_stat(&self, ino: Ino) -> FsResult<DescriptorStat> {
        Ok(convert::stat(self.lock().stat(ino)?))
    }

    pub(super) fn v_stat_at(&self, fd: VirtualFd, flags: PathFlags, path: &str) -> FsResult<DescriptorStat> {
        let vfs = self.lock();
        let ino = vfs.stat_target(fd.dir()?, path, follow(flags))?;
        Ok(convert::stat(vfs.stat(ino)?))
    }

    pub(super) fn v_set_times(&self, ino: Ino, atim: NewTimestamp, mtim: NewTimestamp) -> FsResult<()> {
        let (a, m) = (self.time(atim), self.time(mtim));
        Ok(self.lock().set_times(ino, a, m)?)
    }

    pub(super) fn v_set_times_at(
        &self,
        fd: VirtualFd,
        flags: PathFlags,
        path: &str,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        let base = fd.dir()?;
        let ino = match follow(flags) {
            Follow::Yes => self.lock().lookup(base, path, Follow::Yes)?,
            Follow::No => self.lock().lookup_entry(base, path)?,
        };
        self.v_set_times(ino, atim, mtim)
    }

    pub(super) fn v_read(&self, fd: VirtualFd, len: u64, offset: u64) -> FsResult<(Vec<u8>, bool)> {
        let ino = fd.file()?;
        if !fd.read {
            return Err(Errno::BadDescriptor.into());
        }
        let bytes = self.lock().read(ino, offset, len.min(MAX_READ))?;
        let end = bytes.is_empty();
        Ok((bytes, end))
    }

    pub(super) fn v_write(&self, fd: VirtualFd, buf: &[u8], offset: u64) -> FsResult<u64> {
        let ino = fd.file()?;
        if !fd.write {
            return Err(Errno::BadDescriptor.into());
        }
        let mut vfs = self.lock();
        if let Some(quota) = self.quota {
            let size = vfs.stat(ino)?.size;
            quota.charge_bytes(growth(size, offset, buf.len() as u64), "a write")?;
        }
        vfs.write(ino, Some(offset), buf)?;
        Ok(buf.len() as u64)
    }

    pub(super) fn v_set_size(&self, fd: VirtualFd, size: u64) -> FsResult<()> {
        let ino = fd.file()?;
        if !fd.write {
            return Err(Errno::Invalid.into());
        }
        let mut vfs = self.lock();
        if let Some(quota) = self.quota {
            let current = vfs.stat(ino)?.size;
            quota.charge_bytes(size.saturating_sub(current), "set-size")?;
        }
        Ok(vfs.set_size(ino, size)?)
    }

    pub(super) fn v_read_dir(&self, fd: VirtualFd) -> FsResult<super::DirStream> {
        let entries = self.lock().read_dir(fd.dir()?)?;
        let entries: Vec<_> = entries
            .into_iter()
            .map(|(name, kind)| super::types::DirectoryEntry { type_: convert::kind(kind), name })
            .collect();
        Ok(super::DirStream::Virtual(entries.into_iter()))
    }

    /// Charges one new entry around `op`, refunding it if `op` fails.
    fn charging_file<T>(&self, path: &str, op: impl FnOnce() -> FsResult<T>) -> FsResult<T> {
        let Some(quota) = self.quota else { return op() };
        quota.charge_file(path)?;
        let r = op();
        if r.is_err() {
            quota.refund_file();
        }
        r
    }

    pub(super) fn v_mkdir(&self, fd: VirtualFd, path: &str) -> FsResult<()> {
        self.charging_file(path, || Ok(self.lock().mkdir(fd.dir()?, path)?))
    }

    pub(super) fn v_symlink(&self, fd: VirtualFd, target: &str, path: &str) -> FsResult<()> {
        self.charging_file(path, || Ok(self.lock().symlink(fd.dir()?, target, path)?))
    }

    pub(super) fn v_link(
        &self,
        old: VirtualFd,
        old_path: &str,
        new: VirtualFd,
        new_path: &str,
    ) -> FsResult<()> {
        self.charging_file(new_path, || Ok(self.lock().link(old.dir()?, old_path, new.dir()?, new_path)?))
    }

    pub(super) fn v_rename(
        &self,
        old: VirtualFd,
        old_path: &str,
        new: VirtualFd,
        new_path: &str,
    ) -> FsResult<()> {
        Ok(self.lock().rename(old.dir()?, old_path, new.dir()?, new_path)?)
    }

    pub(super) fn v_unlink(&self, fd: VirtualFd, path: &str) -> FsResult<()> {
        Ok(self.lock().unlink(fd.dir()?, path)?)
    }

    pub(super) fn v_rmdir(&self, fd: VirtualFd, path: &str) -> FsResult<()> {
        Ok(self.lock().rmdir(fd.dir()?, path)?)
    }

    pub(super) fn v_readlink(&self, fd: VirtualFd, path: &str) -> FsResult<String> {
        Ok(self.lock().readlink(fd.dir()?, path)?)
    }

    /// `open-at`, with wasmtime-wasi's checks of the flags first.
    pub(super) fn v_open(
        &mut self,
        fd: VirtualFd,
        path_flags: PathFlags,
        path: &str,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<VirtualFd> {
        let base = fd.dir()?;
        let create = oflags.contains(OpenFlags::CREATE);
        let truncate = oflags.contains(OpenFlags::TRUNCATE);
        let write = create || truncate || flags.contains(DescriptorFlags::WRITE);
        let read = flags.contains(DescriptorFlags::READ) || !flags.contains(DescriptorFlags::WRITE);
        if flags.intersects(
            DescriptorFlags::FILE_INTEGRITY_SYNC
                | DescriptorFlags::DATA_INTEGRITY_SYNC
                | DescriptorFlags::REQUESTED_WRITE_SYNC,
        ) {
            return Err(super::types::ErrorCode::Unsupported.into());
        }
        let directory = oflags.contains(OpenFlags::DIRECTORY);
        if directory && (create || oflags.contains(OpenFlags::EXCLUSIVE) || truncate) {
            return Err(Errno::Invalid.into());
        }
        let open = wtb_vfs::OpenFlags {
            create,
            exclusive: oflags.contains(OpenFlags::EXCLUSIVE),
            truncate,
            directory,
            write,
        };
        let follow = follow(path_flags);
        let opened = {
            let exists = create && self.quota.is_some() && self.lock().lookup(base, path, Follow::No).is_ok();
            let op = || Ok(self.lock().open(base, path, follow, open)?);
            if create && !exists { self.charging_file(path, op)? } else { op()? }
        };
        let ours = match opened {
            Opened::Dir(ino) => VirtualFd { ino, dir: true, read: true, write: false },
            Opened::File(ino) => VirtualFd { ino, dir: false, read, write },
        };
        self.lock().hold(ours.ino);
        Ok(ours)
    }

    /// Loads `ino`'s stored content if it is not in memory yet, on tokio's blocking pool: a
    /// blob store may block (an object store's client runs its own runtime), and every later
    /// use of the file (reads, streams, writes) then finds the bytes there.
    pub(super) async fn load(&mut self, ino: Ino) -> FsResult<()> {
        let Some((key, _, loader)) = self.lock().pending_load(ino) else { return Ok(()) };
        let loaded = tokio::task::spawn_blocking(move || loader.load(&key))
            .await
            .map_err(|e| super::FsError::Trap(wasmtime::Error::msg(format!("loading a file: {e}"))))?;
        let bytes = loaded.map_err(|_| Errno::Io)?;
        Ok(self.lock().fill(ino, bytes)?)
    }

    pub(super) fn v_read_stream(&mut self, fd: VirtualFd, offset: u64) -> FsResult<Resource<DynInputStream>> {
        if fd.dir {
            return Err(Errno::IsDirectory.into());
        }
        let reader: DynInputStream = Box::new(Reader::new(self.vfs, fd.ino, offset, fd.read));
        Ok(self.table().push(reader)?)
    }

    pub(super) fn v_write_stream(
        &mut self,
        fd: VirtualFd,
        offset: Option<u64>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let ino = fd.file()?;
        let file = VfsFile::new(self.vfs, ino, fd.write, self.quota.cloned());
        let writer: DynOutputStream = Box::new(Writer::new(file, offset, self.quota.cloned()));
        Ok(self.table().push(writer)?)
    }
}
