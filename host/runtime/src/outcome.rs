//! How an attempt ended, and the mapping from wasmtime traps to [`TrapKind`].

use super::bindings::NodeError;
use super::limits::Limits;
use super::state::GuestEvent;
use std::time::Duration;
use wasmtime::Trap;
use wtb_core::model::Touched;
use wtb_core::model::TrapKind;

/// Which `node-error` case the guest returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestErrorKind {
    /// `invalid-input`.
    InvalidInput,
    /// `failed`.
    Failed,
    /// `retryable`.
    Retryable,
}

impl GuestErrorKind {
    /// The WIT case name: `invalid-input`, `failed` or `retryable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid-input",
            Self::Failed => "failed",
            Self::Retryable => "retryable",
        }
    }
}

/// The end of an attempt. A guest's error and a trap never share a variant.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `run` returned `ok`: the raw update text (validated by the executor) and route.
    Returned {
        /// JSON text of the update.
        update: String,
        /// Optional branch label.
        route: Option<String>,
    },
    /// `run` returned `err`: the guest's own verdict.
    GuestError {
        /// Which case.
        kind: GuestErrorKind,
        /// Its message.
        message: String,
    },
    /// `wtb cancel` (or another branch's failure) stopped the attempt.
    Cancelled,
    /// The host stopped the guest.
    Trapped {
        /// Why.
        kind: TrapKind,
        /// Details (the trap message, the panic message, ...).
        detail: String,
    },
}

/// A command that ended with status 0: its stdout (trimmed) is its update, nothing means
/// no update. Whether it is a JSON object is checked with every other node's update.
pub(crate) fn command_output(stdout: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    Outcome::Returned { update: if text.is_empty() { "{}".into() } else { text.to_owned() }, route: None }
}

/// Guest-supplied text as the host stores it: NUL becomes U+FFFD. PostgreSQL's text cannot
/// hold a NUL (its writer replaces one the same way), so doing it here makes every backend
/// store, and every report show, the same text.
pub(crate) fn scrub(text: String) -> String {
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text }
}

impl Outcome {
    /// The same outcome with every guest-supplied string [`scrub`]bed.
    pub(crate) fn scrubbed(self) -> Self {
        match self {
            Self::Returned { update, route } => Self::Returned { update, route: route.map(scrub) },
            Self::GuestError { kind, message } => Self::GuestError { kind, message: scrub(message) },
            Self::Trapped { kind, detail } => Self::Trapped { kind, detail: scrub(detail) },
            other => other,
        }
    }

    /// A command that exited with a non-zero status: a failure, like a node's `failed` error.
    pub(crate) fn command_exit(code: i32) -> Self {
        Self::GuestError {
            kind: GuestErrorKind::Failed,
            message: format!("the command exited with status {code}"),
        }
    }

    pub(crate) fn guest_error(e: NodeError) -> Self {
        let (kind, message) = match e {
            NodeError::InvalidInput(m) => (GuestErrorKind::InvalidInput, m),
            NodeError::Failed(m) => (GuestErrorKind::Failed, m),
            NodeError::Retryable(m) => (GuestErrorKind::Retryable, m),
        };
        Self::GuestError { kind, message }
    }
}

/// Everything observed about one attempt.
#[derive(Clone, Debug)]
pub struct AttemptReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Events the guest emitted (to be committed only on success).
    pub events: Vec<GuestEvent>,
    /// Captured stdout (capped).
    pub stdout: String,
    /// Captured stderr (capped).
    pub stderr: String,
    /// Largest total of the store's linear memories and tables reached (what the memory
    /// limit caps).
    pub peak_memory_bytes: u64,
    /// Fuel the guest burned (`None` when metering is off).
    pub fuel_consumed: Option<u64>,
    /// Bytes by which the guest grew its workspace (what the disk quota charged).
    pub disk_bytes: u64,
    /// New files, directories and links it created.
    pub files_created: u64,
    /// Wall time from sandbox creation to return.
    pub guest_time: Duration,
    /// The workspace paths it changed, for capture.
    pub touched: Touched,
}

impl AttemptReport {
    /// An attempt that was stopped before its guest started (cancelled during its backoff).
    pub fn empty() -> Self {
        Self { outcome: Outcome::Cancelled, ..Self::host_failure(String::new()) }
    }

    /// An attempt the host could not even start (e.g. the workspace vanished).
    pub(crate) fn host_failure(detail: String) -> Self {
        Self {
            outcome: Outcome::Trapped { kind: TrapKind::Other, detail },
            events: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
            peak_memory_bytes: 0,
            fuel_consumed: None,
            disk_bytes: 0,
            files_created: 0,
            guest_time: Duration::ZERO,
            touched: Touched::everything(),
        }
    }
}

/// What the host saw go wrong during an attempt, beyond the trap itself.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// A host call refused the guest's request (bad event, ...).
    pub violation: Option<String>,
    /// Memory growth past the limit was refused.
    pub memory_limit_hit: bool,
    /// The disk quota refused a write (why).
    pub disk: Option<String>,
    /// A write to stdout/stderr went past the cap (which).
    pub output: Option<String>,
}

/// Classifies a trap by the limit that was hit where known, else by wasmtime's trap code.
pub(crate) fn classify_trap(
    err: &wasmtime::Error,
    signals: &Signals,
    stderr: &[u8],
    limits: &Limits,
) -> Outcome {
    let trapped = |kind, detail: String| Outcome::Trapped { kind, detail };
    if let Some(v) = &signals.violation {
        return trapped(TrapKind::SandboxViolation, v.clone());
    }
    if let Some(d) = &signals.disk {
        return trapped(TrapKind::DiskQuotaExceeded, d.clone());
    }
    if let Some(o) = &signals.output {
        return trapped(TrapKind::OutputTooLarge, o.clone());
    }
    if signals.memory_limit_hit {
        return trapped(
            TrapKind::OutOfMemory,
            format!("exceeded the {}-byte memory limit", limits.memory_bytes),
        );
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            trapped(TrapKind::Timeout, format!("exceeded the {} ms time limit", limits.timeout.as_millis()))
        }
        Some(Trap::OutOfFuel) => {
            trapped(TrapKind::OutOfFuel, format!("used up its fuel ({})", limits.fuel.unwrap_or(u64::MAX)))
        }
        Some(Trap::StackOverflow) => trapped(TrapKind::StackOverflow, "call stack exhausted".into()),
        Some(Trap::UnreachableCodeReached) => {
            let text = String::from_utf8_lossy(stderr);
            let message = panic_message(&text).unwrap_or_else(|| "aborted (unreachable executed)".into());
            trapped(TrapKind::GuestPanic, message)
        }
        _ => trapped(TrapKind::Other, format!("{err:#}")),
    }
}

/// The message of a Rust panic from its stderr output (`thread '…' panicked at …:\nmsg`).
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let rest = &stderr[start + "panicked at ".len()..];
    let (location, message) = rest.split_once(":\n").unwrap_or((rest, ""));
    let message = message.lines().next().unwrap_or("").trim();
    Some(if message.is_empty() {
        format!("panicked at {}", location.trim())
    } else {
        format!("{message} (at {})", location.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn extracts_panic_message() {
        let s = "thread '<unnamed>' panicked at src/lib.rs:9:13:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(s).as_deref(), Some("boom (at src/lib.rs:9:13)"));
        assert_eq!(panic_message("nothing"), None);
    }
}
