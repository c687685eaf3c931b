//! Steering executions from other processes: pause and cancel requests, and the leases that
//! tell a live run from one whose process died.
//!
//! `wtb pause`/`wtb cancel` write a request on the execution's row; one watcher task per
//! process polls the pending requests (a partial index makes that a near-free read) every
//! [`POLL`] and hands them to the drives they concern, and renews this process's leases.
//! A lease names its process (`host:pid:nonce`); a resume takes over a lease that expired or
//! whose process is gone from this host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use wtb_core::clock::Clock;
use wtb_core::model::{ExecutionId, Timestamp};
use wtb_store::db::{Database, DbError};

/// How often pending requests are read: the bound on how late a cancel is noticed.
pub const POLL: Duration = Duration::from_millis(25);
/// How long a lease holds without renewal, unless `[workers] lease_seconds` says otherwise.
pub const LEASE: Duration = Duration::from_secs(15);

/// A request from outside the drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop at the next node boundary.
    Pause,
    /// Stop now, interrupting running guests.
    Cancel,
    /// Stop launching, commit what runs, and give the lease back with the execution still
    /// running (a worker shutting down; never stored: it comes from this process).
    Yield,
    /// Stop at once, interrupting running guests and committing nothing more: this process
    /// could not renew its leases for most of their length, so another may take them over
    /// soon (never stored: it comes from this process's lease watcher).
    Abandon,
}

impl Control {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Cancel => "cancel",
            Self::Yield => "yield",
            Self::Abandon => "abandon",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pause" => Some(Self::Pause),
            "cancel" => Some(Self::Cancel),
            _ => None,
        }
    }
}

/// The sending side of a drive's requests.
type Requests = watch::Sender<Option<Control>>;

/// This process's drives and their request channels.
pub(crate) struct Controls {
    pub(crate) owner: String,
    /// How long this process's leases last without renewal.
    lease: Duration,
    /// Each drive's request channel, under the serial of its registration.
    drives: Mutex<HashMap<ExecutionId, (u64, Requests)>>,
    /// The serial the next registration gets.
    serial: AtomicU64,
    watching: AtomicBool,
    /// When this process last knew its leases valid (a claim or a renewal).
    renewed: Mutex<tokio::time::Instant>,
}

/// A drive's registration; unregisters on drop.
pub(crate) struct Registration {
    controls: Arc<Controls>,
    id: ExecutionId,
    serial: u64,
    pub(crate) requests: watch::Receiver<Option<Control>>,
}

impl Drop for Registration {
    /// Unregisters this drive only: a later registration of the same execution in this
    /// process (the starting side of a handed-off run drops its unused drive after a worker
    /// of the same process may have claimed the execution) keeps receiving requests.
    fn drop(&mut self) {
        if let Ok(mut drives) = self.controls.drives.lock()
            && drives.get(&self.id).is_some_and(|(serial, _)| *serial == self.serial)
        {
            drives.remove(&self.id);
        }
    }
}

impl Controls {
    pub(crate) fn new(owner: String, lease: Duration) -> Self {
        let renewed = Mutex::new(tokio::time::Instant::now());
        let (drives, serial, watching) = (Mutex::default(), AtomicU64::new(0), AtomicBool::new(false));
        Self { owner, lease, drives, serial, watching, renewed }
    }

    /// When a lease taken now expires.
    pub(crate) fn lease_until(&self, now: Timestamp) -> Timestamp {
        Timestamp::from_micros(now.micros() + self.lease.as_micros() as i64)
    }

    /// Asks every drive of this process to give its execution back at its next boundary.
    pub(crate) fn yield_all(&self) {
        self.tell_all(Control::Yield);
    }

    /// Tells every drive `control`, unless it has a stronger request already (a cancel stays
    /// a cancel; an abandon overrides everything).
    fn tell_all(&self, control: Control) {
        if let Ok(drives) = self.drives.lock() {
            for (_, tx) in drives.values() {
                tx.send_if_modified(|cur| {
                    let replace = cur.is_none() || control == Control::Abandon;
                    (replace && *cur != Some(control)).then(|| *cur = Some(control)).is_some()
                });
            }
        }
    }

    /// Executions driven by this process now.
    pub(crate) fn driving(&self) -> usize {
        self.drives.lock().map(|d| d.len()).unwrap_or(0)
    }

    fn mark_renewed(&self) {
        if let Ok(mut at) = self.renewed.lock() {
            *at = tokio::time::Instant::now();
        }
    }

    /// Whether the leases went unrenewed for three quarters of their length: past that,
    /// guests are stopped before another process may take the executions over, so that no
    /// node runs in two processes at once.
    fn lease_in_doubt(&self) -> bool {
        self.renewed.lock().map(|at| at.elapsed() > self.lease * 3 / 4).unwrap_or(false)
    }

