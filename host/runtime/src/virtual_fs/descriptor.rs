//! The `wasi:filesystem` host traits: each call goes to the in-memory workspace (`ops.rs`) or,
//! for a fixture, to wasmtime-wasi's implementation, converted.

use super::convert::{self, host};
use super::types::{
    Advice, DescriptorFlags, DescriptorStat, DescriptorType, ErrorCode, Filesize, HostDescriptor,
    MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};
use super::{Descriptor, DirStream, FsError, FsResult, VirtualFs};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::filesystem::types::{self as wt, HostDescriptor as _};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

/// A borrowed handle on wasmtime-wasi's descriptor at `rep`.
pub(super) fn fixture<T: 'static>(rep: u32) -> Resource<T> {
    Resource::new_borrow(rep)
}

/// Renaming or linking between the workspace and a read-only fixture: wasmtime-wasi refuses
/// descriptors with different permissions.
const ACROSS: ErrorCode = ErrorCode::NotPermitted;

impl VirtualFs<'_> {
    fn fd(&self, fd: &Resource<Descriptor>) -> FsResult<Descriptor> {
        Ok(*self.host.table.get(fd)?)
    }

    /// The fixture descriptor a new one wraps, pushed into the table.
    fn wrap(&mut self, host: Resource<wt::Descriptor>) -> FsResult<Resource<Descriptor>> {
        Ok(self.host.table.push(Descriptor::Fixture(host.rep()))?)
    }
}

