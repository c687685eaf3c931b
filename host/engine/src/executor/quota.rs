//! Quotas as the executor enforces them: refused at start and resume, `max_nodes_per_hour`
//! before each attempt, `max_stored_bytes` at each exit, running attempts by the slots.
//! Tenants and their quotas are created and set by [`crate::tenancy`].

use super::{ExecError, Executor};
use wtb_core::model::{Quotas, Timestamp};
use wtb_store::db::{self, DbError};

/// The quota a new attempt or execution would break, if any (pure).
pub(crate) fn over_quota(q: &Quotas, usage: &db::Usage, starting: bool) -> Option<(&'static str, u64, u64)> {
    if let Some(max) = q.max_concurrent
        && starting
        && usage.running >= max
    {
        return Some(("max_concurrent", max, usage.running));
    }
    if let Some(max) = q.max_stored_bytes
        && usage.stored_bytes >= max
    {
        return Some(("max_stored_bytes", max, usage.stored_bytes));
    }
    if let Some(max) = q.max_nodes_per_hour
        && usage.nodes_since >= max
    {
        return Some(("max_nodes_per_hour", max, usage.nodes_since));
    }
    None
}

/// `max_stored_bytes` as a drive keeps it between two reads of the database: what the tenant
/// stored when the drive began, plus what this drive's exits have added since. Concurrent
/// executions of the tenant see each other's bytes at their next start or resume, so the
/// quota can be passed by at most one exit per running execution (`max_concurrent` bounds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredQuota {
    /// The quota.
    pub(crate) max: u64,
    /// Bytes counted so far.
    pub(crate) used: u64,
}

impl StoredQuota {
    /// Counts an exit of `bytes`, or says why the execution must pause before committing it.
    pub(crate) fn charge(&mut self, bytes: u64) -> Result<(), String> {
        let after = self.used.saturating_add(bytes);
        if after > self.max {
            return Err(format!(
                "tenant quota `max_stored_bytes` = {} reached ({} stored, this node's exit would add {bytes}); free space (`wtb gc`) or raise the quota, then resume",
                self.max, self.used
            ));
        }
        self.used = after;
        Ok(())
    }
}

/// The quotas a drive keeps checking while it runs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct QuotaWatch {
    /// `max_nodes_per_hour`, checked before each attempt (the drive pauses there).
    pub(crate) nodes_per_hour: Option<u64>,
    /// `max_stored_bytes`, checked at each exit (the drive pauses before committing it).
    pub(crate) stored: Option<StoredQuota>,
    /// `max_running_attempts`: this tenant's cap on attempt slots.
    pub(crate) running_attempts: Option<u64>,
}

/// What an exit transaction stores, as `max_stored_bytes` counts it: new contents, the exit
/// checkpoint's stored state (`state_len`: its patch, or the whole state) twice, the second
/// standing for the next entry's (usually an empty patch on the exit; when that entry is due
/// to store the whole state, this counts less than it stores, and the next start or resume
/// reads the true total), event payloads and captured output.
pub(crate) fn exit_bytes(
    state_len: u64,
    captured: &wtb_store::capture::Captured,
    report: &wtb_runtime::AttemptReport,
) -> u64 {
    let blobs: u64 = captured.blobs.iter().map(|b| b.size).sum();
    let events: u64 = report.events.iter().map(|e| (e.kind.len() + e.payload.len()) as u64).sum();
    blobs + 2 * state_len + events + (report.stdout.len() + report.stderr.len()) as u64
}

/// An hour before `now`: the window of `max_nodes_per_hour`.
pub(crate) fn hour_before(now: Timestamp) -> Timestamp {
    Timestamp::from_micros(now.micros() - 3_600_000_000)
}

impl Executor {
    /// Whether this host last read the tenant without any quota. A start then skips
    /// [`Executor::check_quotas`] and writes `Write::NoQuotas` in its unit instead, which fails
    /// it if a quota has been set since (by any process): a read of the tenant through the
    /// pool cost more CPU than the rest of a short execution's start.
    pub(crate) fn assumes_no_quotas(&self) -> bool {
        self.without_quotas.lock().is_ok_and(|known| known.contains(&self.tenant))
    }

