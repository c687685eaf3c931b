//! Retention GC: expired executions go, with their checkpoints, attempts, events and
//! workspaces; then file commits and blobs nothing kept references are swept (mark and sweep
//! from the kept rows, never reference counts); then the CAS files of swept blobs, through the
//! orphan cleaner's rule (no row, older than the grace period), so a blob re-stored by a node
//! running right now is never lost.

use super::orphans::clean_orphans_of;
use crate::config::RetentionConfig;
use crate::executor::{ExecError, Executor};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;
use wtb_core::model::{ExecutionId, TenantId};
use wtb_core::retention::{ExecutionFacts, Keep, retained};
use wtb_store::db::Swept;

/// What the GC did (or, dry, would do).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GcReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// No retention rule is configured: everything is kept.
    pub no_policy: bool,
    /// Executions deleted.
    pub deleted: Vec<ExecutionId>,
    /// Executions kept, by reason.
    pub kept: std::collections::BTreeMap<String, usize>,
    /// Rows swept.
    pub swept: Swept,
    /// Bytes of the blobs swept (CAS files and inline contents).
    pub bytes_reclaimed: u64,
    /// CAS files deleted (fewer than CAS blobs swept when some were re-stored moments ago).
    pub cas_files_removed: usize,
}

/// Applies `policy` across all tenants. `sinks` are the configured outbox sinks: executions
/// with events not yet delivered to one of them are kept.
pub async fn collect_garbage(
    exec: &Executor,
    policy: &RetentionConfig,
    sinks: &[String],
    grace: Duration,
    dry_run: bool,
) -> Result<GcReport, ExecError> {
    let mut report = GcReport {
        dry_run,
        no_policy: policy.keep_days.is_none() && policy.keep_last.is_none(),
        ..GcReport::default()
    };
    let now = exec.clock().now();
    let mut keep = Default::default();
    let mut decide = |candidates: &[ExecutionFacts], undelivered: &HashSet<ExecutionId>| {
        keep = retained(candidates, undelivered, policy, now);
        let mut deleted: Vec<ExecutionId> =
            candidates.iter().map(|c| c.id).filter(|id| !keep.contains_key(id)).collect();
        deleted.sort();
        deleted
    };
    let (deleted, swept) = exec.database().retention().collect(sinks, dry_run, &mut decide).await?;
    for k in keep.values() {
        *report.kept.entry(keep_name(*k).to_owned()).or_default() += 1;
    }
    report.deleted = deleted;
    report.bytes_reclaimed = swept.blobs.iter().map(|b| b.2).sum();
    report.swept = swept;
    if dry_run {
        return Ok(report);
    }
    let tenants: BTreeSet<TenantId> = report.swept.blobs.iter().filter(|b| b.3).map(|b| b.0).collect();
    for tenant in tenants {
        report.cas_files_removed += clean_orphans_of(exec, tenant, grace, false).await?.removed.len();
    }
    Ok(report)
}

fn keep_name(k: Keep) -> &'static str {
    match k {
        Keep::NoPolicy => "no_policy",
        Keep::Active => "active",
        Keep::Undelivered => "undelivered",
        Keep::Recent => "recent",
        Keep::Newest => "newest",
        Keep::ForkParent => "fork_parent",
    }
}