impl HostDescriptor for VirtualFs<'_> {
    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
        len: Filesize,
        advice: Advice,
    ) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) if v.dir => Err(ErrorCode::BadDescriptor.into()),
            Descriptor::Virtual(_) => Ok(()),
            Descriptor::Fixture(r) => {
                host(self.host.advise(fixture(r), offset, len, convert::advice(advice)).await)
            }
        }
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(_) => Ok(()),
            Descriptor::Fixture(r) => host(self.host.sync_data(fixture(r)).await),
        }
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => Ok(self.v_flags(v)),
            Descriptor::Fixture(r) => {
                host(self.host.get_flags(fixture(r)).await).map(convert::host_descriptor_flags)
            }
        }
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorType> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => Ok(self.v_stat(v.ino)?.type_),
            Descriptor::Fixture(r) => host(self.host.get_type(fixture(r)).await).map(convert::host_type),
        }
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: Filesize) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_set_size(v, size),
            Descriptor::Fixture(r) => host(self.host.set_size(fixture(r), size).await),
        }
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_set_times(v.ino, atim, mtim),
            Descriptor::Fixture(r) => host(
                self.host.set_times(fixture(r), convert::timestamp(atim), convert::timestamp(mtim)).await,
            ),
        }
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_read(v, len, offset),
            Descriptor::Fixture(r) => host(self.host.read(fixture(r), len, offset).await),
        }
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_write(v, &buf, offset),
            Descriptor::Fixture(r) => host(self.host.write(fixture(r), buf, offset).await),
        }
    }

    async fn read_directory(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DirStream>> {
        let stream = match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_read_dir(v)?,
            Descriptor::Fixture(r) => {
                DirStream::Fixture(host(self.host.read_directory(fixture(r)).await)?.rep())
            }
        };
        Ok(self.host.table.push(stream)?)
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(_) => Ok(()),
            Descriptor::Fixture(r) => host(self.host.sync(fixture(r)).await),
        }
    }

    async fn create_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_mkdir(v, &path),
            Descriptor::Fixture(r) => host(self.host.create_directory_at(fixture(r), path).await),
        }
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorStat> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_stat(v.ino),
            Descriptor::Fixture(r) => host(self.host.stat(fixture(r)).await).map(convert::host_stat),
        }
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_stat_at(v, flags, &path),
            Descriptor::Fixture(r) => {
                host(self.host.stat_at(fixture(r), convert::path_flags(flags), path).await)
                    .map(convert::host_stat)
            }
        }
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_set_times_at(v, flags, &path, atim, mtim),
            Descriptor::Fixture(r) => {
                let (a, m, f) =
                    (convert::timestamp(atim), convert::timestamp(mtim), convert::path_flags(flags));
                host(self.host.set_times_at(fixture(r), f, path, a, m).await)
            }
        }
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_flags: PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        match (self.fd(&fd)?, self.fd(&new_fd)?) {
            (Descriptor::Virtual(a), Descriptor::Virtual(b)) => {
                // wasmtime-wasi's order: both must be directories, then the flag is refused.
                a.dir()?;
                b.dir()?;
                if old_flags.contains(PathFlags::SYMLINK_FOLLOW) {
                    return Err(ErrorCode::Invalid.into());
                }
                self.v_link(a, &old_path, b, &new_path)
            }
            (Descriptor::Fixture(a), Descriptor::Fixture(b)) => {
                let f = convert::path_flags(old_flags);
                host(self.host.link_at(fixture(a), f, old_path, fixture(b), new_path).await)
            }
            _ => Err(ACROSS.into()),
        }
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => {
                let opened = self.v_open(v, path_flags, &path, oflags, flags)?;
                if let Err(e) = self.load(opened.ino).await {
                    self.lock().close(opened.ino);
                    return Err(e);
                }
                Ok(self.host.table.push(Descriptor::Virtual(opened))?)
            }
            Descriptor::Fixture(r) => {
                let (p, o, f) = (
                    convert::path_flags(path_flags),
                    convert::open_flags(oflags),
                    convert::descriptor_flags(flags),
                );
                let opened = host(self.host.open_at(fixture(r), p, path, o, f).await)?;
                self.wrap(opened)
            }
        }
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_readlink(v, &path),
            Descriptor::Fixture(r) => host(self.host.readlink_at(fixture(r), path).await),
        }
    }

    async fn remove_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_rmdir(v, &path),
            Descriptor::Fixture(r) => host(self.host.remove_directory_at(fixture(r), path).await),
        }
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        match (self.fd(&fd)?, self.fd(&new_fd)?) {
            (Descriptor::Virtual(a), Descriptor::Virtual(b)) => self.v_rename(a, &old_path, b, &new_path),
            (Descriptor::Fixture(a), Descriptor::Fixture(b)) => {
                host(self.host.rename_at(fixture(a), old_path, fixture(b), new_path).await)
            }
            _ => Err(ACROSS.into()),
        }
    }

    async fn symlink_at(&mut self, fd: Resource<Descriptor>, target: String, path: String) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_symlink(v, &target, &path),
            Descriptor::Fixture(r) => host(self.host.symlink_at(fixture(r), target, path).await),
        }
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_unlink(v, &path),
            Descriptor::Fixture(r) => host(self.host.unlink_file_at(fixture(r), path).await),
        }
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_read_stream(v, offset),
            Descriptor::Fixture(r) => host(self.host.read_via_stream(fixture(r), offset)),
        }
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_write_stream(v, Some(offset)),
            Descriptor::Fixture(r) => host(self.host.write_via_stream(fixture(r), offset)),
        }
    }

    fn append_via_stream(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => self.v_write_stream(v, None),
            Descriptor::Fixture(r) => host(self.host.append_via_stream(fixture(r))),
        }
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        Ok(match (self.fd(&a).map_err(trap)?, self.fd(&b).map_err(trap)?) {
            (Descriptor::Virtual(x), Descriptor::Virtual(y)) => x.ino == y.ino,
            (Descriptor::Fixture(x), Descriptor::Fixture(y)) => {
                self.host.is_same_object(fixture(x), fixture(y)).await?
            }
            _ => false,
        })
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<MetadataHashValue> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => Ok(ino_hash(v.ino)),
            Descriptor::Fixture(r) => host(self.host.metadata_hash(fixture(r)).await).map(convert::hash),
        }
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        match self.fd(&fd)? {
            Descriptor::Virtual(v) => {
                let ino = self.lock().lookup(v.dir()?, &path, super::ops::follow(flags))?;
                Ok(ino_hash(ino))
            }
            Descriptor::Fixture(r) => {
                host(self.host.metadata_hash_at(fixture(r), convert::path_flags(flags), path).await)
                    .map(convert::hash)
            }
        }
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        match self.host.table.delete(fd)? {
            Descriptor::Virtual(v) => self.lock().close(v.ino),
            Descriptor::Fixture(r) => wt::HostDescriptor::drop(&mut self.host, Resource::new_own(r))?,
        }
        Ok(())
    }
}

fn trap(e: FsError) -> wasmtime::Error {
    match e {
        FsError::Trap(t) => t,
        FsError::Code(c) => wasmtime::Error::msg(format!("{c:?}")),
    }
}

/// A stable identity for `stat`'s callers that hash metadata (WASI preview 1's `ino`).
fn ino_hash(ino: wtb_vfs::Ino) -> MetadataHashValue {
    MetadataHashValue { lower: ino.0, upper: ino.0 ^ 4614256656552045848 }
}
