//! What stays live when an execution goes back to a checkpoint (rollback), or what a fork
//! copies. Pure.
//!
//! The answer is the history that was durable right after the transaction that wrote the
//! target: every checkpoint up to its seq, plus the entries that transaction (or an earlier
//! one) wrote with a higher seq — the successors of an exit, a retry's next attempt, the
//! entries of a fan-out's other branches. An entry is written in the transaction of its last
//! parent, so "every parent at or before the target" is exactly that. Node attempts that had
//! started then but finished later are open again, and branches waiting at a join then are
//! waiting again: resuming is the crash recovery the engine already does.

use crate::model::{Checkpoint, CheckpointId, CheckpointKind, NodeBoundary};
use std::collections::HashSet;

/// The live checkpoints of an execution after going back to `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewind {
    /// Checkpoints that stay live.
    pub keep: HashSet<CheckpointId>,
    /// Live checkpoints that become superseded, in seq order.
    pub supersede: Vec<CheckpointId>,
}

/// What happens to one live node attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptFate {
    /// Entirely before the target: kept as it is.
    Keep,
    /// Started before, finished after: superseded, and its entry gets a new open attempt.
    Reopen,
    /// Started after: superseded.
    Supersede,
}

impl Rewind {
    /// Plans going back to `target` among `live` (an execution's live checkpoints).
    pub fn to(live: &[Checkpoint], target: &Checkpoint) -> Self {
        let seq_of: std::collections::HashMap<CheckpointId, u32> =
            live.iter().map(|c| (c.id, c.seq)).collect();
        let at_or_before = |id: &CheckpointId| seq_of.get(id).is_some_and(|&s| s <= target.seq);
        let mut keep = HashSet::new();
        let mut supersede = Vec::new();
        let mut ordered: Vec<&Checkpoint> = live.iter().collect();
        ordered.sort_by_key(|c| c.seq);
        for c in ordered {
            let written_with_target = c.kind == CheckpointKind::Entry
                && !c.parents.is_empty()
                && c.parents.iter().all(at_or_before);
            if c.seq <= target.seq || written_with_target {
                keep.insert(c.id);
            } else {
                supersede.push(c.id);
            }
        }
        Self { keep, supersede }
    }

    /// The fate of a live node attempt.
    pub fn attempt(&self, b: &NodeBoundary) -> AttemptFate {
        if !self.keep.contains(&b.entry_checkpoint) {
            AttemptFate::Supersede
        } else if b.exit_checkpoint.is_some_and(|exit| !self.keep.contains(&exit)) {
            AttemptFate::Reopen
        } else {
            AttemptFate::Keep
        }
    }

