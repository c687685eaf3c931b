//! Per-attempt store data: the WASI context, resource limits and what the guest emitted.

use super::bindings::{HostImports, Level, TypesHost};
use super::limits::Limits;
use super::quota::DiskQuota;
use super::quota_fs::QuotaFs;
use super::touch_log::TouchLog;
use super::virtual_fs::{SharedVfs, VirtualFs};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result as WtResult};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Most events one attempt may emit.
pub const MAX_EVENTS: usize = 10_000;
/// Largest payload of one emitted event, in bytes.
pub const MAX_EVENT_PAYLOAD: usize = 1 << 20;
/// Most log lines one attempt may write (more are counted and dropped).
pub const MAX_LOG_LINES: usize = 10_000;
/// Longest log line passed on; a longer one is cut (its whole length is still charged).
pub const MAX_LOG_LINE: usize = 4096;

/// An event a guest emitted; it becomes an outbox row only if the attempt commits.
#[derive(Clone, Debug, PartialEq)]
pub struct GuestEvent {
    /// The guest's kind (stored as `guest.<kind>`).
    pub kind: String,
    /// The payload as the guest sent it, checked to be JSON. Kept as text: a parsed tree
    /// costs many times its text (a guest sending `[0,0,0,…]` made the host hold ~16×).
    pub payload: String,
}

impl GuestEvent {
    /// The payload as a JSON value, parsed once where it is stored or shown (it was checked
    /// to be JSON when emitted, so `Null` never stands in for anything real).
    pub fn data(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload).unwrap_or_default()
    }
}

/// Who is running, for log lines.
#[derive(Clone, Debug)]
pub struct AttemptTag {
    /// Execution id.
    pub execution: String,
    /// Node id.
    pub node: String,
    /// Attempt number.
    pub attempt: u32,
}

/// Store data of one node attempt. Never reused: a fresh one per attempt.
pub struct NodeState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) events: Vec<GuestEvent>,
    pub(crate) violation: Option<String>,
    /// The disk budget; `None` only when accounting is switched off for a benchmark.
    pub(crate) quota: Option<Arc<DiskQuota>>,
    /// What the guest changed in its workspace, for capture.
    pub(crate) touch: TouchLog,
    /// The in-memory workspace, when the runtime serves those.
    pub(crate) vfs: Option<SharedVfs>,
    /// Deterministic mode's clock, which stamps the in-memory workspace's files.
    pub(crate) virtual_time: Option<crate::determinism::VirtualTime>,
    /// A total budget (events, logs) the guest went past: ends the attempt as output too large.
    pub(crate) overflow: Option<String>,
    log_lines: usize,
    /// Bytes charged so far against `budget`.
    event_bytes: usize,
    log_bytes: usize,
    budget: Budget,
    tag: AttemptTag,
}

/// The per-attempt totals of what a guest may send through host calls.
#[derive(Clone, Copy, Debug)]
struct Budget {
    event_bytes: usize,
    log_bytes: usize,
}

impl NodeState {
    /// Wraps a built WASI context.
    pub fn new(wasi: WasiCtx, limits: &Limits, quota: Option<Arc<DiskQuota>>, tag: AttemptTag) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resources);
        Self {
            wasi,
            table,
            limiter: MemoryLimiter::new(limits.memory_bytes),
            events: Vec::new(),
            violation: None,
            quota,
            touch: TouchLog::default(),
            vfs: None,
            virtual_time: None,
            overflow: None,
            log_lines: 0,
            event_bytes: 0,
            log_bytes: 0,
            budget: Budget { event_bytes: limits.event_bytes, log_bytes: limits.log_bytes },
            tag,
        }
    }

    /// `wasi:filesystem/types` with the disk quota charged on the way.
    pub(crate) fn quota_fs(&mut self) -> QuotaFs<'_> {
        QuotaFs {
            fs: WasiFilesystemCtxView { ctx: self.wasi.filesystem(), table: &mut self.table },
            quota: self.quota.as_ref(),
            touch: &mut self.touch,
        }
    }

    /// `wasi:filesystem/types` on the in-memory workspace (a runtime serving those always
    /// gives the store one before the guest runs).
    pub(crate) fn virtual_fs(&mut self) -> VirtualFs<'_> {
        use wasmtime_wasi::clocks::WasiClocksView as _;
        use wasmtime_wasi::p2::bindings::clocks::wall_clock::Host as _;
        let now = match &self.virtual_time {
            Some(t) => t.peek(),
            None => self
                .clocks()
                .now()
                .map_or(0, |d| d.seconds.saturating_mul(1_000_000_000) + u64::from(d.nanoseconds)),
        };
        VirtualFs {
            vfs: self.vfs.as_ref().expect("a virtual-workspace store has a workspace"),
            host: WasiFilesystemCtxView { ctx: self.wasi.filesystem(), table: &mut self.table },
            quota: self.quota.as_ref(),
            now,
        }
    }

    /// Records a spent budget and returns the trap that ends the attempt.
    fn overflow(&mut self, what: String) -> wasmtime::Error {
        self.overflow = Some(what.clone());
        wasmtime::Error::msg(what)
    }

    /// Records a sandbox violation and returns the trap that ends the attempt.
    fn violate(&mut self, what: String) -> wasmtime::Error {
        self.violation = Some(what.clone());
        wasmtime::Error::msg(what)
    }
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl TypesHost for NodeState {}

