//! Executions and the workflows they run.

use super::{CheckpointId, ExecutionId, TenantId, Timestamp, WorkflowId, text_enum};
use crate::model::Digest;

/// Where an execution is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Created, not started.
    Pending,
    /// Nodes are being run (or the host died while they were: resumable).
    Running,
    /// Stopped at a node boundary by request.
    Paused,
    /// Every node completed.
    Completed,
    /// Stopped by a node failure.
    Failed,
    /// Stopped by request.
    Cancelled,
}
text_enum!(ExecutionStatus, "execution status", {
    Pending => "pending",
    Running => "running",
    Paused => "paused",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

/// What happens to an execution; [`ExecutionStatus::apply`] says where it leads.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Its first node starts (or it resumes after a crash: running stays running).
    Start,
    /// A pause request or breakpoint took effect at a node boundary.
    Pause,
    /// `wtb resume` continued a paused execution.
    Resume,
    /// Every branch ended.
    Complete,
    /// A node failed for good, or a route or join could not be followed.
    Fail,
    /// `wtb cancel`.
    Cancel,
    /// `wtb rollback`: back to a checkpoint, paused there (also from a final status).
    RollBack,
}

impl Transition {
    /// The transition as a verb, for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Complete => "complete",
            Self::Fail => "fail",
            Self::Cancel => "cancel",
            Self::RollBack => "roll back",
        }
    }
}

/// A transition the status model forbids, e.g. resuming a completed execution.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("cannot {} an execution that is {from}", .transition.verb())]
pub struct IllegalTransition {
    /// The status it was in.
    pub from: ExecutionStatus,
    /// What was asked.
    pub transition: Transition,
}

impl ExecutionStatus {
    /// The status after `t`: pending → running → (paused ⇄ running) → completed | failed |
    /// cancelled. The three final statuses accept only a rollback, which (like one of a paused
    /// execution) leaves it paused at the checkpoint; a running one must be paused first.
    pub fn apply(self, t: Transition) -> Result<Self, IllegalTransition> {
        use ExecutionStatus as S;
        use Transition as T;
        match (self, t) {
            (S::Pending | S::Running, T::Start) => Ok(S::Running),
            (S::Running, T::Pause) => Ok(S::Paused),
            (S::Paused, T::Resume) => Ok(S::Running),
            (S::Running, T::Complete) => Ok(S::Completed),
            (S::Running, T::Fail) => Ok(S::Failed),
            (S::Pending | S::Running | S::Paused, T::Cancel) => Ok(S::Cancelled),
            (S::Paused | S::Completed | S::Failed | S::Cancelled, T::RollBack) => Ok(S::Paused),
            (from, transition) => Err(IllegalTransition { from, transition }),
        }
    }

    /// Completed, failed or cancelled: nothing more will run.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// One run of a workflow.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Execution {
    /// Its id.
    pub id: ExecutionId,
    /// Its owner.
    pub tenant: TenantId,
    /// The validated workflow it runs (stored, so the run can be explained later).
    pub workflow: WorkflowId,
    /// Where it is.
    pub status: ExecutionStatus,
    /// The node to run next (the one whose entry checkpoint is the latest); `None` when done.
    pub cursor: Option<String>,
    /// For a fork: the checkpoint of another execution it started from.
    pub parent_checkpoint: Option<CheckpointId>,
    /// For a fork: the execution that checkpoint belongs to (so forks list by parent).
    pub parent_execution: Option<ExecutionId>,
    /// For experiments: the variant this execution runs.
    pub variant: Option<String>,
    /// What its nodes see beyond the workflow (the deterministic-mode seed, ...).
    pub environment: Environment,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its row last changed.
    pub updated_at: Timestamp,
}

/// What an execution's nodes see beyond the workflow itself. Stored as JSON, so experiments
/// can add overrides (env, clock, limits) without a schema change; unknown keys are kept out
/// of the way rather than refused, so an older `wtb` can still read a newer row.
#[derive(Clone, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Environment {
    /// Deterministic mode: the seed clocks and random derive from (`None`: real ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Deterministic mode's wall-clock start, seconds since the Unix epoch (`None`: derived
    /// from the seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<u64>,
    /// The experiment cell this execution is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<CellTag>,
}

/// Which cell of which experiment an execution runs.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CellTag {
    /// The experiment.
    pub experiment: super::ExperimentId,
    /// Its variant.
    pub variant: String,
    /// Its environment.
    pub environment: String,
    /// Its repetition, from 1.
    pub repetition: u32,
}

impl Environment {
    /// Whether clocks and random were fixed (a seed or a clock set).
    pub fn is_deterministic(&self) -> bool {
        self.seed.is_some() || self.clock.is_some()
    }

    /// Whether nothing is set (stored as NULL).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A validated workflow manifest as stored: content-hashed, so re-registering the same
/// manifest reuses the row and a later edit of the file cannot change what a past run ran.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct WorkflowRecord {
    /// Its id.
    pub id: WorkflowId,
    /// Its owner.
    pub tenant: TenantId,
    /// The manifest's `name`.
    pub name: String,
    /// SHA-256 of `definition`.
    pub digest: Digest,
    /// The validated workflow as canonical JSON (components by digest).
    pub definition: serde_json::Value,
    /// When it was first stored.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionStatus as S;
    use Transition as T;

    #[test]
    fn every_transition_is_decided() {
        let statuses = [S::Pending, S::Running, S::Paused, S::Completed, S::Failed, S::Cancelled];
        let transitions = [T::Start, T::Pause, T::Resume, T::Complete, T::Fail, T::Cancel, T::RollBack];
        let legal = [
            (S::Pending, T::Start, S::Running),
            (S::Running, T::Start, S::Running),
            (S::Running, T::Pause, S::Paused),
            (S::Paused, T::Resume, S::Running),
            (S::Running, T::Complete, S::Completed),
            (S::Running, T::Fail, S::Failed),
            (S::Pending, T::Cancel, S::Cancelled),
            (S::Running, T::Cancel, S::Cancelled),
            (S::Paused, T::Cancel, S::Cancelled),
            (S::Paused, T::RollBack, S::Paused),
            (S::Completed, T::RollBack, S::Paused),
            (S::Failed, T::RollBack, S::Paused),
            (S::Cancelled, T::RollBack, S::Paused),
        ];
        for from in statuses {
            for t in transitions {
                let expected = legal.iter().find(|(f, tr, _)| *f == from && *tr == t).map(|(_, _, to)| *to);
                match expected {
                    Some(to) => assert_eq!(from.apply(t), Ok(to), "{from} {t:?}"),
                    None => assert_eq!(
                        from.apply(t),
                        Err(IllegalTransition { from, transition: t }),
                        "{from} {t:?}"
                    ),
                }
            }
        }
        assert_eq!(
            S::Completed.apply(T::Resume).unwrap_err().to_string(),
            "cannot resume an execution that is completed"
        );
        assert_eq!(
            S::Running.apply(T::RollBack).unwrap_err().to_string(),
            "cannot roll back an execution that is running"
        );
        assert!(statuses.iter().filter(|s| s.is_final()).count() == 3);
    }
}
