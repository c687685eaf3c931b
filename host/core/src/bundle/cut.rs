//! A history cut at a checkpoint: what a bundle of that checkpoint holds. The cut is the
//! rollback plan ([`Rewind`]) applied to the recorded rows: the checkpoints durable right after
//! the point's transaction stay, attempts that finished later are open again, later ones and
//! their events are left out, and the execution is paused where a resume would go on — so an
//! imported bundle of a checkpoint resumes (or forks) from exactly there.

use super::{BundledArrival, BundledEvent, History};
use crate::history::{AttemptFate, Rewind};
use crate::model::{BoundaryId, Checkpoint, CheckpointId, CheckpointKind, ExecutionStatus, NodeBoundary};

impl History {
    /// This history as it was right after checkpoint `point` (one of its checkpoints) was
    /// written; reopened attempts take their ids from `next_id`. Unknown `point`: unchanged.
    pub fn cut(mut self, point: CheckpointId, next_id: &mut dyn FnMut() -> BoundaryId) -> Self {
        let Some(target) = self.checkpoints.iter().find(|c| c.id == point).cloned() else { return self };
        let plan = Rewind::to(&self.checkpoints, &target);
        let mut boundaries = Vec::with_capacity(self.boundaries.len());
        for b in std::mem::take(&mut self.boundaries) {
            match plan.attempt(&b) {
                AttemptFate::Keep => boundaries.push(b),
                AttemptFate::Supersede => {}
                AttemptFate::Reopen => {
                    if let Some(entry) = self.checkpoints.iter().find(|c| c.id == b.entry_checkpoint) {
                        boundaries.push(NodeBoundary::opened(next_id(), entry));
                    }
                }
            }
        }
        let checkpoints = std::mem::take(&mut self.checkpoints);
        self.arrivals = std::mem::take(&mut self.arrivals)
            .into_iter()
            .filter_map(|a| {
                let waiting = plan.still_waiting(a.checkpoint, &checkpoints)?;
                Some(BundledArrival { consumed: !waiting, ..a })
            })
            .collect();
        if let Some(last) = last_event(&self.events, &target, &checkpoints) {
            self.events.retain(|e| e.seq <= last);
        }
        self.checkpoints = checkpoints.into_iter().filter(|c| plan.keep.contains(&c.id)).collect();
        let open: Vec<&str> =
            boundaries.iter().filter(|b| b.exit_checkpoint.is_none()).map(|b| b.node.as_str()).collect();
        if !open.is_empty() {
            self.execution.status = ExecutionStatus::Paused;
            self.execution.cursor = Some(open.join(","));
            self.execution.error = None;
        }
        self.boundaries = boundaries;
        self
    }
}

/// The seq of the last event of the transaction that wrote `target`: an exit's transaction
/// starts with its `node.completed` event (an entry's is its last parent's), followed by that
/// node's `files.committed` and guest events; the first entry's is the `execution.started`
/// one. `None` when the events do not say (then all are kept).
fn last_event(events: &[BundledEvent], target: &Checkpoint, checkpoints: &[Checkpoint]) -> Option<u32> {
    let anchor = match target.kind {
        CheckpointKind::Exit => Some(target.id),
        CheckpointKind::Entry => target
            .parents
            .iter()
            .filter_map(|p| checkpoints.iter().find(|c| c.id == *p))
            .max_by_key(|c| c.seq)
            .map(|c| c.id),
    };
    let Some(anchor) = anchor else {
        return events.iter().find(|e| e.kind == "execution.started").map(|e| e.seq);
    };
    let anchor = anchor.to_string();
    let mut sorted: Vec<&BundledEvent> = events.iter().collect();
    sorted.sort_by_key(|e| e.seq);
    let start = sorted.iter().position(|e| {
        e.kind == "node.completed" && e.payload["checkpoint"].as_str() == Some(anchor.as_str())
    })?;
    let same_tx = |e: &&&BundledEvent| e.kind == "files.committed" || e.kind.starts_with("guest.");
    let end = sorted[start + 1..].iter().take_while(same_tx).count();
    Some(sorted[start + end].seq)
}
