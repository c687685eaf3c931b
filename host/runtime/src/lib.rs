//! Running one node attempt in a fresh wasmtime sandbox.
//!
//! One [`Engine`] per process (epoch interruption on, a ticker thread advancing it), one
//! [`Linker`] with WASI minus sockets, compiled components cached in memory and on disk, and a
//! fresh [`Store`] per attempt, so a trapped instance is never reused. The guest sees its
//! workspace preopened at `/` and nothing else of the host: no env vars but the declared ones,
//! no network, stdout/stderr captured into capped buffers.
#![deny(missing_docs)]

mod bindings;
mod cache;
mod call;
mod cancel;
mod determinism;
mod engine;
mod file_stream;
mod limits;
mod linker;
mod mount;
mod outcome;
mod output;
mod quota;
mod quota_fs;
mod state;
mod touch_log;
mod virtual_fs;

pub use cache::CacheStats;
pub use call::NodeCall;
pub use cancel::CancelSignal;
use cancel::CancelledTrap;
pub use limits::{Limits, Tuning};
pub use mount::{Mount, WorkspaceKind};
pub use outcome::{AttemptReport, GuestErrorKind, Outcome};
pub use state::GuestEvent;
pub use virtual_fs::SharedVfs;

use bindings::{Node, NodeInput, WorldPre};
use cache::ComponentCache;
use cap_std::fs::Dir;
use engine::engine_config;
use output::CappedOutput;
use quota::DiskQuota;
use state::{AttemptTag, NodeState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wtb_core::model::{Digest, TrapKind};
use wtb_core::workflow::Network;

/// How often the epoch advances; the granularity of wall-time limits.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// A component that cannot be a node.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// Not a WebAssembly component (empty, garbage, or a core module).
    #[error("not a valid WebAssembly component: {0:#}")]
    Invalid(wasmtime::Error),
    /// A component, but it neither implements the `wtb:node/node` world nor is a `wasi:cli`
    /// command, or it imports what WTB does not provide (e.g. `wasi:sockets`, `wasi:http`).
    #[error(
        "does not implement the wtb:node/node world and is not a usable wasi:cli command: {source:#} (it exports: {exports}){hint}"
    )]
    WrongWorld {
        /// What wasmtime found missing or mismatched.
        source: wasmtime::Error,
        /// The component's export names.
        exports: String,
        /// How to fix it, when known.
        hint: &'static str,
    },
    /// The compile task failed to run.
    #[error("compiling: {0}")]
    Task(String),
}

/// A component checked against the world and ready to instantiate cheaply.
#[derive(Clone)]
pub struct PreparedNode {
    digest: Digest,
    pre: Prepared,
    network: Network,
}

/// The two kinds of node component.
#[derive(Clone)]
enum Prepared {
    /// Implements `wtb:node/node`: typed input, update or `node-error`, `emit`/`log`.
    Node(WorldPre<NodeState>),
    /// A plain `wasi:cli` command (any language's hello world): the state as JSON on stdin, a
    /// JSON object on stdout as its update (empty stdout: none), exit status ≠ 0 a failure.
    Command(CommandPre<NodeState>),
}

impl PreparedNode {
    /// The component's SHA-256.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Whether it was linked with (denied) sockets.
    pub fn network(&self) -> Network {
        self.network
    }

    /// `node` (the WTB world) or `command` (a plain `wasi:cli` command), detected from its
    /// exports.
    pub fn kind(&self) -> &'static str {
        match self.pre {
            Prepared::Node(_) => "node",
            Prepared::Command(_) => "command",
        }
    }
}

/// What the guest's export returned, by kind.
enum Ran {
    Node(Result<bindings::NodeOutput, bindings::NodeError>),
    Command(Result<(), ()>),
}

/// The wasmtime side of WTB: engine, linker and component cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<NodeState>,
    /// The same plus `wasi:sockets` (every use refused), for `network = "deny"` nodes.
    deny_linker: Linker<NodeState>,
    cache: Arc<ComponentCache>,
    ticker_stop: Arc<AtomicBool>,
    tuning: Tuning,
}

impl Runtime {
    /// Builds the engine and starts its epoch ticker. `cache_dir` holds compiled artifacts.
    pub fn new(cache_dir: Dir) -> wasmtime::Result<Self> {
        Self::with_tuning(cache_dir, Tuning::default())
    }

