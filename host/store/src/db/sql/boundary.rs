//! Node boundaries: one row per node attempt, opened with its entry checkpoint and closed in
//! the exit transaction.

use super::DbError;
use super::batch::Batch;
use super::decode::{in_range, in_range_opt, int, parsed, parsed_opt};
use super::merge::Phase;
use super::{Conn, query};
use uuid::Uuid;
use wtb_core::model::{
    AttemptStatus, BoundaryId, CheckpointId, ExecutionId, NodeBoundary, TenantId, Timestamp, TrapKind,
};

/// The condition that an attempt's execution is the bound tenant's (every read takes it).
const OWNED: &str =
    "EXISTS (SELECT 1 FROM executions e WHERE e.id = node_boundaries.execution_id AND e.tenant_id = ?)";

/// The columns an attempt's end decides, in the order [`bind_outcome`] binds them. The start
/// is among them: an attempt opens with its entry checkpoint, but may run only later (after a
/// pause, or once a slot is free), and its row says when it did.
const OUTCOME: &str = "started_at, exit_checkpoint_id, status, trap_kind, error, finished_at, guest_micros, peak_memory_bytes, fuel_used, disk_bytes, files_created, stdout, stderr";
const COLUMNS: &str = "id, execution_id, node_id, attempt, entry_checkpoint_id, \
                       started_at, exit_checkpoint_id, status, trap_kind, error, finished_at, guest_micros, peak_memory_bytes, fuel_used, disk_bytes, files_created, stdout, stderr";

/// Inserts a boundary (normally status `running`, no exit yet).
pub async fn insert(db: &mut Conn<'_>, b: &NodeBoundary) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, b)).await
}

/// [`insert`], appended to a batch.
pub fn insert_into(batch: &mut Batch, b: &NodeBoundary) {
    batch
        .rows(
            Phase::OpenBoundaries,
            &format!("INSERT INTO node_boundaries ({COLUMNS})"),
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            1,
            "",
        )
        .bind(b.id.uuid())
        .bind(b.execution.uuid())
        .bind(b.node.clone())
        .bind(i64::from(b.attempt))
        .bind(b.entry_checkpoint.uuid());
    bind_outcome(batch, b);
}

/// Closes a boundary: writes everything the attempt's end decided.
pub async fn finish(db: &mut Conn<'_>, b: &NodeBoundary) -> Result<(), DbError> {
    Batch::run(db, |batch| finish_into(batch, b)).await
}

/// [`finish`], appended to a batch.
pub fn finish_into(batch: &mut Batch, b: &NodeBoundary) {
    batch.statement_in(
        Phase::CloseBoundaries,
        &format!(
            "UPDATE node_boundaries SET ({OUTCOME}) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?"
        ),
    );
    bind_outcome(batch, b);
    batch.bind(b.id.uuid());
}

/// Binds the [`OUTCOME`] columns, shared by the insert and the update.
fn bind_outcome(batch: &mut Batch, b: &NodeBoundary) {
    batch
        .bind(b.started_at.micros())
        .bind(b.exit_checkpoint.map(|c| c.uuid()))
        .bind(b.status.as_str())
        .bind(b.trap.map(|t| t.as_str()))
        .bind(b.error.clone())
        .bind(b.finished_at.map(|t| t.micros()))
        .bind(b.guest_micros.map(int))
        .bind(b.peak_memory_bytes.map(int))
        .bind(b.fuel_used.map(int))
        .bind(b.disk_bytes.map(int))
        .bind(b.files_created.map(int))
        .bind(b.stdout.clone())
        .bind(b.stderr.clone());
}

