//! The stat index: per path, the fingerprint and digest seen at the last capture.

use super::scan::StatKey;
use crate::model::Digest;
use std::collections::HashMap;

/// Remembers which digest a path had when it had a given fingerprint. An empty index is
/// always correct (everything is hashed); a full one makes an unchanged file cost one `lstat`.
#[derive(Debug, Default)]
pub struct StatIndex {
    entries: HashMap<String, (StatKey, Digest)>,
}

impl StatIndex {
    /// The digest recorded for `path`, if its fingerprint still matches.
    pub(crate) fn lookup(&self, path: &str, key: &StatKey) -> Option<Digest> {
        self.entries.get(path).filter(|(k, _)| k == key).map(|(_, d)| *d)
    }

    /// Replaces the index. Entries whose ctime is not older than `tick` (the filesystem clock
    /// when the scan ended) are left out: a write later in the same tick could keep every
    /// field of their fingerprint unchanged.
    pub(crate) fn replace(&mut self, entries: impl IntoIterator<Item = (String, StatKey, Digest)>, tick: (i64, i64)) {
        self.entries = entries
            .into_iter()
            .filter(|(_, key, _)| key.ctime < tick)
            .map(|(path, key, digest)| (path, (key, digest)))
            .collect();
    }

    /// Forgets everything (after the workspace was changed behind the index's back).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The filesystem's clock now: file timestamps come from the kernel's coarse real-time clock,
/// so this is the clock to compare ctimes with (not the domain clock).
pub(crate) fn filesystem_tick() -> (i64, i64) {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    (t.tv_sec, t.tv_nsec)
}
