//! The orphan cleaner: CAS objects no `blobs` row references, and temp files of crashed
//! writes, once older than a grace period.
//!
//! Order matters: the store is listed first, the rows read second. An object listed before
//! its row committed was written (or re-put, which refreshes its mtime) moments ago, so the
//! grace period — longer than any exit transaction stays in flight — keeps it. A node that
//! re-puts an old orphan *after* the listing is caught at delete time: each object is set
//! aside atomically and its mtime read again ([`wtb_store::cas::BlobStore::remove_if_stale`]).

use crate::executor::{ExecError, Executor};
use serde::Serialize;
use std::time::{Duration, SystemTime};
use wtb_core::model::{Digest, TenantId};

/// What the cleaner found and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OrphanReport {
    /// Objects in the store.
    pub objects: usize,
    /// Orphans deleted (or, with `dry_run`, that would be).
    pub removed: Vec<Digest>,
    /// Their bytes.
    pub removed_bytes: u64,
    /// Orphans younger than the grace period, kept for now.
    pub young: usize,
    /// Old temp files deleted.
    pub temp_removed: usize,
    /// Nothing was deleted.
    pub dry_run: bool,
}

/// Deletes the executor's tenant's orphans older than `grace` (lists them only, with `dry_run`).
pub async fn clean_orphans(
    exec: &Executor,
    grace: Duration,
    dry_run: bool,
) -> Result<OrphanReport, ExecError> {
    clean_orphans_of(exec, exec.tenant(), grace, dry_run).await
}

/// [`clean_orphans`] for any tenant's part of the store (retention GC sweeps them all).
pub(crate) async fn clean_orphans_of(
    exec: &Executor,
    tenant: TenantId,
    grace: Duration,
    dry_run: bool,
) -> Result<OrphanReport, ExecError> {
    let cas = exec.cas();
    let io = |what: &'static str| move |source| ExecError::Io { what: what.into(), source };
    let listed = {
        let cas = cas.clone();
        crate::executor::blocking(move || cas.list_objects(tenant))
            .await?
            .map_err(io("listing the blob store"))?
    };
    let objects = listed;
    let live = exec.database().blobs().digests(tenant).await?;
    // File times come from the kernel's clock, so that is the clock to age them by (not the
    // domain clock, which tests step through another year).
    let (secs, nanos) = wtb_store::capture::filesystem_tick();
    let now = SystemTime::UNIX_EPOCH
        + Duration::new(u64::try_from(secs).unwrap_or(0), u32::try_from(nanos).unwrap_or(0));
    let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = OrphanReport { objects: objects.len(), dry_run, ..OrphanReport::default() };
    let mut doomed = Vec::new();
    for o in objects.iter().filter(|o| !live.contains(&o.digest)) {
        if o.modified < cutoff {
            report.removed.push(o.digest);
            report.removed_bytes += o.size;
            doomed.push(o.digest);
        } else {
            report.young += 1;
        }
    }
    if dry_run {
        let cas = cas.clone();
        report.temp_removed = crate::executor::blocking(move || cas.clean_incomplete(tenant, cutoff, true))
            .await?
            .map_err(io("listing incomplete writes"))?;
        return Ok(report);
    }
    wtb_failpoint::pause("orphans-before-delete", &tenant.to_string()).await;
    let (kept, temp_removed) = crate::executor::blocking(move || -> std::io::Result<(Vec<Digest>, usize)> {
        let mut kept = Vec::new();
        for d in doomed {
            if !cas.remove_if_stale(tenant, &d, cutoff)? {
                kept.push(d);
            }
        }
        // Objects a crashed pass set aside go back whatever their age (a row may name them);
        // incomplete writes of crashed writers go once old.
        let temp_removed = cas.clean_incomplete(tenant, cutoff, false)?;
        Ok((kept, temp_removed))
    })
    .await?
    .map_err(io("deleting orphans"))?;
    report.temp_removed = temp_removed;
    for d in &kept {
        if let Some(i) = report.removed.iter().position(|r| r == d) {
            report.removed.remove(i);
            report.young += 1;
            report.removed_bytes -= objects.iter().find(|o| o.digest == *d).map_or(0, |o| o.size);
        }
    }
    Ok(report)
}
