//! Executions.

use super::DbError;
use super::batch::Batch;
use super::decode::{get, parse};
use crate::model::{CheckpointId, Execution, ExecutionId, ExecutionStatus, TenantId, Timestamp, WorkflowId};
use sqlx::SqliteExecutor;
use sqlx::sqlite::SqliteRow;

const COLUMNS: &str = "id, tenant_id, workflow_id, status, cursor, parent_checkpoint_id, variant, environment, error, created_at, updated_at";

/// Inserts a new execution.
pub async fn insert(db: impl SqliteExecutor<'_>, e: &Execution) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO executions (id, tenant_id, workflow_id, status, cursor, parent_checkpoint_id, variant, environment, error, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.uuid())
    .bind(e.tenant.uuid())
    .bind(e.workflow.uuid())
    .bind(e.status.as_str())
    .bind(&e.cursor)
    .bind(e.parent_checkpoint.map(|c| c.uuid()))
    .bind(&e.variant)
    .bind(e.environment.as_ref().map(|v| v.to_string()))
    .bind(&e.error)
    .bind(e.created_at.micros())
    .bind(e.updated_at.micros())
    .execute(db)
    .await?;
    Ok(())
}

/// Moves an execution on: its status, the node to run next and (on failure) why.
pub async fn set_progress(
    db: impl SqliteExecutor<'_>,
    id: ExecutionId,
    status: ExecutionStatus,
    cursor: Option<&str>,
    error: Option<&str>,
    now: Timestamp,
) -> Result<(), DbError> {
    Batch::run(db, |batch| set_progress_into(batch, id, status, cursor, error, now)).await
}

/// [`set_progress`], appended to a batch.
pub fn set_progress_into(
    batch: &mut Batch<'_>,
    id: ExecutionId,
    status: ExecutionStatus,
    cursor: Option<&str>,
    error: Option<&str>,
    now: Timestamp,
) {
    batch
        .statement("UPDATE executions SET status = ?, cursor = ?, error = ?, updated_at = ? WHERE id = ?")
        .bind(status.as_str())
        .bind(cursor.map(str::to_owned))
        .bind(error.map(str::to_owned))
        .bind(now.micros())
        .bind(id.uuid());
}

/// The tenant's execution with `id`; `None` for another tenant's (no existence leak).
pub async fn get_one(db: impl SqliteExecutor<'_>, tenant: TenantId, id: ExecutionId) -> Result<Option<Execution>, DbError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM executions WHERE tenant_id = ? AND id = ?"))
        .bind(tenant.uuid())
        .bind(id.uuid())
        .fetch_optional(db)
        .await?
        .map(|r| decode(&r))
        .transpose()
}

/// The tenant's executions, newest first, at most `limit`.
pub async fn list_recent(db: impl SqliteExecutor<'_>, tenant: TenantId, limit: u32) -> Result<Vec<Execution>, DbError> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM executions WHERE tenant_id = ? ORDER BY id DESC LIMIT ?"))
        .bind(tenant.uuid())
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?;
    rows.iter().map(decode).collect()
}

fn decode(r: &SqliteRow) -> Result<Execution, DbError> {
    let environment: Option<String> = get(r, "environment")?;
    Ok(Execution {
        id: ExecutionId::from_uuid(get(r, "id")?),
        tenant: TenantId::from_uuid(get(r, "tenant_id")?),
        workflow: WorkflowId::from_uuid(get(r, "workflow_id")?),
        status: parse::<ExecutionStatus>(r, "status")?,
        cursor: get(r, "cursor")?,
        parent_checkpoint: get::<Option<uuid::Uuid>>(r, "parent_checkpoint_id")?.map(CheckpointId::from_uuid),
        variant: get(r, "variant")?,
        environment: environment
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| DbError::Corrupt { what: "environment", detail: e.to_string() })?,
        error: get(r, "error")?,
        created_at: Timestamp::from_micros(get(r, "created_at")?),
        updated_at: Timestamp::from_micros(get(r, "updated_at")?),
    })
}

