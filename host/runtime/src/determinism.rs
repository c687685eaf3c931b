//! Deterministic mode: what a guest could read that changes between runs — the clocks and
//! both random sources — derived from the execution's seed instead, so two runs with one seed
//! produce the same states, files and events byte for byte.
//!
//! Per attempt, SHA-256 of `(seed, node, attempt)` seeds everything, so a node sees the same
//! values whichever order parallel branches ran in and whether it is a first run or a resume.
//! The wall clock starts at an instant derived from the seed (within 2020–2024, whole seconds)
//! and, like the monotonic clock, moves 1 µs per read and never otherwise: sleeps still wait
//! in real time, but elapsed-time readings do not depend on how busy the host was.

use rand_pcg::Pcg64;
use rand_pcg::rand_core::SeedableRng as _;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// 2020-01-01T00:00:00Z, the earliest instant a seed can put the wall clock at.
const EARLIEST: u64 = 1_577_836_800;
/// The seed picks a start within this many seconds after [`EARLIEST`] (five years).
const SPAN: u64 = 5 * 365 * 86_400;
/// How far either clock moves per reading.
const TICK_NANOS: u64 = 1_000;

/// Virtual time shared by the wall and monotonic clocks of one attempt.
#[derive(Clone)]
pub(crate) struct VirtualTime {
    nanos: Arc<AtomicU64>,
    wall_start: Duration,
}

impl VirtualTime {
    fn read(&self) -> u64 {
        self.nanos.fetch_add(TICK_NANOS, Ordering::Relaxed)
    }

    /// The wall clock's time now, in nanoseconds since the epoch, without moving it: what an
    /// in-memory workspace stamps files with, so filesystem calls do not change what the
    /// guest's own clock readings return.
    pub(crate) fn peek(&self) -> u64 {
        let wall = self.wall_start + Duration::from_nanos(self.nanos.load(Ordering::Relaxed));
        u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX)
    }
}

impl HostWallClock for VirtualTime {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(TICK_NANOS)
    }

    fn now(&self) -> Duration {
        self.wall_start + Duration::from_nanos(self.read())
    }
}

impl HostMonotonicClock for VirtualTime {
    fn resolution(&self) -> u64 {
        TICK_NANOS
    }

    fn now(&self) -> u64 {
        self.read()
    }
}

/// The material one attempt's clocks and random sources come from.
pub(crate) struct AttemptSeed([u8; 32]);

impl AttemptSeed {
    /// Derives the attempt's seed from the execution's seed, the node id and the attempt.
    pub(crate) fn new(seed: u64, node: &str, attempt: u32) -> Self {
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        h.update((node.len() as u64).to_le_bytes());
        h.update(node.as_bytes());
        h.update(attempt.to_le_bytes());
        Self(h.finalize().into())
    }

    fn sub(&self, label: &[u8]) -> [u8; 32] {
        Sha256::new().chain_update(self.0).chain_update(label).finalize().into()
    }

    /// The wall clock's start: fixed by the execution's seed alone, so every attempt of one
    /// execution starts at the same instant.
    pub(crate) fn wall_start(execution_seed: u64) -> Duration {
        let h: [u8; 32] = Sha256::digest(execution_seed.to_le_bytes()).into();
        let n = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
        Duration::from_secs(EARLIEST + n % SPAN)
    }

    /// Installs the virtual clocks and seeded random sources in `wasi`; the wall clock starts
    /// at `clock` (seconds since the epoch) when given, else where the seed puts it.
    pub(crate) fn apply(
        &self,
        execution_seed: u64,
        clock: Option<u64>,
        wasi: &mut WasiCtxBuilder,
    ) -> VirtualTime {
        let wall_start = clock.map_or_else(|| Self::wall_start(execution_seed), Duration::from_secs);
        let time = VirtualTime { nanos: Arc::default(), wall_start };
        wasi.wall_clock(time.clone()).monotonic_clock(time.clone());
        wasi.secure_random(Pcg64::from_seed(self.sub(b"random")));
        wasi.insecure_random(Pcg64::from_seed(self.sub(b"insecure")));
        let s = self.sub(b"insecure-seed");
        wasi.insecure_random_seed(u128::from_le_bytes(s[..16].try_into().expect("16 bytes")));
        time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_every_input_and_repeat_exactly() {
        let a = AttemptSeed::new(7, "n", 1).0;
        assert_eq!(a, AttemptSeed::new(7, "n", 1).0);
        for other in [AttemptSeed::new(8, "n", 1), AttemptSeed::new(7, "m", 1), AttemptSeed::new(7, "n", 2)] {
            assert_ne!(a, other.0);
        }
        let start = AttemptSeed::wall_start(7).as_secs();
        assert!((EARLIEST..EARLIEST + SPAN).contains(&start));
    }

    #[test]
    fn virtual_clocks_tick_per_read() {
        let t = VirtualTime { nanos: Arc::default(), wall_start: Duration::from_secs(10) };
        assert_eq!(HostMonotonicClock::now(&t), 0);
        assert_eq!(HostMonotonicClock::now(&t), TICK_NANOS);
        assert_eq!(HostWallClock::now(&t), Duration::from_secs(10) + Duration::from_nanos(2 * TICK_NANOS));
    }
}
