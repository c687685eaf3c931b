//! The ends of the line: a failed attempt (a retry entry with backoff, or the execution's
//! failure), the execution failing, and the execution completing when nothing is left to run.

use super::ExecError;
use super::attempt::{Failure, Task};
use super::boundary::Entry;
use super::commit::ExitTx;
use super::drive::{Drive, Stop};
use serde_json::json;
use wtb_core::model::{AttemptStatus, CheckpointKind, EventKind, ExecutionStatus, NodeBoundary};
use wtb_runtime::AttemptReport;

impl Drive<'_> {
    pub(super) async fn failed(
        &mut self,
        task: Task,
        failure: Failure,
        report: AttemptReport,
    ) -> Result<(), ExecError> {
        let mut tx = ExitTx::default();
        let exit = self.unchanged_exit(&task.entry);
        let boundary = NodeBoundary {
            trap: failure.trap,
            error: Some(failure.error.clone()),
            ..self.closed(&task, exit.id, failure.status, &report)
        };
        let spec = &self.wf.nodes[task.node].spec;
        let attempt = task.boundary.attempt;
        let retry = failure.retryable
            && attempt < spec.retry.max_attempts
            && !matches!(self.stop, Some(Stop::Cancel | Stop::Fail(_)));
        let delay = spec.retry.backoff(attempt);
        let message = format!("node `{}` {}", spec.id, failure.describe());
        let event = self.event(
            EventKind::NodeFailed,
            json!({
                "node": spec.id, "attempt": attempt, "checkpoint": exit.id, "status": failure.status,
                "trap": failure.trap, "error": failure.error,
                "retry_in_ms": retry.then_some(delay.as_millis() as u64),
            }),
        );
        tx.events.push(event);
        tx.closed.push(boundary);
        tx.checkpoints.push(exit.clone());
        let (lane, entry_commit, tree) = (task.entry.lane, task.entry.file_commit, task.tree.clone());
        if retry {
            let state = task.entry.state.clone();
            let again = Entry {
                node: task.node,
                state,
                file_commit: entry_commit,
                tree: task.tree,
                depth: task.depth,
                lane,
                forks: task.entry.forks,
                parents: vec![exit.id],
                attempt: attempt + 1,
                delay,
            };
            if let Err(why) = self.open(&mut tx, again, Some(&exit)) {
                self.decide_fail(&mut tx, why);
            }
        } else if failure.status != AttemptStatus::Cancelled || self.stop.is_none() {
            self.decide_fail(&mut tx, message);
        }
        self.maybe_complete(&mut tx);
        self.issue(tx);
        if !retry {
            self.restore_lane(lane, entry_commit, tree).await?;
        }
        Ok(())
    }

    /// The execution fails: status and event in `tx`, every other branch stopped.
    pub(crate) fn decide_fail(&mut self, tx: &mut ExitTx, why: String) {
        if matches!(self.stop, Some(Stop::Fail(_))) {
            return;
        }
        self.close_ready(tx, "stopped: another branch failed");
        let event = self.event(EventKind::ExecutionFailed, json!({ "error": why }));
        tx.events.push(event);
        tx.end = Some((ExecutionStatus::Failed, Some(why.clone())));
        self.stop = Some(Stop::Fail(why));
        self.cancel_running();
    }

    /// When nothing is left to run and no stop is pending, the execution ends here: completed,
    /// or failed if a join still waits for inputs that can no longer come.
    pub(crate) fn maybe_complete(&mut self, tx: &mut ExitTx) {
        if self.stop.is_some() || !self.idle() || tx.end.is_some() {
            return;
        }
        let stuck: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(e, q)| {
                format!(
                    "`{}` (from `{}`)",
                    self.wf.manifest.graph.name(self.wf.manifest.graph.edge(*e).to),
                    q[0].node
                )
            })
            .collect();
        if !stuck.is_empty() {
            self.decide_fail(
                tx,
                format!(
                    "every branch ended, but joins still wait for their other inputs: {}",
                    stuck.join(", ")
                ),
            );
            return;
        }
        let last = tx.checkpoints.iter().rev().find(|c| c.kind == CheckpointKind::Exit).map(|c| c.id);
        let event = self.event(EventKind::ExecutionCompleted, json!({ "checkpoint": last }));
        tx.events.push(event);
        tx.end = Some((ExecutionStatus::Completed, None));
    }
}
