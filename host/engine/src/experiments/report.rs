//! An experiment's report: each cell's final checkpoints compared against the baseline,
//! across repetitions, and as a matrix.

use super::{ExperimentError, Experiments};
use crate::executor::ExecutionReport;
use std::collections::HashMap;
use wtb_core::experiment::compare;
use wtb_core::experiment::compare::Exit;
use wtb_core::experiment::report::{BaselineDiff, CellReport, ExperimentReport, Finding, MatrixEntry};
use wtb_core::model::{Digest, ExecutionStatus, ExperimentId};

/// A run's exit checkpoints, in order, as compared.
fn exits(r: &ExecutionReport) -> Vec<Exit<'_>> {
    r.checkpoints
        .iter()
        .filter(|c| c.checkpoint.kind == wtb_core::model::CheckpointKind::Exit)
        .map(|c| Exit { node: &c.checkpoint.node, state: &c.checkpoint.state, files: &c.files })
        .collect()
}

impl Experiments<'_> {
    /// Compares the experiment's cells: against the baseline, across repetitions, as a matrix.
    pub async fn report(&self, id: ExperimentId) -> Result<ExperimentReport, ExperimentError> {
        let record = self.get(id).await?;
        let spec = &record.spec;
        let runs = self.cell_executions(id).await?;
        let mut cells = Vec::new();
        let mut finals = HashMap::new();
        for (variant, environment, repetition) in spec.cells() {
            let key = (variant.clone(), environment.clone(), repetition);
            let deterministic = spec
                .environments
                .iter()
                .any(|e| e.name == environment && (e.seed.is_some() || e.clock.is_some()));
            let mut cell = CellReport {
                variant,
                environment,
                repetition,
                execution: None,
                status: ExecutionStatus::Pending,
                error: None,
                deterministic,
                guest_ms: 0.0,
                peak_memory_bytes: 0,
                fuel: None,
                outcome: "-".into(),
                vs_baseline: None,
            };
            if let Some((execution, _)) = runs.get(&key) {
                let r = self.exec.inspect().describe(*execution).await?;
                cell.execution = Some(*execution);
                cell.status = r.execution.status;
                cell.error = r.execution.error.clone();
                // The execution's own record: a workflow with `seed` is deterministic too.
                cell.deterministic = r.execution.environment.is_deterministic();
                cell.guest_ms =
                    r.nodes.iter().filter_map(|n| n.boundary.guest_micros).sum::<u64>() as f64 / 1000.0;
                cell.peak_memory_bytes =
                    r.nodes.iter().filter_map(|n| n.boundary.peak_memory_bytes).max().unwrap_or(0);
                cell.fuel = r.nodes.iter().map(|n| n.boundary.fuel_used).sum();
                // Only an ended cell has an outcome to compare: one still running is not
                // different from the baseline or from its other repetitions yet.
                if r.execution.status.is_final() {
                    finals.insert(key, r);
                }
            }
            cells.push(cell);
        }
        let outcome_of = |k: &(String, String, u32)| {
            let r = finals.get(k)?;
            r.checkpoints
                .last()
                .map(|c| compare::outcome_digest(r.execution.status.as_str(), &c.checkpoint.state, &c.files))
        };
        let keys: Vec<(String, String, u32)> =
            cells.iter().map(|c| (c.variant.clone(), c.environment.clone(), c.repetition)).collect();
        let digests: Vec<Option<Digest>> = keys.iter().map(outcome_of).collect();
        let present: Vec<Digest> = digests.iter().flatten().copied().collect();
        let mut labels = compare::group_labels(&present).into_iter();
        for (cell, d) in cells.iter_mut().zip(&digests) {
            if d.is_some() {
                cell.outcome = labels.next().unwrap_or_default();
            }
        }
        let baseline_key = (spec.baseline.0.clone(), spec.baseline.1.clone(), 1);
        if let Some(base_cp) =
            finals.get(&baseline_key).and_then(|r| r.checkpoints.last()).map(|c| c.checkpoint.id)
        {
            for cell in cells.iter_mut().filter(|c| c.execution.is_some()) {
                let key = (cell.variant.clone(), cell.environment.clone(), cell.repetition);
                if key == baseline_key {
                    continue;
                }
                if let Some(cp) = finals.get(&key).and_then(|r| r.checkpoints.last()).map(|c| c.checkpoint.id)
                {
                    let d = self.exec.inspect().diff(base_cp, cp).await?;
                    cell.vs_baseline = Some(BaselineDiff { state: d.state.lines, files: d.files });
                }
            }
        }
        let mut matrix = Vec::new();
        let mut nondeterminism = Vec::new();
        for v in &spec.variants {
            for e in &spec.environments {
                let reps: Vec<&CellReport> =
                    cells.iter().filter(|c| c.variant == v.name && c.environment == e.name).collect();
                matrix.push(MatrixEntry {
                    variant: v.name.clone(),
                    environment: e.name.clone(),
                    outcomes: reps.iter().map(|c| c.outcome.clone()).collect(),
                });
                let first = (v.name.clone(), e.name.clone(), 1);
                let Some(a) = finals.get(&first) else { continue };
                let exits_a = exits(a);
                for rep in 2..=spec.repetitions {
                    let Some(b) = finals.get(&(v.name.clone(), e.name.clone(), rep)) else { continue };
                    if let Some(divergence) = compare::first_divergence(&exits_a, &exits(b)) {
                        let deterministic = [a, b].iter().all(|r| r.execution.environment.is_deterministic());
                        nondeterminism.push(Finding {
                            variant: v.name.clone(),
                            environment: e.name.clone(),
                            repetitions: (1, rep),
                            divergence,
                            deterministic,
                        });
                    }
                }
            }
        }
        let mut problems = Vec::new();
        let pending = cells.iter().filter(|c| c.execution.is_none()).count();
        if pending > 0 {
            problems.push(format!("{pending} cell(s) have not run (wtb experiment resume {id})"));
        }
        let unfinished = cells.iter().filter(|c| c.execution.is_some() && !c.status.is_final()).count();
        if unfinished > 0 {
            problems.push(format!("{unfinished} cell(s) have not ended"));
        }
        for f in nondeterminism.iter().filter(|f| f.deterministic) {
            problems.push(format!(
                "{} × {} is deterministic, yet repetitions {} and {} differ",
                f.variant, f.environment, f.repetitions.0, f.repetitions.1
            ));
        }
        let workflow = spec.workflow.clone();
        Ok(ExperimentReport {
            id,
            name: record.name.clone(),
            workflow,
            created_at: record.created_at,
            baseline: spec.baseline.clone(),
            cells,
            matrix,
            nondeterminism,
            passed: problems.is_empty(),
            problems,
        })
    }
}