    /// The kept entry checkpoints no kept exit closes: the attempts a resume runs.
    pub fn open_entries<'a>(&self, live: &'a [Checkpoint]) -> Vec<&'a Checkpoint> {
        let closed: HashSet<CheckpointId> = live
            .iter()
            .filter(|c| c.kind == CheckpointKind::Exit && self.keep.contains(&c.id))
            .flat_map(|c| c.parents.iter().copied())
            .collect();
        live.iter()
            .filter(|c| {
                c.kind == CheckpointKind::Entry && self.keep.contains(&c.id) && !closed.contains(&c.id)
            })
            .collect()
    }

    /// Whether a branch that arrived at a join with exit `arrival` still waits there: its exit
    /// is kept and no kept join entry consumed it. `None`: the arrival is superseded.
    pub fn still_waiting(&self, arrival: CheckpointId, live: &[Checkpoint]) -> Option<bool> {
        if !self.keep.contains(&arrival) {
            return None;
        }
        let consumed = live.iter().any(|c| {
            c.kind == CheckpointKind::Entry && self.keep.contains(&c.id) && c.parents.contains(&arrival)
        });
        Some(!consumed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptStatus, BoundaryId, ExecutionId, FileCommitId, Timestamp};
    use serde_json::json;

    fn cp(seq: u32, kind: CheckpointKind, parents: &[&Checkpoint]) -> Checkpoint {
        Checkpoint {
            id: CheckpointId::from_uuid(uuid::Uuid::from_u128(u128::from(seq))),
            execution: ExecutionId::from_uuid(uuid::Uuid::from_u128(7)),
            seq,
            node: format!("n{seq}"),
            kind,
            attempt: 1,
            state: json!({}).into(),
            file_commit: FileCommitId::from_uuid(uuid::Uuid::from_u128(1)),
            lane: 0,
            forks: Vec::new(),
            parents: parents.iter().map(|p| p.id).collect(),
            created_at: Timestamp::from_micros(0),
            state_link: Default::default(),
        }
    }

    fn boundary(entry: &Checkpoint, exit: Option<&Checkpoint>) -> NodeBoundary {
        let mut b = NodeBoundary::opened(BoundaryId::from_uuid(uuid::Uuid::from_u128(99)), entry);
        b.exit_checkpoint = exit.map(|e| e.id);
        b.status = if exit.is_some() { AttemptStatus::Succeeded } else { AttemptStatus::Running };
        b
    }

    use CheckpointKind::{Entry, Exit};

    #[test]
    fn a_linear_run_keeps_its_prefix_and_the_entry_written_with_an_exit() {
        let e1 = cp(1, Entry, &[]);
        let x2 = cp(2, Exit, &[&e1]);
        let e3 = cp(3, Entry, &[&x2]);
        let x4 = cp(4, Exit, &[&e3]);
        let live = vec![e1.clone(), x2.clone(), e3.clone(), x4.clone()];
        // Back to the first node's exit: the second node's entry was written with it.
        let r = Rewind::to(&live, &x2);
        assert_eq!(r.supersede, vec![x4.id]);
        assert_eq!(r.open_entries(&live).iter().map(|c| c.id).collect::<Vec<_>>(), [e3.id]);
        assert_eq!(r.attempt(&boundary(&e3, Some(&x4))), AttemptFate::Reopen);
        assert_eq!(r.attempt(&boundary(&e1, Some(&x2))), AttemptFate::Keep);
        // Back to the first node's entry: it runs again.
        let r = Rewind::to(&live, &e1);
        assert_eq!(r.supersede, vec![x2.id, e3.id, x4.id]);
        assert_eq!(r.attempt(&boundary(&e1, Some(&x2))), AttemptFate::Reopen);
        assert_eq!(r.attempt(&boundary(&e3, Some(&x4))), AttemptFate::Supersede);
    }

    #[test]
    fn a_branch_of_a_fan_out_keeps_its_siblings_and_puts_join_arrivals_back() {
        let e1 = cp(1, Entry, &[]);
        let fork = cp(2, Exit, &[&e1]);
        let a = cp(3, Entry, &[&fork]);
        let b = cp(4, Entry, &[&fork]);
        let ax = cp(5, Exit, &[&a]);
        let bx = cp(6, Exit, &[&b]);
        let join = cp(7, Entry, &[&ax, &bx]);
        let live = vec![e1, fork, a.clone(), b.clone(), ax.clone(), bx.clone(), join.clone()];
        // Back to branch `a`'s entry: `b`'s entry (same transaction) stays, `b` runs again.
        let r = Rewind::to(&live, &a);
        assert!(r.keep.contains(&b.id) && !r.keep.contains(&ax.id));
        assert_eq!(r.attempt(&boundary(&b, Some(&bx))), AttemptFate::Reopen);
        // Back to `a`'s exit: it waits at the join again; `b`'s exit is superseded.
        let r = Rewind::to(&live, &ax);
        assert_eq!(r.still_waiting(ax.id, &live), Some(true));
        assert_eq!(r.still_waiting(bx.id, &live), None);
        // Back to the last exit: the join's entry was written with it and consumed both.
        let r = Rewind::to(&live, &bx);
        assert!(r.keep.contains(&join.id));
        assert_eq!(r.still_waiting(ax.id, &live), Some(false));
    }
}
