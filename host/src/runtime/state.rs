//! Per-attempt store data: the WASI context, resource limits and what the guest emitted.

use super::bindings::{HostImports, Level, TypesHost};
use super::limits::Limits;
use super::quota::DiskQuota;
use super::quota_fs::{QuotaFs, TouchLog};
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

/// An event a guest emitted; it becomes an outbox row only if the attempt commits.
#[derive(Clone, Debug, PartialEq)]
pub struct GuestEvent {
    /// The guest's kind (stored as `guest.<kind>`).
    pub kind: String,
    /// The payload, validated as JSON.
    pub payload: serde_json::Value,
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
    log_lines: usize,
    tag: AttemptTag,
}

impl NodeState {
    /// Wraps a built WASI context.
    pub fn new(wasi: WasiCtx, limits: &Limits, quota: Option<Arc<DiskQuota>>, tag: AttemptTag) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resources);
        Self {
            wasi,
            table,
            limiter: MemoryLimiter { limit: limits.memory_bytes, peak: 0, hit: false },
            events: Vec::new(),
            violation: None,
            quota,
            touch: TouchLog::default(),
            log_lines: 0,
            tag,
        }
    }

    /// `wasi:filesystem/types` with the disk quota charged on the way.
    pub(crate) fn quota_fs(&mut self) -> QuotaFs<'_> {
        QuotaFs { fs: WasiFilesystemCtxView { ctx: self.wasi.filesystem(), table: &mut self.table }, quota: self.quota.as_ref(), touch: &mut self.touch }
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
    fn log(&mut self, level: Level, message: String) -> WtResult<()> {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return Ok(());
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
        crate::failpoint::hit("in-guest");
        let kind_ok = (1..=128).contains(&kind.len())
            && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !kind_ok {
            return Err(self.violate(format!("emit: event kind {kind:?} is not 1-128 of A-Z a-z 0-9 . _ -")));
        }
        if self.events.len() >= MAX_EVENTS {
            return Err(self.violate(format!("emit: more than {MAX_EVENTS} events in one attempt")));
        }
        if payload.len() > MAX_EVENT_PAYLOAD {
            return Err(self.violate(format!("emit: `{kind}` payload is {} bytes, over {MAX_EVENT_PAYLOAD}", payload.len())));
        }
        match serde_json::from_str(&payload) {
            Ok(payload) => {
                self.events.push(GuestEvent { kind, payload });
                Ok(())
            }
            Err(e) => Err(self.violate(format!("emit: `{kind}` payload is not JSON: {e}"))),
        }
    }
}

/// Enforces the memory limit and remembers the peak and whether the limit was hit, so a
/// trap can be classified as out-of-memory rather than a generic failure.
pub(crate) struct MemoryLimiter {
    limit: u64,
    pub(crate) peak: u64,
    pub(crate) hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> WtResult<bool> {
        if desired as u64 > self.limit {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit: tried to grow linear memory from {current} to {desired} bytes, limit {}",
                self.limit
            )));
        }
        self.peak = self.peak.max(desired as u64);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> WtResult<bool> {
        Ok(desired <= 1_000_000)
    }
}