    /// Registers a drive (with the request already pending, if any) and makes sure the
    /// watcher runs.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: ExecutionId,
        pending: Option<&str>,
        db: &Arc<dyn Database>,
        clock: &Arc<dyn Clock>,
    ) -> Registration {
        let registration = self.enrol(id, pending);
        if !self.watching.swap(true, Ordering::SeqCst) {
            // No lease of this process is older than the claim just made: the clock of their
            // renewal starts now.
            self.mark_renewed();
            tokio::spawn(watch_requests(Arc::downgrade(self), db.clone(), clock.clone()));
        }
        registration
    }

    /// Enters a drive of `id` in the table, replacing an earlier one of the same execution.
    fn enrol(self: &Arc<Self>, id: ExecutionId, pending: Option<&str>) -> Registration {
        let (tx, rx) = watch::channel(pending.and_then(Control::parse));
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut drives) = self.drives.lock() {
            drives.insert(id, (serial, tx));
        }
        Registration { controls: self.clone(), id, serial, requests: rx }
    }

    /// Whether a drive of this process runs `id`.
    pub(crate) fn is_driving(&self, id: ExecutionId) -> bool {
        self.drives.lock().map(|d| d.contains_key(&id)).unwrap_or(false)
    }

    /// Hands each request to its drive, if it runs here; returns the ones newly taken (to be
    /// marked seen).
    fn deliver<'r>(&self, requests: &'r [(ExecutionId, String, bool)]) -> Vec<(ExecutionId, &'r str)> {
        let Ok(drives) = self.drives.lock() else { return Vec::new() };
        let mut taken = Vec::new();
        for (id, control, seen) in requests {
            if let (Some((_, tx)), Some(c)) = (drives.get(id), Control::parse(control)) {
                tx.send_if_modified(|cur| (*cur != Some(c)).then(|| *cur = Some(c)).is_some());
                if !seen {
                    taken.push((*id, control.as_str()));
                }
            }
        }
        taken
    }
}

async fn watch_requests(controls: std::sync::Weak<Controls>, db: Arc<dyn Database>, clock: Arc<dyn Clock>) {
    // Renewed six times per lease, by the clock (not by rounds of this loop, which a loaded
    // machine stretches), so a few slow or missed rounds lose nothing.
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let Some(c) = controls.upgrade() else { return };
        if c.driving() == 0 {
            c.watching.store(false, Ordering::SeqCst);
            // A drive registered between the check and the store would have seen `true`.
            if c.driving() == 0 || c.watching.swap(true, Ordering::SeqCst) {
                return;
            }
        }
        if c.lease_in_doubt() && c.driving() > 0 {
            tracing::warn!(
                "could not renew this process's leases for {:?}: stopping its {} execution(s) before another process takes them over",
                c.lease * 3 / 4,
                c.driving()
            );
            c.tell_all(Control::Abandon);
        }
        // Bounded, so that an unreachable database cannot hold the watcher past the lease.
        let patience = c.lease / 4;
        match tokio::time::timeout(patience, db.executions().requests())
            .await
            .unwrap_or_else(|_| Err(timed_out()))
        {
            Ok(requests) => {
                for (id, control) in c.deliver(&requests) {
                    if let Err(e) = db.executions().mark_seen(id, control, &c.owner).await {
                        tracing::warn!(execution = %id, "recording that a request was seen: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("reading pause/cancel requests: {e}"),
        }
        if last_renewal.elapsed() >= c.lease / 6 {
            last_renewal = tokio::time::Instant::now();
            let renewal = db.leases().renew(&c.owner, c.lease_until(clock.now()));
            match tokio::time::timeout(patience, renewal).await.unwrap_or_else(|_| Err(timed_out())) {
                Ok(()) => c.mark_renewed(),
                Err(e) => tracing::warn!("renewing leases: {e}"),
            }
        }
    }
}

/// The error of a database call the watcher stopped waiting for.
fn timed_out() -> DbError {
    DbError::Connect { url: "the database".into(), cause: "no answer within a quarter of the lease".into() }
}

/// A name for this process as a lease holder: `host:pid:nonce`. The pid lets a process on the
/// same host tell a dead holder from a live one; the nonce keeps two relays of one process apart.
pub fn owner_id(ids: &dyn wtb_core::clock::IdGen) -> String {
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    format!("{host}:{}:{}", std::process::id(), ids.next())
}

/// Whether `owner` names a process of this host that no longer exists.
pub(crate) fn owner_is_dead(owner: &str) -> bool {
    let mut parts = owner.splitn(3, ':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else { return false };
    let here = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let Some(pid) = pid.parse::<i32>().ok().and_then(rustix::process::Pid::from_raw) else { return false };
    host == here && rustix::process::test_kill_process(pid).is_err()
}

/// Takes the lease of `id` for this process (its fencing token), or says who holds it.
pub(crate) async fn claim(
    db: &dyn Database,
    controls: &Controls,
    id: ExecutionId,
    now: Timestamp,
) -> Result<Result<u64, String>, DbError> {
    let current = db.leases().lease(id).await?;
    let stale = current.as_ref().filter(|(o, _)| owner_is_dead(o)).map(|(o, _)| o.as_str());
    if let Some(token) = db.leases().claim(id, &controls.owner, controls.lease_until(now), now, stale).await?
    {
        return Ok(Ok(token));
    }
    Ok(Err(current.map_or_else(|| "another process".to_owned(), |(o, _)| format!("process {o}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The starting side of a handed-off run dropped its unused drive after a worker of the
    /// same process had registered the execution: the worker's drive then missed the yield
    /// of a shutdown and ran on (seen as a flaky `workers` test on PostgreSQL).
    #[test]
    fn dropping_an_earlier_registration_keeps_the_later_one_of_the_same_execution() {
        let controls = Arc::new(Controls::new("host:1:x".into(), LEASE));
        let id = ExecutionId::from_uuid(uuid::Uuid::from_u128(7));
        let starter = controls.enrol(id, None);
        let worker = controls.enrol(id, None);
        drop(starter);
        assert_eq!(controls.driving(), 1, "the worker's drive stays registered");
        controls.yield_all();
        assert_eq!(*worker.requests.borrow(), Some(Control::Yield));
        drop(worker);
        assert_eq!(controls.driving(), 0);
    }
}
