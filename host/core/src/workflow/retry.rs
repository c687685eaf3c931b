//! When a failed node attempt is tried again.

use serde::Deserialize;

/// When a failed attempt is tried again. Every attempt is its own node boundary.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1: no retries).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub backoff_ms: u64,
    /// The longest wait between attempts.
    pub max_backoff_ms: u64,
    /// Also retry attempts stopped by their time limit (guest `retryable` errors always are).
    pub on_timeout: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 1, backoff_ms: 100, max_backoff_ms: 10_000, on_timeout: false }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (from 1): exponential, capped.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let factor = 1u64.checked_shl(attempt.saturating_sub(1)).unwrap_or(u64::MAX);
        std::time::Duration::from_millis(self.backoff_ms.saturating_mul(factor).min(self.max_backoff_ms))
    }
}
