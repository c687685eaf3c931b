//! The one place the host reads `wit/`. Nothing outside `runtime/` names a generated type.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "wtb:node/node",
    imports: { default: trappable },
    exports: { default: async },
});

pub use self::wtb::node::host::{Host as HostImports, Level};
pub use self::wtb::node::types::Host as TypesHost;
pub use exports::NodePre as WorldPre;

/// Re-exported so `bindgen!`'s export paths stay private to this module.
mod exports {
    pub use super::NodePre;
}

/// `wasi:filesystem` with our own descriptor types, for the in-memory workspace. Everything
/// else a node imports stays wasmtime-wasi's, so its streams, errors and clocks are shared.
pub mod wasi_fs {
    wasmtime::component::bindgen!({
        path: "wasi-wit",
        world: "wtb:workspace/virtual-fs",
        imports: {
            "wasi:filesystem/types.[method]descriptor.advise": async | trappable,
            "wasi:filesystem/types.[method]descriptor.create-directory-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.get-flags": async | trappable,
            "wasi:filesystem/types.[method]descriptor.get-type": async | trappable,
            "wasi:filesystem/types.[method]descriptor.is-same-object": async | trappable,
            "wasi:filesystem/types.[method]descriptor.link-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.metadata-hash": async | trappable,
            "wasi:filesystem/types.[method]descriptor.metadata-hash-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.open-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.read": async | trappable,
            "wasi:filesystem/types.[method]descriptor.read-directory": async | trappable,
            "wasi:filesystem/types.[method]descriptor.readlink-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.remove-directory-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.rename-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.set-size": async | trappable,
            "wasi:filesystem/types.[method]descriptor.set-times": async | trappable,
            "wasi:filesystem/types.[method]descriptor.set-times-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.stat": async | trappable,
            "wasi:filesystem/types.[method]descriptor.stat-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.symlink-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.sync": async | trappable,
            "wasi:filesystem/types.[method]descriptor.sync-data": async | trappable,
            "wasi:filesystem/types.[method]descriptor.unlink-file-at": async | trappable,
            "wasi:filesystem/types.[method]descriptor.write": async | trappable,
            "wasi:filesystem/types.[method]directory-entry-stream.read-directory-entry": async | trappable,
            default: trappable,
        },
        trappable_error_type: {
            "wasi:filesystem/types.error-code" => crate::virtual_fs::FsError,
        },
        with: {
            "wasi:io": wasmtime_wasi_io::bindings::wasi::io,
            "wasi:clocks/wall-clock": wasmtime_wasi::p2::bindings::clocks::wall_clock,
            "wasi:filesystem/types.descriptor": crate::virtual_fs::Descriptor,
            "wasi:filesystem/types.directory-entry-stream": crate::virtual_fs::DirStream,
        },
    });
}