    /// [`Runtime::new`] with safeguards switched off, to measure what they cost.
    pub fn with_tuning(cache_dir: Dir, tuning: Tuning) -> wasmtime::Result<Self> {
        let engine = match Engine::new(&engine_config(true, tuning)) {
            Ok(engine) => engine,
            Err(e) => {
                // E.g. a `ulimit -v` too small for the pool's address-space reservation.
                tracing::warn!("pooling allocator unavailable ({e:#}); using on-demand allocation");
                Engine::new(&engine_config(false, tuning))?
            }
        };
        let linker = linker::node_linker(&engine, Network::None, tuning.workspace)?;
        let deny_linker = linker::node_linker(&engine, Network::Deny, tuning.workspace)?;
        let cache = Arc::new(ComponentCache::new(&engine, cache_dir));
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (weak, stop) = (engine.weak(), ticker_stop.clone());
        std::thread::Builder::new().name("wtb-epoch".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
        Ok(Self { engine, linker, deny_linker, cache, ticker_stop, tuning })
    }

    /// Whether fuel budgets can be enforced (always, outside benchmarks).
    pub fn meters_fuel(&self) -> bool {
        self.tuning.fuel
    }

    /// Cache counters, e.g. to check that a second run compiled nothing.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Compiles (or loads from cache) `bytes` and checks it implements the node world (or is a
    /// command) with the imports `network` allows.
    pub async fn prepare(&self, bytes: Arc<[u8]>, network: Network) -> Result<PreparedNode, ComponentError> {
        let (engine, cache) = (self.engine.clone(), self.cache.clone());
        let (digest, component) = tokio::task::spawn_blocking(move || {
            let digest = Digest::of(&bytes);
            cache.get_or_compile(&engine, digest, &bytes).map(|c| (digest, c))
        })
        .await
        .map_err(|e| ComponentError::Task(e.to_string()))?
        .map_err(ComponentError::Invalid)?;
        self.check_world(digest, &component, network)
    }

    fn check_world(
        &self,
        digest: Digest,
        component: &Component,
        network: Network,
    ) -> Result<PreparedNode, ComponentError> {
        let linker = match network {
            Network::None => &self.linker,
            Network::Deny => &self.deny_linker,
        };
        let instance_pre =
            linker.instantiate_pre(component).map_err(|e| self.wrong_world(component, e, network))?;
        let pre = match WorldPre::new(instance_pre.clone()) {
            Ok(pre) => Prepared::Node(pre),
            Err(not_node) => Prepared::Command(
                CommandPre::new(instance_pre).map_err(|_| self.wrong_world(component, not_node, network))?,
            ),
        };
        Ok(PreparedNode { digest, pre, network })
    }

    /// The refusal, naming what the component does export and, for sockets, the way out.
    fn wrong_world(&self, component: &Component, e: wasmtime::Error, network: Network) -> ComponentError {
        let exports: Vec<String> =
            component.component_type().exports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        let exports = if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") };
        let hint = if network == Network::None && format!("{e:#}").contains("wasi:sockets") {
            "; if the toolchain imports sockets the node never uses (componentize-py does), set `network = \"deny\"` on the node (`--network deny` for `wtb node run`): sockets are then linked and every use refused"
        } else {
            ""
        };
        ComponentError::WrongWorld { source: e, exports, hint }
    }

    /// Runs one attempt of `node` in a fresh store, with `workspace` at `/`.
    /// Never fails: every way an attempt can end is an [`Outcome`].
    pub async fn run(
        &self,
        node: &PreparedNode,
        call: &NodeCall,
        workspace: Mount<'_>,
        limits: &Limits,
        cancel: &CancelSignal,
    ) -> AttemptReport {
        if workspace.kind() != self.tuning.workspace {
            return AttemptReport::host_failure(format!(
                "this runtime serves {:?} workspaces, not {:?} ones",
                self.tuning.workspace,
                workspace.kind()
            ));
        }
        if limits.fuel.is_some() && !self.tuning.fuel {
            return AttemptReport::host_failure(
                "a fuel limit is set but fuel metering is switched off".into(),
            );
        }
        let stdout = CappedOutput::new(limits.output_bytes);
        let stderr = CappedOutput::new(limits.output_bytes);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        // Workspace file operations are short; doing them on this thread instead of a
        // `spawn_blocking` round trip per call cut a small node's guest time by ~25% (measured).
        wasi.allow_blocking_current_thread(true);
        for (k, v) in &call.env {
            wasi.env(k, v);
        }
        wasi.arg(&call.node).args(&call.args);
        if let Prepared::Command(_) = node.pre {
            wasi.stdin(MemoryInputPipe::new(call.state.clone()));
        }
        let virtual_time = (call.seed.is_some() || call.clock.is_some()).then(|| {
            let seed = call.seed.unwrap_or(0);
            determinism::AttemptSeed::new(seed, &call.node, call.attempt).apply(seed, call.clock, &mut wasi)
        });
        let started = Instant::now();
        if let Mount::Directory(dir) = workspace
            && let Err(e) = wasi.preopened_dir(dir, "/", FsPerms::ReadWrite)
        {
            return AttemptReport::host_failure(format!("opening workspace {}: {e:#}", dir.display()));
        }
        for m in &call.fixtures {
            if let Err(e) = wasi.preopened_dir(&m.host, &m.guest, FsPerms::ReadOnly) {
                return AttemptReport::host_failure(format!(
                    "opening fixture {} for {}: {e:#}",
                    m.host, m.guest
                ));
            }
        }
        let tag =
            AttemptTag { execution: call.execution.clone(), node: call.node.clone(), attempt: call.attempt };
        let quota = self.tuning.disk_accounting.then(|| DiskQuota::new(limits.disk_bytes, limits.max_files));
        let mut state = NodeState::new(wasi.build(), limits, quota.clone(), tag);
        if let Mount::Virtual(vfs) = workspace {
            virtual_fs::budget(vfs, limits);
            state.vfs = Some(vfs.clone());
            state.virtual_time = virtual_time;
        }
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let fuel = limits.fuel.unwrap_or(u64::MAX);
        if self.tuning.fuel {
            store.set_fuel(fuel).expect("fuel metering is on");
        }
        if self.tuning.epoch {
            // Every tick: stop if cancelled or past the time limit, else yield to the async
            // runtime, so a long guest never holds a worker thread other executions need.
            let (deadline, flag) = (started + limits.timeout, cancel.flag());
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if flag.load(Ordering::Relaxed) {
                    return Err(CancelledTrap.into());
                }
                if Instant::now() >= deadline {
                    return Err(wasmtime::Trap::Interrupt.into());
                }
                Ok(wasmtime::UpdateDeadline::Yield(1))
            });
        }
        let input = NodeInput {
            execution_id: call.execution.clone(),
            node_id: call.node.clone(),
            attempt: call.attempt,
            state: call.state.clone(),
            config: call.config.clone(),
        };
        // Epoch interruption cannot stop a guest blocked in a host call; the outer timeout can.
        let outer = limits.timeout + Duration::from_millis(250);
        let call_guest = tokio::time::timeout(outer, async {
            match &node.pre {
                Prepared::Node(pre) => {
                    let instance: Node = pre.instantiate_async(&mut store).await?;
                    instance.call_run(&mut store, &input).await.map(Ran::Node)
                }
                Prepared::Command(pre) => {
                    let command = pre.instantiate_async(&mut store).await?;
                    command.wasi_cli_run().call_run(&mut store).await.map(Ran::Command)
                }
            }
        });
        let result = tokio::select! {
            r = call_guest => Some(r),
            // A guest blocked in a host call misses the epoch check: drop it shortly after.
            () = async { cancel.cancelled().await; tokio::time::sleep(EPOCH_TICK * 4).await } => None,
        };
        let guest_time = started.elapsed();
        let fuel_consumed = (self.tuning.fuel).then(|| fuel - store.get_fuel().unwrap_or(0));
        let touched = std::mem::take(&mut store.data_mut().touch.touched);
        // Moved, not cloned: what a guest emitted may be up to its whole event budget.
        let events = std::mem::take(&mut store.data_mut().events);
        let state = store.data();
        let signals = outcome::Signals {
            violation: state.violation.clone(),
            memory_limit_hit: state.limiter.hit,
            disk: quota.as_ref().and_then(|q| q.exceeded()),
            output: [("stdout", &stdout), ("stderr", &stderr)]
                .into_iter()
                .find(|(_, o)| o.overflowed())
                .map(|(name, o)| format!("wrote more than {} bytes to {name}", o.cap()))
                .or_else(|| state.overflow.clone()),
        };
        let outcome = match result {
            _ if cancel.is_cancelled() => Outcome::Cancelled,
            None => Outcome::Cancelled,
            Some(Err(_elapsed)) => Outcome::Trapped {
                kind: TrapKind::Timeout,
                detail: format!("still running after {} ms (blocked in a host call)", outer.as_millis()),
            },
            Some(Ok(Ok(Ran::Node(Ok(out))))) => Outcome::Returned { update: out.update, route: out.route },
            Some(Ok(Ok(Ran::Node(Err(e))))) => Outcome::guest_error(e),
            Some(Ok(Ok(Ran::Command(Ok(()))))) => outcome::command_output(&stdout.contents()),
            Some(Ok(Ok(Ran::Command(Err(()))))) => Outcome::command_exit(1),
            Some(Ok(Err(trap))) => match trap.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) if exit.0 == 0 => outcome::command_output(&stdout.contents()),
                Some(exit) => Outcome::command_exit(exit.0),
                None => outcome::classify_trap(&trap, &signals, &stderr.contents(), limits),
            },
        };
        AttemptReport {
            outcome: outcome.scrubbed(),
            events,
            stdout: outcome::scrub(String::from_utf8_lossy(&stdout.contents()).into_owned()),
            stderr: outcome::scrub(String::from_utf8_lossy(&stderr.contents()).into_owned()),
            peak_memory_bytes: state.limiter.peak,
            fuel_consumed,
            disk_bytes: quota.as_ref().map_or(0, |q| q.bytes_used()),
            files_created: quota.as_ref().map_or(0, |q| q.files_used()),
            guest_time,
            touched,
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
