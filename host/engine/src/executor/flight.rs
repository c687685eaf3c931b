//! The attempts of one drive that are in flight: a lone attempt runs inside the drive's own
//! task, attempts running beside others on tasks of their own.
//!
//! Why two kinds: a spawned attempt costs two cross-thread hand-offs per node (the spawn wakes
//! an idle worker, the finish wakes the drive), and on a 2-core VM each costs tens of µs of CPU
//! and of latency on the node's critical path. A linear section gains nothing from a task of
//! its own, so its attempt is polled by the drive; parallel branches still spread over the
//! runtime's threads.

use super::ExecError;
use super::attempt::Attempted;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use sync_wrapper::SyncWrapper;
use tokio::task::JoinSet;

type AttemptFuture = Pin<Box<dyn Future<Output = Result<Attempted, ExecError>> + Send>>;

/// Attempts in flight: at most one inline, any number spawned.
#[derive(Default)]
pub(crate) struct InFlight {
    /// Only ever touched through `&mut self`: the wrapper makes the drive `Sync`.
    inline: SyncWrapper<Option<AttemptFuture>>,
    /// Whether `inline` holds an attempt: kept beside it because the wrapper cannot be read
    /// through `&self` (`len`).
    inline_busy: bool,
    spawned: JoinSet<Result<Attempted, ExecError>>,
}

impl InFlight {
    /// Attempts in flight.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.inline_busy) + self.spawned.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts `attempt`: inline when `alone` (no other attempt is ready to launch) and nothing
    /// is in flight, else on a task of its own.
    pub(crate) fn launch(
        &mut self,
        attempt: impl Future<Output = Result<Attempted, ExecError>> + Send + 'static,
        alone: bool,
    ) {
        if alone && self.is_empty() {
            *self.inline.get_mut() = Some(Box::pin(attempt));
            self.inline_busy = true;
        } else {
            self.spawned.spawn(attempt);
        }
    }

    /// The next attempt to finish; `None` when none is in flight.
    pub(crate) async fn next(&mut self) -> Option<Result<Attempted, ExecError>> {
        if self.is_empty() {
            return None;
        }
        let finished = std::future::poll_fn(|cx| {
            let inline = self.inline.get_mut();
            if let Some(attempt) = inline
                && let Poll::Ready(done) = attempt.as_mut().poll(cx)
            {
                *inline = None;
                self.inline_busy = false;
                return Poll::Ready(done);
            }
            match self.spawned.poll_join_next(cx) {
                Poll::Ready(Some(joined)) => {
                    Poll::Ready(joined.map_err(|e| ExecError::Task(e.to_string())).and_then(|r| r))
                }
                Poll::Ready(None) | Poll::Pending => Poll::Pending,
            }
        })
        .await;
        Some(finished)
    }

    /// Waits for every attempt in flight (after they were told to stop), dropping results.
    pub(crate) async fn drain(&mut self) {
        while self.next().await.is_some() {}
    }
}
