//! The stat index: per path, the fingerprint and digest seen at the last capture.

use super::scan::StatKey;
use std::collections::HashMap;
use wtb_core::model::Digest;

/// Remembers which digest a path had when it had a given fingerprint. An empty index is
/// always correct (everything is hashed); a full one makes an unchanged file cost one `lstat`.
///
/// A capture is one pass: [`begin`](Self::begin), a [`lookup`](Self::lookup) or
/// [`record`](Self::record) per file, [`finish`](Self::finish). Unchanged files are only
/// marked, so an unchanged workspace costs no allocation here.
#[derive(Debug, Default)]
pub struct StatIndex {
    entries: HashMap<String, Slot>,
    pass: u64,
}

#[derive(Debug)]
struct Slot {
    key: StatKey,
    digest: Digest,
    /// The last pass that saw the path.
    seen: u64,
}

impl StatIndex {
    /// Starts a capture pass.
    pub(crate) fn begin(&mut self) {
        self.pass += 1;
    }

    /// The digest recorded for `path`, if its fingerprint still matches (the path is then
    /// kept by [`finish`](Self::finish)).
    pub(crate) fn lookup(&mut self, path: &str, key: &StatKey) -> Option<Digest> {
        let slot = self.entries.get_mut(path).filter(|s| s.key == *key)?;
        slot.seen = self.pass;
        Some(slot.digest)
    }

    /// Records a path hashed in this pass.
    pub(crate) fn record(&mut self, path: &str, key: StatKey, digest: Digest) {
        let slot = Slot { key, digest, seen: self.pass };
        match self.entries.get_mut(path) {
            Some(s) => *s = slot,
            None => {
                self.entries.insert(path.to_owned(), slot);
            }
        }
    }

    /// Ends the pass: forgets paths it did not see, and those whose ctime is not older than
    /// `tick` (the filesystem clock when the scan ended): a write later in the same tick could
    /// keep every field of their fingerprint unchanged.
    pub(crate) fn finish(&mut self, tick: (i64, i64)) {
        let pass = self.pass;
        self.entries.retain(|_, s| s.seen == pass && s.key.ctime < tick);
    }

    /// Forgets one path (changed where no walk saw it).
    pub(crate) fn forget(&mut self, path: &str) {
        self.entries.remove(path);
    }

    /// Forgets everything (after the workspace was changed behind the index's back).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The filesystem's clock now: file timestamps come from the kernel's coarse real-time clock,
/// so this is the clock to compare ctimes with (not the domain clock).
pub fn filesystem_tick() -> (i64, i64) {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    (t.tv_sec, t.tv_nsec)
}
