//! Stored workflows, content-hashed: the same validated manifest is stored once.

use super::DbError;
use super::decode::{get, json, parse};
use crate::model::{TenantId, Timestamp, WorkflowId, WorkflowRecord};
use sqlx::SqliteExecutor;
use sqlx::sqlite::SqliteRow;

/// Stores `w` unless the tenant already has a workflow with its digest; returns the id of the
/// stored one (which is `w.id` only if it was new).
pub async fn insert_or_get(conn: &mut sqlx::SqliteConnection, w: &WorkflowRecord) -> Result<WorkflowId, DbError> {
    sqlx::query(
        "INSERT OR IGNORE INTO workflows (id, tenant_id, name, digest, definition, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(w.id.uuid())
    .bind(w.tenant.uuid())
    .bind(&w.name)
    .bind(w.digest.to_hex())
    .bind(w.definition.to_string())
    .bind(w.created_at.micros())
    .execute(&mut *conn)
    .await?;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM workflows WHERE tenant_id = ? AND digest = ?")
        .bind(w.tenant.uuid())
        .bind(w.digest.to_hex())
        .fetch_one(&mut *conn)
        .await?;
    Ok(WorkflowId::from_uuid(id))
}

/// The workflow with `id`.
pub async fn get_one(db: impl SqliteExecutor<'_>, tenant: TenantId, id: WorkflowId) -> Result<Option<WorkflowRecord>, DbError> {
    sqlx::query("SELECT id, tenant_id, name, digest, definition, created_at FROM workflows WHERE tenant_id = ? AND id = ?")
        .bind(tenant.uuid())
        .bind(id.uuid())
        .fetch_optional(db)
        .await?
        .map(|r| decode(&r))
        .transpose()
}

/// The tenant's workflows, newest first, at most `limit`.
pub async fn list(db: impl SqliteExecutor<'_>, tenant: TenantId, limit: u32) -> Result<Vec<WorkflowRecord>, DbError> {
    let rows = sqlx::query("SELECT id, tenant_id, name, digest, definition, created_at FROM workflows WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?")
        .bind(tenant.uuid())
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(decode).collect()
}

fn decode(r: &SqliteRow) -> Result<WorkflowRecord, DbError> {
    Ok(WorkflowRecord {
        id: WorkflowId::from_uuid(get(r, "id")?),
        tenant: TenantId::from_uuid(get(r, "tenant_id")?),
        name: get(r, "name")?,
        digest: parse(r, "digest")?,
        definition: json(r, "definition")?,
        created_at: Timestamp::from_micros(get(r, "created_at")?),
    })
}
