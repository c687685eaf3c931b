//! A group's units merged into one batch: the writers' fast path.
//!
//! A node's exit is about ten statements, and a group commits dozens of exits. Run unit after
//! unit, every statement pays SQLite's fixed cost (a statement journal with a copy of each
//! page it touches, foreign-key bookkeeping, cursor set-up) for one or two rows; the profile of
//! 2,000 short executions showed the commit thread spending most of its time there. Merged,
//! the group's rows of each table go in a few multi-row inserts.
//!
//! The order changes, so it is only done for units whose every statement has a [`Phase`]:
//! all statements of one phase, of every unit, run before those of the next, and within a
//! phase in unit order, except that inserts of the same shape join the first one. A phase
//! refers only to rows of earlier phases, or of its own in earlier units (a file commit's
//! parent), so every statement still finds what it needs. If the merged batch fails, the
//! writers run the group again unit by unit, as before (one savepoint each).

use super::batch::{Batch, CHUNK_BINDS, ROWS_PER_STATEMENT, Statement};
use super::params::Value;

/// Where a statement runs in a merged group (see the module's documentation), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Guards that fail the unit unless what its process assumed still holds (they read
    /// rows no exit writes).
    Guards,
    /// New executions (they name their workflow and parent checkpoint, written before).
    Executions,
    /// Content rows.
    Blobs,
    /// File commits (a commit's parent is an earlier commit, possibly of an earlier unit).
    FileCommits,
    /// Their change rows.
    FileChanges,
    /// Checkpoints (of executions and file commits).
    Checkpoints,
    /// Node attempts opened (or copied whole by a fork), naming their checkpoints.
    OpenBoundaries,
    /// Node attempts closed (opened by an earlier unit, or earlier in this one).
    CloseBoundaries,
    /// Branches arriving at a join.
    Arrivals,
    /// Arrivals a join consumed.
    Consumptions,
    /// Executions' progress (updates of one execution keep their order).
    Progress,
    /// Outbox events.
    Events,
    /// Leases given back (after the progress their units wrote).
    Releases,
    /// Wake-ups of the workers.
    Wakes,
}

/// The units as one batch borrowing their values, or `None` when there is nothing to gain
/// (one unit) or one of them cannot be reordered (a statement without a phase, a bind error).
pub fn merge<'a>(units: &[&'a Batch]) -> Option<Batch<&'a Value>> {
    if units.len() < 2 {
        return None;
    }
    let mut entries: Vec<(Phase, &'a Statement, &'a [Value])> = Vec::new();
    for unit in units {
        if unit.error.is_some() {
            return None;
        }
        let mut next = 0;
        for statement in &unit.statements {
            let values = unit.values.get(next..next + statement.binds)?;
            next += statement.binds;
            entries.push((statement.phase?, statement, values));
        }
    }
    // Stable: within a phase, units stay in order.
    entries.sort_by_key(|(phase, ..)| *phase);
    let mut out = Batch::new();
    for run in entries.chunk_by(|a, b| a.0 == b.0) {
        merge_phase(&mut out, run);
    }
    Some(out)
}

/// One shape of insert in a phase: its parts, how many values a row binds, and every row.
struct Shape<'a> {
    parts: (&'a str, &'a str, &'a str),
    per_row: usize,
    rows: Vec<&'a [Value]>,
}

/// Appends one phase's statements: each shape of insert once, where it first appears, with
/// the rows of every unit; any other statement as it is.
fn merge_phase<'a>(out: &mut Batch<&'a Value>, run: &[(Phase, &'a Statement, &'a [Value])]) {
    enum Slot<'a> {
        Insert(usize),
        Other(&'a Statement, &'a [Value]),
    }
    let mut shapes: Vec<Shape<'a>> = Vec::new();
    let mut slots: Vec<Slot<'a>> = Vec::new();
    for &(_, statement, values) in run {
        let insert = statement
            .shape()
            .zip(statement.rows)
            .filter(|(_, r)| r.count > 0 && statement.binds > 0 && statement.binds % r.count == 0);
        let Some((parts, rows)) = insert else {
            slots.push(Slot::Other(statement, values));
            continue;
        };
        let per_row = statement.binds / rows.count;
        let at = match shapes.iter().position(|s| s.parts == parts && s.per_row == per_row) {
            Some(at) => at,
            None => {
                shapes.push(Shape { parts, per_row, rows: Vec::new() });
                slots.push(Slot::Insert(shapes.len() - 1));
                shapes.len() - 1
            }
        };
        shapes[at].rows.extend(values.chunks(per_row));
    }
    let phase = run[0].0;
    for slot in slots {
        match slot {
            Slot::Insert(at) => insert_rows(out, phase, &shapes[at]),
            Slot::Other(statement, values) => {
                out.statement_in(phase, &statement.sql);
                for v in values {
                    out.push(v);
                }
            }
        }
    }
}

/// Appends `shape`'s rows as inserts of a power-of-two number of rows each (at most
/// [`ROWS_PER_STATEMENT`] and [`CHUNK_BINDS`] values), largest first: a writer then meets a
/// handful of statement texts per table, which its caches of prepared statements keep.
fn insert_rows<'a>(out: &mut Batch<&'a Value>, phase: Phase, shape: &Shape<'a>) {
    let most = (CHUNK_BINDS / shape.per_row).clamp(1, ROWS_PER_STATEMENT);
    let most = 1 << most.ilog2();
    let (head, row, tail) = shape.parts;
    let mut rest = &shape.rows[..];
    while !rest.is_empty() {
        let n = (1 << rest.len().ilog2()).min(most);
        let (now, later) = rest.split_at(n);
        out.rows(phase, head, row, n, tail);
        for v in now.iter().flat_map(|r| r.iter()) {
            out.push(v);
        }
        rest = later;
    }
}

#[cfg(test)]
mod tests;
