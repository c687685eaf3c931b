//! Which executions retention keeps: pure, over a list of candidates the store reads and a
//! policy the runtime config names.

use crate::model::{ExecutionId, ExecutionStatus, TenantId, Timestamp};
use std::collections::{HashMap, HashSet};

/// `[retention]`: an execution is kept if *any* rule keeps it; with no rule set, all are.
/// Running, paused and pending executions, forks' parents of kept executions and executions
/// with undelivered events are always kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Keep executions created in the last D days.
    pub keep_days: Option<u64>,
    /// Keep the newest N executions of each workflow (by name).
    pub keep_last: Option<u32>,
    /// Long-running processes run the GC this often (s; 0: never).
    pub interval_seconds: u64,
}

/// One execution as retention sees it ([`retained`] decides over these).
#[derive(Clone, Debug)]
pub struct ExecutionFacts {
    /// The execution.
    pub id: ExecutionId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its workflow's name.
    pub workflow: String,
    /// Its status.
    pub status: ExecutionStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// The execution it was forked from.
    pub parent: Option<ExecutionId>,
}

/// Why an execution is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// No retention rule is configured.
    NoPolicy,
    /// Pending, running or paused.
    Active,
    /// Its events are not all delivered.
    Undelivered,
    /// Younger than `keep_days`.
    Recent,
    /// Among the newest `keep_last` of its workflow.
    Newest,
    /// A kept execution was forked from it (its checkpoints are the fork's history).
    ForkParent,
}

/// The executions to keep, each with its reason; the others expire. `undelivered`: those with
/// events not yet delivered to every configured sink.
pub fn retained(
    candidates: &[ExecutionFacts],
    undelivered: &HashSet<ExecutionId>,
    policy: &RetentionConfig,
    now: Timestamp,
) -> HashMap<ExecutionId, Keep> {
    if policy.keep_days.is_none() && policy.keep_last.is_none() {
        return candidates.iter().map(|c| (c.id, Keep::NoPolicy)).collect();
    }
    let mut keep: HashMap<ExecutionId, Keep> = HashMap::new();
    let cutoff = policy.keep_days.map(|d| {
        Timestamp::from_micros(now.micros().saturating_sub(
            i64::try_from(d).unwrap_or(i64::MAX / 86_400_000_000).saturating_mul(86_400_000_000),
        ))
    });
    for c in candidates {
        let reason = if !c.status.is_final() {
            Some(Keep::Active)
        } else if undelivered.contains(&c.id) {
            Some(Keep::Undelivered)
        } else if cutoff.is_some_and(|t| c.created_at >= t) {
            Some(Keep::Recent)
        } else {
            None
        };
        if let Some(r) = reason {
            keep.insert(c.id, r);
        }
    }
    if let Some(n) = policy.keep_last {
        let mut by_workflow: HashMap<(TenantId, &str), Vec<&ExecutionFacts>> = HashMap::new();
        for c in candidates {
            by_workflow.entry((c.tenant, c.workflow.as_str())).or_default().push(c);
        }
        for runs in by_workflow.values_mut() {
            runs.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
            for c in runs.iter().take(n as usize) {
                keep.entry(c.id).or_insert(Keep::Newest);
            }
        }
    }
    // Forks' parents, transitively.
    let parent: HashMap<ExecutionId, ExecutionId> =
        candidates.iter().filter_map(|c| Some((c.id, c.parent?))).collect();
    let mut todo: Vec<ExecutionId> = keep.keys().copied().collect();
    let mut seen: HashSet<ExecutionId> = todo.iter().copied().collect();
    while let Some(id) = todo.pop() {
        if let Some(&p) = parent.get(&id) {
            keep.entry(p).or_insert(Keep::ForkParent);
            if seen.insert(p) {
                todo.push(p);
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExecutionStatus;

    const DAY: i64 = 86_400_000_000;

    fn cand(
        n: u128,
        workflow: &str,
        status: ExecutionStatus,
        age_days: i64,
        parent: Option<u128>,
    ) -> ExecutionFacts {
        ExecutionFacts {
            id: ExecutionId::from_uuid(uuid::Uuid::from_u128(n)),
            tenant: TenantId::DEFAULT,
            workflow: workflow.into(),
            status,
            created_at: Timestamp::from_micros(100 * DAY - age_days * DAY),
            parent: parent.map(|p| ExecutionId::from_uuid(uuid::Uuid::from_u128(p))),
        }
    }

    fn kept(cands: &[ExecutionFacts], undelivered: &[u128], policy: RetentionConfig) -> Vec<(u128, Keep)> {
        let undelivered =
            undelivered.iter().map(|n| ExecutionId::from_uuid(uuid::Uuid::from_u128(*n))).collect();
        let mut v: Vec<(u128, Keep)> =
            retained(cands, &undelivered, &policy, Timestamp::from_micros(100 * DAY))
                .into_iter()
                .map(|(id, k)| (id.uuid().as_u128(), k))
                .collect();
        v.sort_by_key(|(n, _)| *n);
        v
    }

    #[test]
    fn no_rule_keeps_everything() {
        let c = [cand(1, "a", ExecutionStatus::Completed, 400, None)];
        assert_eq!(kept(&c, &[], RetentionConfig::default()), vec![(1, Keep::NoPolicy)]);
    }

    #[test]
    fn rules_union_and_active_undelivered_and_fork_parents_are_kept() {
        use ExecutionStatus::*;
        let c = vec![
            cand(1, "a", Completed, 50, None),
            cand(2, "a", Failed, 40, None),
            cand(3, "a", Completed, 30, None),
            cand(4, "a", Completed, 1, None),
            cand(5, "b", Paused, 90, None),
            cand(6, "b", Completed, 80, None),
            cand(7, "b", Cancelled, 70, Some(1)),
            cand(8, "b", Completed, 60, Some(7)),
            cand(9, "c", Completed, 99, None),
        ];
        let policy = RetentionConfig { keep_days: Some(7), keep_last: Some(2), interval_seconds: 0 };
        assert_eq!(
            kept(&c, &[9], policy),
            vec![
                (1, Keep::ForkParent),
                (3, Keep::Newest),
                (4, Keep::Recent),
                (5, Keep::Active),
                (7, Keep::Newest),
                (8, Keep::Newest),
                (9, Keep::Undelivered)
            ],
            "2 (third newest of a) and 6 (b's newest two are 8 and 7; 5 is active) expire; 1 stays as 7's parent"
        );
        let only_days = RetentionConfig { keep_days: Some(35), keep_last: None, interval_seconds: 0 };
        assert_eq!(kept(&c[..4], &[], only_days), vec![(3, Keep::Recent), (4, Keep::Recent)]);
    }
}
