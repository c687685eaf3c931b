//! Named crash points for crash tests: `WTB_FAILPOINT=<name>[@<n>]` makes the process abort
//! (like a SIGKILL: no destructors, no flush) the `n`-th time (default 1st) it reaches `<name>`.
//!
//! Points: `in-guest` (inside a guest's host call), `after-capture` (blobs in the CAS, exit
//! transaction not yet sent), `before-commit` (exit rows written inside the open transaction),
//! `after-commit` (exit transaction durable), `branch-start` (a parallel branch was just
//! launched while others run), `join` (a join is about to fire). Unset: every check is one
//! relaxed atomic load.
//!
//! Pause points ([`arm_pause`], [`pause`]) hold a task at a step instead, in-process:
//! `orphans-before-delete` (the orphan cleaner has chosen what to delete).
#![deny(missing_docs)]

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

/// In-process pause points, for tests that must force one interleaving of two tasks (no
/// sleeps): the test arms a point, waits until the code has [`reached`](Pause::reached) it,
/// does its part, then [`release`](Pause::release)s it. Never armed in production, where
/// [`pause`] is one relaxed atomic load. A point is keyed by name and a scope (e.g. a tenant
/// id), so tests running side by side in one process never catch each other's code.
pub struct Pause {
    reached: tokio::sync::Semaphore,
    release: tokio::sync::Semaphore,
    /// The release as a thread waiting in [`pause_blocking`] sees it.
    released: (std::sync::Mutex<bool>, std::sync::Condvar),
}

static PAUSES_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn pauses() -> &'static std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Pause>>> {
    static PAUSES: OnceLock<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Pause>>>> =
        OnceLock::new();
    PAUSES.get_or_init(Default::default)
}

/// Arms the pause point `name` for `scope`: the next [`pause`] there waits for the release.
pub fn arm_pause(name: &str, scope: &str) -> std::sync::Arc<Pause> {
    let p = std::sync::Arc::new(Pause {
        reached: tokio::sync::Semaphore::new(0),
        release: tokio::sync::Semaphore::new(0),
        released: Default::default(),
    });
    pauses().lock().unwrap_or_else(|e| e.into_inner()).insert(format!("{name}:{scope}"), p.clone());
    PAUSES_ARMED.store(true, Ordering::SeqCst);
    p
}

impl Pause {
    /// Waits until the code is at the point.
    pub async fn reached(&self) {
        let _ = self.reached.acquire().await.map(|p| p.forget());
    }

    /// Lets the code go on.
    pub fn release(&self) {
        self.release.add_permits(1);
        *self.released.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.released.1.notify_all();
    }
}

/// The pause armed at `name` for `scope`, disarmed (each arming stops the code once).
fn take_armed(name: &str, scope: &str) -> Option<std::sync::Arc<Pause>> {
    if !PAUSES_ARMED.load(Ordering::Relaxed) {
        return None;
    }
    pauses().lock().unwrap_or_else(|e| e.into_inner()).remove(&format!("{name}:{scope}"))
}

/// Waits here if a test armed `name` for `scope` (once per arming).
pub async fn pause(name: &str, scope: &str) {
    if let Some(p) = take_armed(name, scope) {
        p.reached.add_permits(1);
        let _ = p.release.acquire().await.map(|p| p.forget());
    }
}

/// [`pause`] for code on a thread of its own (the database writer), which blocks instead of
/// awaiting.
pub fn pause_blocking(name: &str, scope: &str) {
    let Some(p) = take_armed(name, scope) else { return };
    p.reached.add_permits(1);
    let mut released = p.released.0.lock().unwrap_or_else(|e| e.into_inner());
    while !*released {
        released = p.released.1.wait(released).unwrap_or_else(|e| e.into_inner());
    }
}
