//! Checkpoints.

use super::DbError;
use super::batch::{Batch, ROWS_PER_STATEMENT};
use super::decode::{in_range, int, parsed};
use super::merge::Phase;
use super::{Conn, query};
use uuid::Uuid;
use wtb_core::model::{
    Checkpoint, CheckpointId, CheckpointKind, ExecutionId, FileCommitId, StateChain, StateLink, TenantId,
    Timestamp,
};

/// The condition that a checkpoint's execution is the bound tenant's: every read takes the
/// tenant, so a checkpoint id alone never reaches another tenant's row.
const OWNED: &str =
    "EXISTS (SELECT 1 FROM executions e WHERE e.id = checkpoints.execution_id AND e.tenant_id = ?)";

const COLUMNS: &str = "id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at, lane, forks, parents, \
     state_parent_seq, state_chain_len, state_chain_bytes, state_base_bytes";

/// Inserts a checkpoint.
pub async fn insert(db: &mut Conn<'_>, cp: &Checkpoint) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, std::slice::from_ref(cp))).await
}

/// [`insert`] for several checkpoints, appended to a batch as one statement per
/// [`ROWS_PER_STATEMENT`] (a node's exit writes its exit and the next entry together). Each
/// state is written as [`Checkpoint::stored_state`] says: whole, or as a patch on an earlier
/// checkpoint of its execution.
pub fn insert_into(batch: &mut Batch, cps: &[Checkpoint]) {
    for part in cps.chunks(ROWS_PER_STATEMENT) {
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        batch.rows(Phase::Checkpoints, &format!("INSERT INTO checkpoints ({COLUMNS})"), row, part.len(), "");
        for cp in part {
            let (stored, chain) = cp.stored_state();
            batch
                .bind(cp.id.uuid())
                .bind(cp.execution.uuid())
                .bind(i64::from(cp.seq))
                .bind(cp.node.clone())
                .bind(cp.kind.as_str())
                .bind(i64::from(cp.attempt))
                .bind(stored.text().to_owned())
                .bind(cp.file_commit.uuid())
                .bind(cp.created_at.micros())
                .bind(i64::from(cp.lane))
                .bind(ids_json(&cp.forks))
                .bind(ids_json(&cp.parents))
                .bind(stored.parent_seq().map(i64::from))
                .bind(i64::from(chain.len))
                .bind(int(chain.bytes))
                .bind(int(chain.base_bytes));
        }
    }
}

/// The tenant's checkpoint with `id`.
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: CheckpointId,
) -> Result<Option<Checkpoint>, DbError> {
    let rows = query(format!("SELECT {COLUMNS} FROM checkpoints WHERE id = ? AND {OWNED}"))
        .bind(id.uuid())
        .bind(tenant.uuid())
        .fetch_all::<Row>(db)
        .await?;
    Ok(decode(db, rows).await?.pop())
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
    let rows = super::many::bind_executions(query(sql), which).fetch_all::<Row>(db).await?;
    decode(db, rows).await
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
    decode(db, rows).await
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
    let (rows, superseded): (Vec<Row>, Vec<Option<i64>>) =
        rows.into_iter().map(|r| (r.row, r.superseded_at)).unzip();
    let cps = decode(db, rows).await?;
    Ok(cps.into_iter().zip(superseded).map(|(c, s)| (c, s.map(Timestamp::from_micros))).collect())
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
    decode(db, rows).await
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

/// A `checkpoints` row as stored (`state` whole, or a patch when `state_parent_seq` is set).
#[derive(sqlx_macros::FromRow)]
pub(super) struct Row {
    pub(super) id: Uuid,
    pub(super) execution_id: Uuid,
    pub(super) seq: i64,
    node_id: String,
    kind: String,
    attempt: i64,
    pub(super) state: String,
    file_commit_id: Uuid,
    created_at: i64,
    lane: i64,
    forks: String,
    parents: String,
    pub(super) state_parent_seq: Option<i64>,
    state_chain_len: i64,
    state_chain_bytes: i64,
    state_base_bytes: i64,
}

/// A row with when it was superseded.
#[derive(sqlx_macros::FromRow)]
struct HistoryRow {
    #[sqlx(flatten)]
    row: Row,
    superseded_at: Option<i64>,
}

/// Checkpoints from their rows, each with its whole state (see [`super::checkpoint_state`]).
async fn decode(db: &mut Conn<'_>, mut rows: Vec<Row>) -> Result<Vec<Checkpoint>, DbError> {
    let states = super::checkpoint_state::states_of(db, &mut rows).await?;
    rows.into_iter().zip(states).map(|(r, state)| checkpoint(r, state)).collect()
}

fn checkpoint(r: Row, state: std::sync::Arc<serde_json::Value>) -> Result<Checkpoint, DbError> {
    let id = CheckpointId::from_uuid(r.id);
    let chain = StateChain {
        len: in_range("state_chain_len", r.state_chain_len)?,
        bytes: in_range("state_chain_bytes", r.state_chain_bytes)?,
        base_bytes: in_range("state_base_bytes", r.state_base_bytes)?,
    };
    Ok(Checkpoint {
        id,
        execution: ExecutionId::from_uuid(r.execution_id),
        seq: in_range("seq", r.seq)?,
        node: r.node_id,
        kind: parsed::<CheckpointKind>("kind", &r.kind)?,
        attempt: in_range("attempt", r.attempt)?,
        state,
        file_commit: FileCommitId::from_uuid(r.file_commit_id),
        created_at: Timestamp::from_micros(r.created_at),
        lane: in_range("lane", r.lane)?,
        forks: parse_ids("forks", &r.forks)?,
        parents: parse_ids("parents", &r.parents)?,
        state_link: StateLink::loaded(id, chain),
    })
}

pub(super) fn ids_json(ids: &[CheckpointId]) -> String {
    serde_json::to_string(&ids.iter().map(|c| c.uuid()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

pub(super) fn parse_ids(column: &'static str, text: &str) -> Result<Vec<CheckpointId>, DbError> {
    let uuids: Vec<uuid::Uuid> =
        serde_json::from_str(text).map_err(|e| DbError::Corrupt { what: column, detail: e.to_string() })?;
    Ok(uuids.into_iter().map(CheckpointId::from_uuid).collect())
}
