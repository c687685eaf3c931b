//! When to try a failed delivery again: exponential backoff with jitter, then dead. Pure.

use std::time::Duration;

/// The retry rules of one relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per event and sink before it goes dead.
    pub max_attempts: u32,
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt (1 = the first), or `None` when that
    /// was the last one allowed. The wait doubles per attempt up to `max`; its upper half is
    /// jittered by `seed` (the event id), so executions that failed together (a sink outage)
    /// do not come back in lockstep. A sink's own `Retry-After` is honoured up to `max`.
    pub fn next_wait(&self, attempts: u32, seed: u128, retry_after: Option<Duration>) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exp = self.initial.saturating_mul(1u32 << attempts.saturating_sub(1).min(20)).min(self.max);
        let half = exp / 2;
        let jitter = mix(seed ^ u128::from(attempts)) % (half.as_micros().max(1) as u64);
        let wait = half + Duration::from_micros(jitter);
        Some(match retry_after {
            Some(after) => wait.max(after.min(self.max)),
            None => wait,
        })
    }
}

/// SplitMix64 over both halves: a well-spread number from an id.
fn mix(seed: u128) -> u64 {
    let mut z = (seed as u64) ^ ((seed >> 64) as u64);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy =
        RetryPolicy { max_attempts: 5, initial: Duration::from_millis(100), max: Duration::from_secs(1) };

    #[test]
    fn waits_double_within_jitter_then_cap_then_stop() {
        for seed in [0u128, 1, 42, u128::MAX] {
            let waits: Vec<Duration> = (1..5).map(|a| P.next_wait(a, seed, None).unwrap()).collect();
            for (a, w) in waits.iter().enumerate() {
                let exp = Duration::from_millis(100 << a).min(Duration::from_secs(1));
                assert!(
                    *w >= exp / 2 && *w <= exp,
                    "attempt {} seed {seed}: {w:?} not in [{:?}, {exp:?}]",
                    a + 1,
                    exp / 2
                );
            }
            assert_eq!(P.next_wait(5, seed, None), None, "the 5th failure is the last");
        }
    }

    #[test]
    fn jitter_spreads_and_retry_after_is_honoured_up_to_max() {
        let spread: std::collections::HashSet<Duration> =
            (0..50u128).map(|s| P.next_wait(3, s, None).unwrap()).collect();
        assert!(spread.len() > 40, "{} distinct waits of 50", spread.len());
        assert_eq!(P.next_wait(1, 7, Some(Duration::from_millis(700))), Some(Duration::from_millis(700)));
        assert_eq!(P.next_wait(1, 7, Some(Duration::from_secs(3600))), Some(Duration::from_secs(1)));
    }
}
