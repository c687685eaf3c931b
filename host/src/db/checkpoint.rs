//! Checkpoints.

use super::DbError;
use super::batch::Batch;
use super::decode::{get, json, parse, unsigned};
use crate::model::{Checkpoint, CheckpointId, CheckpointKind, ExecutionId, FileCommitId, Timestamp};
use sqlx::SqliteExecutor;
use sqlx::sqlite::SqliteRow;

const COLUMNS: &str = "id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at";

/// Inserts a checkpoint.
pub async fn insert(db: impl SqliteExecutor<'_>, cp: &Checkpoint) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, cp)).await
}

/// [`insert`], appended to a batch.
pub fn insert_into(batch: &mut Batch<'_>, cp: &Checkpoint) {
    batch
    .statement(
        "INSERT INTO checkpoints (id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(cp.id.uuid())
    .bind(cp.execution.uuid())
    .bind(i64::from(cp.seq))
    .bind(cp.node.clone())
    .bind(cp.kind.as_str())
    .bind(i64::from(cp.attempt))
    .bind(cp.state.to_string())
    .bind(cp.file_commit.uuid())
    .bind(cp.created_at.micros());
}

/// The checkpoint with `id`.
pub async fn get_one(db: impl SqliteExecutor<'_>, id: CheckpointId) -> Result<Option<Checkpoint>, DbError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM checkpoints WHERE id = ?"))
        .bind(id.uuid())
        .fetch_optional(db)
        .await?
        .map(|r| decode(&r))
        .transpose()
}

/// An execution's checkpoints in order.
pub async fn list_for_execution(db: impl SqliteExecutor<'_>, execution: ExecutionId) -> Result<Vec<Checkpoint>, DbError> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM checkpoints WHERE execution_id = ? ORDER BY seq"))
        .bind(execution.uuid())
        .fetch_all(db)
        .await?;
    rows.iter().map(decode).collect()
}

fn decode(r: &SqliteRow) -> Result<Checkpoint, DbError> {
    Ok(Checkpoint {
        id: CheckpointId::from_uuid(get(r, "id")?),
        execution: ExecutionId::from_uuid(get(r, "execution_id")?),
        seq: unsigned(r, "seq")?,
        node: get(r, "node_id")?,
        kind: parse::<CheckpointKind>(r, "kind")?,
        attempt: unsigned(r, "attempt")?,
        state: json(r, "state")?,
        file_commit: FileCommitId::from_uuid(get(r, "file_commit_id")?),
        created_at: Timestamp::from_micros(get(r, "created_at")?),
    })
}
