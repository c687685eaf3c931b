//! Where "now" and new ids come from. Both are injected so tests and replays choose them;
//! `clippy.toml` forbids reading the system clock or minting UUIDs anywhere else.

use crate::model::Timestamp;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use uuid::Uuid;

/// A source of the current time, in microseconds so values survive the database unchanged.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(clippy::disallowed_methods, reason = "the one real clock")]
    fn now(&self) -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }
}

/// A clock that starts at a fixed instant and advances one microsecond per reading, so
/// timestamps are reproducible yet strictly increasing.
#[derive(Debug)]
pub struct SteppingClock(AtomicI64);

impl SteppingClock {
    /// Starts at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.micros()))
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.fetch_add(1, Ordering::Relaxed))
    }
}

/// A source of fresh ids.
pub trait IdGen: Send + Sync + 'static {
    /// A new, never-before-returned UUID that sorts after earlier ones from this source.
    fn next(&self) -> Uuid;
}

/// UUIDv7 from the system clock and randomness: time-ordered, unique across processes.
#[derive(Debug, Default)]
pub struct UuidV7Ids;

impl IdGen for UuidV7Ids {
    #[expect(clippy::disallowed_methods, reason = "the one real id source")]
    fn next(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Sequential UUIDv7-shaped ids (timestamp 0, counter in the random bits): reproducible.
#[derive(Debug, Default)]
pub struct SeqIds(AtomicU64);

impl IdGen for SeqIds {
    fn next(&self) -> Uuid {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        uuid::Builder::from_unix_timestamp_millis(
            0,
            &u128::from(n).to_be_bytes()[6..].try_into().unwrap_or([0; 10]),
        )
        .into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_ids_increase() {
        let ids = SeqIds::default();
        let (a, b) = (ids.next(), ids.next());
        assert!(a < b);
        assert_eq!(a.get_version_num(), 7);
    }
}