impl HostImports for NodeState {
    fn log(&mut self, level: Level, mut message: String) -> WtResult<()> {
        // Charged in full before anything else: the string is already in host memory, and a
        // guest must not be able to send more of them than the budget, dropped or not.
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_bytes > self.budget.log_bytes {
            return Err(self.overflow(format!(
                "log: more than {} bytes of log messages in one attempt",
                self.budget.log_bytes
            )));
        }
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return Ok(());
        }
        if message.len() > MAX_LOG_LINE {
            let cut = (0..=MAX_LOG_LINE).rev().find(|i| message.is_char_boundary(*i)).unwrap_or(0);
            message.truncate(cut);
            message.push_str("… (cut)");
        }
        let AttemptTag { execution, node, attempt } = &self.tag;
        match level {
            Level::Trace => tracing::trace!(target: "wtb::guest", %execution, %node, attempt, "{message}"),
            Level::Debug => tracing::debug!(target: "wtb::guest", %execution, %node, attempt, "{message}"),
            Level::Info => tracing::info!(target: "wtb::guest", %execution, %node, attempt, "{message}"),
            Level::Warn => tracing::warn!(target: "wtb::guest", %execution, %node, attempt, "{message}"),
            Level::Error => tracing::error!(target: "wtb::guest", %execution, %node, attempt, "{message}"),
        }
        Ok(())
    }

    fn emit(&mut self, kind: String, payload: String) -> WtResult<()> {
        wtb_failpoint::hit("in-guest");
        let kind_ok = (1..=128).contains(&kind.len())
            && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !kind_ok {
            return Err(self.violate(format!("emit: event kind {kind:?} is not 1-128 of A-Z a-z 0-9 . _ -")));
        }
        if self.events.len() >= MAX_EVENTS {
            return Err(self.violate(format!("emit: more than {MAX_EVENTS} events in one attempt")));
        }
        if payload.len() > MAX_EVENT_PAYLOAD {
            return Err(self.violate(format!(
                "emit: `{kind}` payload is {} bytes, over {MAX_EVENT_PAYLOAD}",
                payload.len()
            )));
        }
        self.event_bytes = self.event_bytes.saturating_add(kind.len() + payload.len());
        if self.event_bytes > self.budget.event_bytes {
            return Err(self.overflow(format!(
                "emit: more than {} bytes of events in one attempt",
                self.budget.event_bytes
            )));
        }
        // Checked without building a tree; parsed once, when its outbox row is written.
        match serde_json::from_str::<serde::de::IgnoredAny>(&payload) {
            Ok(_) => {
                self.events.push(GuestEvent { kind, payload });
                Ok(())
            }
            Err(e) => Err(self.violate(format!("emit: `{kind}` payload is not JSON: {e}"))),
        }
    }
}

/// Bytes one table element takes in wasmtime (a pointer), per its `ResourceLimiter` docs.
const TABLE_ELEMENT_BYTES: u64 = std::mem::size_of::<usize>() as u64;

/// Most core instances, linear memories and tables one node's store may create: a component
/// that instantiates one module many times must not multiply its memory limit, nor take the
/// pool slots other nodes need. Generous for real toolchains' components (a Rust node has a
/// handful of each; interpreters built as components a few more).
pub(crate) const MAX_CORE_INSTANCES: usize = 32;
/// See [`MAX_CORE_INSTANCES`].
pub(crate) const MAX_MEMORIES: usize = 4;
/// See [`MAX_CORE_INSTANCES`].
pub(crate) const MAX_TABLES: usize = 32;

/// Enforces the node's memory limit over the *sum* of every linear memory and table in its
/// store (the limit is per node, however many memories a component creates), remembers the
/// peak of that sum, and whether the limit was hit, so a trap can be classified as
/// out-of-memory rather than a generic failure.
pub(crate) struct MemoryLimiter {
    limit: u64,
    /// Bytes of all memories and tables now.
    total: u64,
    pub(crate) peak: u64,
    pub(crate) hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self { limit, total: 0, peak: 0, hit: false }
    }

    /// Charges growth from `current` to `desired` bytes of one memory or table.
    fn grow(&mut self, what: &str, current: u64, desired: u64) -> WtResult<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit: growing a {what} from {current} to {desired} bytes would make the node's memories and tables {total} bytes, limit {}",
                self.limit
            )));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }
}

impl ResourceLimiter for MemoryLimiter {
    // Also called when a memory or table is created (`current` 0), so the sum covers all.
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> WtResult<bool> {
        self.grow("linear memory", current as u64, desired as u64)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> WtResult<bool> {
        self.grow("table", current as u64 * TABLE_ELEMENT_BYTES, desired as u64 * TABLE_ELEMENT_BYTES)
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}
