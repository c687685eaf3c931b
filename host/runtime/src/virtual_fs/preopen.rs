//! The preopened directories (the workspace at `/`, then the fixtures) and the error-code
//! conversions of `wasi:filesystem/types`.

use super::convert::host;
use super::types::{self, ErrorCode};
use super::{Descriptor, FsError, VirtualFd, VirtualFs, convert, preopens};
use wasmtime::component::Resource;
use wtb_vfs::Vfs;

impl preopens::Host for VirtualFs<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let mut dirs = Vec::new();
        self.lock().hold(Vfs::ROOT);
        dirs.push((self.host.table.push(Descriptor::Virtual(VirtualFd::root(Vfs::ROOT)))?, "/".to_owned()));
        for (fd, name) in
            wasmtime_wasi::p2::bindings::filesystem::preopens::Host::get_directories(&mut self.host)?
        {
            dirs.push((self.host.table.push(Descriptor::Fixture(fd.rep()))?, name));
        }
        Ok(dirs)
    }
}

impl types::Host for VirtualFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        match err {
            FsError::Code(ErrorCode::InsufficientSpace) => Err(super::full(self.quota)),
            FsError::Code(c) => Ok(c),
            FsError::Trap(t) => Err(t),
        }
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        if let Some(e) = self.host.table.get(&err)?.downcast_ref::<wtb_vfs::Errno>() {
            return Ok(Some(convert::code(*e)));
        }
        let theirs =
            wasmtime_wasi::p2::bindings::filesystem::types::Host::filesystem_error_code(&mut self.host, err)?;
        Ok(theirs.map(|c| match host::<()>(Err(c.into())) {
            Err(FsError::Code(c)) => c,
            _ => ErrorCode::Io,
        }))
    }
}
