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
