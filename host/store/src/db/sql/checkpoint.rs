//! Checkpoints.

use super::DbError;
use super::batch::{Batch, ROWS_PER_STATEMENT};
use super::decode::{from_json, in_range, parsed};
use super::{Conn, query};
use uuid::Uuid;
use wtb_core::model::{
    Checkpoint, CheckpointId, CheckpointKind, ExecutionId, FileCommitId, TenantId, Timestamp,
};

/// The condition that a checkpoint's execution is the bound tenant's: every read takes the
/// tenant, so a checkpoint id alone never reaches another tenant's row.
const OWNED: &str =
    "EXISTS (SELECT 1 FROM executions e WHERE e.id = checkpoints.execution_id AND e.tenant_id = ?)";

const COLUMNS: &str =
    "id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at, lane, forks, parents";

/// Inserts a checkpoint.
pub async fn insert(db: &mut Conn<'_>, cp: &Checkpoint) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, std::slice::from_ref(cp))).await
}

/// [`insert`] for several checkpoints, appended to a batch as one statement per
/// [`ROWS_PER_STATEMENT`] (a node's exit writes its exit and the next entry together).
pub fn insert_into(batch: &mut Batch, cps: &[Checkpoint]) {
    for part in cps.chunks(ROWS_PER_STATEMENT) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; part.len()].join(", ");
        batch.statement(&format!(
            "INSERT INTO checkpoints (id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at, lane, forks, parents)
             VALUES {rows}"
        ));
        for cp in part {
            batch
                .bind(cp.id.uuid())
                .bind(cp.execution.uuid())
                .bind(i64::from(cp.seq))
                .bind(cp.node.clone())
                .bind(cp.kind.as_str())
                .bind(i64::from(cp.attempt))
                .bind(cp.state.to_string())
                .bind(cp.file_commit.uuid())
                .bind(cp.created_at.micros())
                .bind(i64::from(cp.lane))
                .bind(ids_json(&cp.forks))
                .bind(ids_json(&cp.parents));
        }
    }
}

/// The tenant's checkpoint with `id`.
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: CheckpointId,
) -> Result<Option<Checkpoint>, DbError> {
    query(format!("SELECT {COLUMNS} FROM checkpoints WHERE id = ? AND {OWNED}"))
        .bind(id.uuid())
        .bind(tenant.uuid())
        .fetch_optional::<Row>(db)
        .await?
        .map(Checkpoint::try_from)
        .transpose()
}

/// The entry checkpoints of the open attempts of several executions, each named with its
/// tenant (see [`super::many`]).
pub async fn open_entries_of(
    db: &mut Conn<'_>,
    which: &[(TenantId, ExecutionId)],
) -> Result<Vec<Checkpoint>, DbError> {
    if which.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {} FROM checkpoints c
           JOIN node_boundaries b ON b.entry_checkpoint_id = c.id
           JOIN executions e ON e.id = b.execution_id
         WHERE {} AND b.status = 'running' AND b.superseded_at IS NULL",
        super::many::qualified(COLUMNS, "c"),
        super::many::of_executions("b.execution_id", which.len())
    );
    let q = super::many::bind_executions(query(sql), which);
    q.fetch_all::<Row>(db).await?.into_iter().map(Checkpoint::try_from).collect()
}

/// An execution's live checkpoints (not superseded by a rollback) in order.
pub async fn list_for_execution(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<Checkpoint>, DbError> {
    let rows = query(format!(
        "SELECT {COLUMNS} FROM checkpoints WHERE execution_id = ? AND superseded_at IS NULL AND {OWNED} ORDER BY seq"
    ))
    .bind(execution.uuid())
    .bind(tenant.uuid())
    .fetch_all::<Row>(db)
    .await?;
    rows.into_iter().map(Checkpoint::try_from).collect()
}

/// Every checkpoint of an execution in order, superseded ones included, with when they were.
pub async fn list_history(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<(Checkpoint, Option<Timestamp>)>, DbError> {
    let rows = query(format!(
        "SELECT {COLUMNS}, superseded_at FROM checkpoints WHERE execution_id = ? AND {OWNED} ORDER BY seq"
    ))
    .bind(execution.uuid())
    .bind(tenant.uuid())
    .fetch_all::<HistoryRow>(db)
    .await?;
    rows.into_iter()
        .map(|r| Ok((Checkpoint::try_from(r.row)?, r.superseded_at.map(Timestamp::from_micros))))
        .collect()
}

/// Every checkpoint of a tenant's executions, superseded ones included.
pub async fn list_for_tenant(
    db: &mut Conn<'_>,
    tenant: wtb_core::model::TenantId,
) -> Result<Vec<Checkpoint>, DbError> {
    let columns = COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    let rows = query(format!("SELECT {columns} FROM checkpoints c JOIN executions e ON e.id = c.execution_id WHERE e.tenant_id = ? ORDER BY c.execution_id, c.seq"))
        .bind(tenant.uuid())
        .fetch_all::<Row>(db)
        .await?;
    rows.into_iter().map(Checkpoint::try_from).collect()
}

/// When a checkpoint was superseded (`None`: live); outer `None`: no such checkpoint.
pub async fn superseded_at(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: CheckpointId,
) -> Result<Option<Option<Timestamp>>, DbError> {
    let sql = format!("SELECT superseded_at FROM checkpoints WHERE id = ? AND {OWNED}");
    let row: Option<(Option<i64>,)> =
        query(sql).bind(id.uuid()).bind(tenant.uuid()).fetch_optional(db).await?;
    Ok(row.map(|(t,)| t.map(Timestamp::from_micros)))
}

/// Marks a checkpoint superseded by a rollback.
pub fn supersede_into(batch: &mut Batch, id: CheckpointId, now: Timestamp) {
    batch
        .statement("UPDATE checkpoints SET superseded_at = ? WHERE id = ?")
        .bind(now.micros())
        .bind(id.uuid());
}

/// A `checkpoints` row as stored.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    execution_id: Uuid,
    seq: i64,
    node_id: String,
    kind: String,
    attempt: i64,
    state: String,
    file_commit_id: Uuid,
    created_at: i64,
    lane: i64,
    forks: String,
    parents: String,
}

/// A row with when it was superseded.
#[derive(sqlx::FromRow)]
struct HistoryRow {
    #[sqlx(flatten)]
    row: Row,
    superseded_at: Option<i64>,
}

impl TryFrom<Row> for Checkpoint {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(Checkpoint {
            id: CheckpointId::from_uuid(r.id),
            execution: ExecutionId::from_uuid(r.execution_id),
            seq: in_range("seq", r.seq)?,
            node: r.node_id,
            kind: parsed::<CheckpointKind>("kind", &r.kind)?,
            attempt: in_range("attempt", r.attempt)?,
            state: from_json("state", &r.state)?,
            file_commit: FileCommitId::from_uuid(r.file_commit_id),
            created_at: Timestamp::from_micros(r.created_at),
            lane: in_range("lane", r.lane)?,
            forks: parse_ids("forks", &r.forks)?,
            parents: parse_ids("parents", &r.parents)?,
        })
    }
}

pub(super) fn ids_json(ids: &[CheckpointId]) -> String {
    serde_json::to_string(&ids.iter().map(|c| c.uuid()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

pub(super) fn parse_ids(column: &'static str, text: &str) -> Result<Vec<CheckpointId>, DbError> {
    let uuids: Vec<uuid::Uuid> =
        serde_json::from_str(text).map_err(|e| DbError::Corrupt { what: column, detail: e.to_string() })?;
    Ok(uuids.into_iter().map(CheckpointId::from_uuid).collect())
}