    /// Refuses to start (`starting`) or resume an execution when this tenant is at one of its
    /// quotas; otherwise hands the drive what it keeps checking: `max_nodes_per_hour` before
    /// each attempt, `max_stored_bytes` at each exit. Remembers whether the tenant has any
    /// quota ([`Executor::assumes_no_quotas`]).
    pub(crate) async fn check_quotas(&self, starting: bool) -> Result<QuotaWatch, ExecError> {
        let tenant = self
            .db
            .tenants()
            .get_one(self.tenant)
            .await?
            .ok_or(DbError::Corrupt { what: "tenant", detail: self.tenant.to_string() })?;
        self.check_quotas_of(tenant, starting).await
    }

    /// [`Executor::check_quotas`] with the tenant's row already read (a resume reads it
    /// with the execution).
    pub(crate) async fn check_quotas_of(
        &self,
        tenant: wtb_core::model::Tenant,
        starting: bool,
    ) -> Result<QuotaWatch, ExecError> {
        let unlimited = tenant.quotas == Quotas::default();
        if let Ok(mut known) = self.without_quotas.lock() {
            match unlimited {
                true => known.insert(self.tenant),
                false => known.remove(&self.tenant),
            };
        }
        if unlimited {
            return Ok(QuotaWatch::default());
        }
        let usage = self.db.tenants().usage(self.tenant, hour_before(self.clock.now())).await?;
        if let Some((quota, limit, current)) = over_quota(&tenant.quotas, &usage, starting) {
            return Err(ExecError::Quota { tenant: tenant.name, quota, limit, current });
        }
        Ok(QuotaWatch {
            nodes_per_hour: tenant.quotas.max_nodes_per_hour,
            stored: tenant.quotas.max_stored_bytes.map(|max| StoredQuota { max, used: usage.stored_bytes }),
            running_attempts: tenant.quotas.max_running_attempts,
        })
    }

    /// Why the next attempt must wait, when this tenant's attempts that ended in the last hour
    /// plus `in_flight` reach its `max_nodes_per_hour`.
    pub(crate) async fn node_quota_reached(
        &self,
        max: u64,
        in_flight: u64,
    ) -> Result<Option<String>, ExecError> {
        let used =
            self.db.tenants().nodes_since(self.tenant, hour_before(self.clock.now())).await? + in_flight;
        Ok((used >= max).then(|| {
            format!(
                "tenant quota `max_nodes_per_hour` = {max} reached ({used} in the last hour); resume later"
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wtb_store::db::Usage;

    #[test]
    fn the_first_quota_reached_is_named() {
        let q = Quotas {
            max_concurrent: Some(2),
            max_stored_bytes: Some(100),
            max_nodes_per_hour: Some(10),
            max_running_attempts: None,
        };
        let u = |running, stored_bytes, nodes_since| Usage { running, stored_bytes, nodes_since };
        assert_eq!(over_quota(&q, &u(1, 99, 9), true), None);
        assert_eq!(over_quota(&q, &u(2, 0, 0), true), Some(("max_concurrent", 2, 2)));
        assert_eq!(
            over_quota(&q, &u(2, 0, 0), false),
            None,
            "a running execution's next attempt does not start one more"
        );
        assert_eq!(over_quota(&q, &u(0, 100, 0), false), Some(("max_stored_bytes", 100, 100)));
        assert_eq!(over_quota(&q, &u(0, 0, 10), false), Some(("max_nodes_per_hour", 10, 10)));
        assert_eq!(over_quota(&Quotas::default(), &u(99, 99, 99), true), None);
    }

    #[test]
    fn the_stored_quota_counts_exits_and_names_the_one_that_would_pass_it() {
        let mut q = StoredQuota { max: 100, used: 60 };
        assert_eq!(q.charge(40), Ok(()));
        assert_eq!(q.used, 100);
        let why = q.charge(1).unwrap_err();
        assert!(
            why.starts_with(
                "tenant quota `max_stored_bytes` = 100 reached (100 stored, this node's exit would add 1)"
            ),
            "{why}"
        );
        assert_eq!(q.used, 100, "a refused exit is not counted");
    }
}
