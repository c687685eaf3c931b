//! Stopping a running attempt from outside (`wtb cancel`, a failed sibling branch).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stops a running attempt from outside: the guest traps at its next epoch tick (within
/// `EPOCH_TICK`) or, if blocked in a host call, is dropped by the outer wait.
#[derive(Clone, Default)]
pub struct CancelSignal {
    flag: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl CancelSignal {
    /// Requests the stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether the stop was requested.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag itself, for the epoch callback (which must not block).
    pub(super) fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// Resolves once the stop is requested.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// The error an epoch callback returns to stop a cancelled guest.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub(super) struct CancelledTrap;
