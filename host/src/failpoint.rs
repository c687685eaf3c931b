//! Named crash points for crash tests: `WTB_FAILPOINT=<name>[@<n>]` makes the process abort
//! (like a SIGKILL: no destructors, no flush) the `n`-th time (default 1st) it reaches `<name>`.
//!
//! Points: `in-guest` (inside a guest's host call), `after-capture` (blobs in the CAS, exit
//! transaction not yet sent), `before-commit` (exit rows written inside the open transaction),
//! `after-commit` (exit transaction durable), `branch-start` (a parallel branch was just
//! launched while others run), `join` (a join is about to fire). Unset: every check is one
//! relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

struct Armed {
    name: String,
    at: u32,
    hits: AtomicU32,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("WTB_FAILPOINT").ok()?;
            let (name, at) = match spec.split_once('@') {
                Some((name, n)) => (name.to_owned(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Armed { name, at, hits: AtomicU32::new(0) })
        })
        .as_ref()
}

/// Whether the next [`hit`] of `name` would abort (to stage the step before it, e.g. leave a
/// transaction open).
pub fn is_next(name: &str) -> bool {
    armed().is_some_and(|a| a.name == name && a.hits.load(Ordering::SeqCst) + 1 == a.at)
}

/// Counts a pass through `name`; aborts the process on the armed pass.
pub fn hit(name: &str) {
    if let Some(a) = armed()
        && a.name == name
        && a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.at
    {
        eprintln!("wtb: failpoint `{name}` reached, aborting");
        std::process::abort();
    }
}
