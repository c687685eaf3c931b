//! What a node may import: WASI without sockets, plus our `host` interface.
//!
//! `wasi:sockets` and `wasi:http` are not linked, so a component that imports them fails to
//! instantiate with an error naming the import, rather than running and being denied. A node
//! declared `network = "deny"` gets a second linker with `wasi:sockets` linked: every socket
//! and name lookup is then refused by the WASI context (TCP, UDP and lookups disabled, no
//! address allowed), for toolchains that import sockets whether or not a node uses them.

use super::bindings::{HostImports, NodeInput, TypesHost};
use super::quota_fs::QuotaFsData;
use super::state::NodeState;
use super::virtual_fs::{self, VirtualFsData};
use crate::WorkspaceKind;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView as _};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};
use wtb_core::workflow::Network;

struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Builds the linker nodes are instantiated with (`Deny`: with `wasi:sockets`, all refused).
pub fn node_linker(
    engine: &Engine,
    network: Network,
    workspace: WorkspaceKind,
) -> wasmtime::Result<Linker<NodeState>> {
    let mut linker = Linker::<NodeState>::new(engine);
    let l = &mut linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<NodeState, HasIo>(l, |t| t.ctx().table)?;
    wasmtime_wasi_io::bindings::wasi::io::poll::add_to_linker::<NodeState, HasIo>(l, |t| t.ctx().table)?;
    wasmtime_wasi_io::bindings::wasi::io::streams::add_to_linker::<NodeState, HasIo>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<NodeState, WasiClocks>(l, NodeState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<NodeState, WasiClocks>(l, NodeState::clocks)?;
    match workspace {
        // Writes go through the disk quota (see `quota.rs`); everything else is wasmtime-wasi's.
        WorkspaceKind::Directory => {
            filesystem::types::add_to_linker::<NodeState, QuotaFsData>(l, NodeState::quota_fs)?;
            filesystem::preopens::add_to_linker::<NodeState, QuotaFsData>(l, NodeState::quota_fs)?;
        }
        WorkspaceKind::Virtual => {
            virtual_fs::types::add_to_linker::<NodeState, VirtualFsData>(l, NodeState::virtual_fs)?;
            virtual_fs::preopens::add_to_linker::<NodeState, VirtualFsData>(l, NodeState::virtual_fs)?;
        }
    }
    random::random::add_to_linker::<NodeState, WasiRandom>(l, NodeState::random)?;
    random::insecure::add_to_linker::<NodeState, WasiRandom>(l, NodeState::random)?;
    random::insecure_seed::add_to_linker::<NodeState, WasiRandom>(l, NodeState::random)?;
    cli::exit::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::environment::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::stdin::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::stdout::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::stderr::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::terminal_input::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::terminal_output::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::terminal_stdin::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::terminal_stdout::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    cli::terminal_stderr::add_to_linker::<NodeState, WasiCli>(l, NodeState::cli)?;
    super::bindings::Node::add_to_linker::<NodeState, HasSelf<NodeState>>(l, |s| s)?;
    if network == Network::Deny {
        use wasmtime_wasi::p2::bindings::sockets;
        sockets::network::add_to_linker::<NodeState, WasiSockets>(
            l,
            &Default::default(),
            NodeState::sockets,
        )?;
        sockets::instance_network::add_to_linker::<NodeState, WasiSockets>(l, NodeState::sockets)?;
        sockets::tcp::add_to_linker::<NodeState, WasiSockets>(l, NodeState::sockets)?;
        sockets::tcp_create_socket::add_to_linker::<NodeState, WasiSockets>(l, NodeState::sockets)?;
        sockets::udp::add_to_linker::<NodeState, WasiSockets>(l, NodeState::sockets)?;
        sockets::udp_create_socket::add_to_linker::<NodeState, WasiSockets>(l, NodeState::sockets)?;
        sockets::ip_name_lookup::add_to_linker::<NodeState, WasiSockets>(l, NodeState::sockets)?;
    }
    Ok(linker)
}

// Keep the trait imports honest: the host traits are implemented in `state.rs`.
const _: fn() = || {
    fn assert_impls<T: HostImports + TypesHost>() {}
    assert_impls::<NodeState>();
    let _ = std::mem::size_of::<NodeInput>();
};