/// An execution's live boundaries (not superseded by a rollback) in the order they started.
pub async fn list_for_execution(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<NodeBoundary>, DbError> {
    let rows = query(format!("SELECT {COLUMNS} FROM node_boundaries WHERE execution_id = ? AND superseded_at IS NULL AND {OWNED} ORDER BY started_at, id"))
        .bind(execution.uuid())
        .bind(tenant.uuid())
        .fetch_all::<Row>(db)
        .await?;
    rows.into_iter().map(NodeBoundary::try_from).collect()
}

/// A `node_boundaries` row as stored.
#[derive(sqlx_macros::FromRow)]
struct Row {
    id: Uuid,
    execution_id: Uuid,
    node_id: String,
    attempt: i64,
    entry_checkpoint_id: Uuid,
    exit_checkpoint_id: Option<Uuid>,
    status: String,
    trap_kind: Option<String>,
    error: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
    guest_micros: Option<i64>,
    peak_memory_bytes: Option<i64>,
    fuel_used: Option<i64>,
    disk_bytes: Option<i64>,
    files_created: Option<i64>,
    stdout: String,
    stderr: String,
}

/// A row with when it was superseded.
#[derive(sqlx_macros::FromRow)]
struct HistoryRow {
    #[sqlx(flatten)]
    row: Row,
    superseded_at: Option<i64>,
}

impl TryFrom<Row> for NodeBoundary {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(NodeBoundary {
            id: BoundaryId::from_uuid(r.id),
            execution: ExecutionId::from_uuid(r.execution_id),
            node: r.node_id,
            attempt: in_range("attempt", r.attempt)?,
            entry_checkpoint: CheckpointId::from_uuid(r.entry_checkpoint_id),
            exit_checkpoint: r.exit_checkpoint_id.map(CheckpointId::from_uuid),
            status: parsed::<AttemptStatus>("status", &r.status)?,
            trap: parsed_opt::<TrapKind>("trap_kind", r.trap_kind.as_deref())?,
            error: r.error,
            started_at: Timestamp::from_micros(r.started_at),
            finished_at: r.finished_at.map(Timestamp::from_micros),
            guest_micros: in_range_opt("guest_micros", r.guest_micros)?,
            peak_memory_bytes: in_range_opt("peak_memory_bytes", r.peak_memory_bytes)?,
            fuel_used: in_range_opt("fuel_used", r.fuel_used)?,
            disk_bytes: in_range_opt("disk_bytes", r.disk_bytes)?,
            files_created: in_range_opt("files_created", r.files_created)?,
            stdout: r.stdout,
            stderr: r.stderr,
        })
    }
}

/// The attempts of an execution that have no exit yet: what a resume runs.
pub async fn list_open(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<NodeBoundary>, DbError> {
    list_open_of(db, &[(tenant, execution)]).await
}

/// The open attempts of several executions, each named with its tenant, oldest first: what
/// picking them up runs (see [`super::many`]).
pub async fn list_open_of(
    db: &mut Conn<'_>,
    which: &[(TenantId, ExecutionId)],
) -> Result<Vec<NodeBoundary>, DbError> {
    if which.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {} FROM node_boundaries b JOIN executions e ON e.id = b.execution_id
         WHERE {} AND b.status = 'running' AND b.superseded_at IS NULL
         ORDER BY b.started_at, b.id",
        super::many::qualified(COLUMNS, "b"),
        super::many::of_executions("b.execution_id", which.len())
    );
    let q = super::many::bind_executions(query(sql), which);
    q.fetch_all::<Row>(db).await?.into_iter().map(NodeBoundary::try_from).collect()
}

/// Every boundary of an execution, superseded ones included, with when they were superseded.
pub async fn list_history(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<(NodeBoundary, Option<Timestamp>)>, DbError> {
    let rows = query(format!(
        "SELECT {COLUMNS}, superseded_at FROM node_boundaries WHERE execution_id = ? AND {OWNED} ORDER BY started_at, id"
    ))
    .bind(execution.uuid())
    .bind(tenant.uuid())
    .fetch_all::<HistoryRow>(db)
    .await?;
    rows.into_iter()
        .map(|r| Ok((NodeBoundary::try_from(r.row)?, r.superseded_at.map(Timestamp::from_micros))))
        .collect()
}

/// Marks a boundary superseded by a rollback (kept for history, ignored by the engine).
pub fn supersede_into(batch: &mut Batch, id: BoundaryId, now: Timestamp) {
    batch
        .statement("UPDATE node_boundaries SET superseded_at = ? WHERE id = ?")
        .bind(now.micros())
        .bind(id.uuid());
}

/// Wall time of every succeeded attempt, from its entry checkpoint to its exit, in µs
/// (benchmark figures: a node's latency through the engine, waits before its launch included,
/// where `started_at` is when it was launched).
pub async fn latencies(db: &mut Conn<'_>) -> Result<Vec<i64>, DbError> {
    let rows: Vec<(i64,)> = query(
        "SELECT b.finished_at - c.created_at FROM node_boundaries b \
         JOIN checkpoints c ON c.id = b.entry_checkpoint_id WHERE b.status = 'succeeded' ORDER BY 1",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(l,)| l).collect())
}
