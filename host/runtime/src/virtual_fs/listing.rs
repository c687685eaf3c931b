//! Reading a directory: an in-memory listing taken when it was opened, or wasmtime-wasi's for
//! a fixture.

use super::convert::{self, host};
use super::descriptor::fixture;
use super::types::{DirectoryEntry, HostDirectoryEntryStream};
use super::{DirStream, FsResult, VirtualFs};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::filesystem::types::{self as wt, HostDirectoryEntryStream as _};

impl HostDirectoryEntryStream for VirtualFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        match self.host.table.get_mut(&stream)? {
            DirStream::Virtual(entries) => Ok(entries.next()),
            DirStream::Fixture(r) => {
                let r = *r;
                host(self.host.read_directory_entry(fixture(r)).await).map(|e| e.map(convert::host_entry))
            }
        }
    }

    fn drop(&mut self, stream: Resource<DirStream>) -> wasmtime::Result<()> {
        if let DirStream::Fixture(r) = self.host.table.delete(stream)? {
            wt::HostDirectoryEntryStream::drop(&mut self.host, Resource::new_own(r))?;
        }
        Ok(())
    }
}
