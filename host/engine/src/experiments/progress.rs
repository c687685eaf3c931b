//! How far an experiment has got: each cell's execution and status, without the comparisons
//! of the report, so a live view can ask often.

use super::{ExperimentError, Experiments};
use serde::Serialize;
use wtb_core::model::{ExecutionId, ExecutionStatus, ExperimentId};

/// One cell's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CellProgress {
    /// Its variant.
    pub variant: String,
    /// Its environment.
    pub environment: String,
    /// Its repetition, from 1.
    pub repetition: u32,
    /// Its execution, once started.
    pub execution: Option<ExecutionId>,
    /// The execution's status (`pending` before it starts).
    pub status: ExecutionStatus,
}

/// Every cell's progress, in matrix order.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// The cells.
    pub cells: Vec<CellProgress>,
    /// How many have a final status (completed, failed or cancelled).
    pub finished: usize,
}

impl Progress {
    /// Whether every cell has ended: nothing more will change.
    pub fn is_done(&self) -> bool {
        self.finished == self.cells.len()
    }
}

impl Experiments<'_> {
    /// Each cell's execution and status now.
    pub async fn progress(&self, id: ExperimentId) -> Result<Progress, ExperimentError> {
        let record = self.get(id).await?;
        let mut runs = self.cell_executions(id).await?;
        let cells: Vec<CellProgress> = record
            .spec
            .cells()
            .into_iter()
            .map(|key| {
                let run = runs.remove(&key);
                let (variant, environment, repetition) = key;
                CellProgress {
                    variant,
                    environment,
                    repetition,
                    execution: run.map(|(e, _)| e),
                    status: run.map_or(ExecutionStatus::Pending, |(_, s)| s),
                }
            })
            .collect();
        let finished = cells.iter().filter(|c| c.status.is_final()).count();
        Ok(Progress { cells, finished })
    }
}
