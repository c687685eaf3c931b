//! Stored workflows, content-hashed: the same validated manifest is stored once.

use super::DbError;
use super::batch::Batch;
use super::decode::{from_json, parsed};
use super::{Conn, query};
use wtb_core::model::{Digest, TenantId, Timestamp, WorkflowId, WorkflowRecord};

/// Stores `w` unless the tenant already has a workflow with its digest; returns the id of the
/// stored one (which is `w.id` only if it was new).
pub async fn insert_or_get(db: &mut Conn<'_>, w: &WorkflowRecord) -> Result<WorkflowId, DbError> {
    Batch::run(db, |batch| insert_into(batch, w)).await?;
    id_by_digest(db, w.tenant, &w.digest)
        .await?
        .ok_or(DbError::Corrupt { what: "workflow", detail: format!("{} vanished as stored", w.digest) })
}

/// Stores `w` as part of a batch unless the tenant already has a workflow with its digest
/// (read the id that holds with [`id_by_digest`] once the batch committed).
pub fn insert_into(batch: &mut Batch, w: &WorkflowRecord) {
    batch
        .statement(
            "INSERT INTO workflows (id, tenant_id, name, digest, definition, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(w.id.uuid())
        .bind(w.tenant.uuid())
        .bind(w.name.clone())
        .bind(w.digest.to_hex())
        .bind(w.definition.to_string())
        .bind(w.created_at.micros());
}

/// The id of the tenant's workflow with this definition digest.
pub async fn id_by_digest(
    db: &mut Conn<'_>,
    tenant: TenantId,
    digest: &Digest,
) -> Result<Option<WorkflowId>, DbError> {
    let id: Option<(uuid::Uuid,)> = query("SELECT id FROM workflows WHERE tenant_id = ? AND digest = ?")
        .bind(tenant.uuid())
        .bind(digest.to_hex())
        .fetch_optional(db)
        .await?;
    Ok(id.map(|(id,)| WorkflowId::from_uuid(id)))
}

/// The workflow with `id`.
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: WorkflowId,
) -> Result<Option<WorkflowRecord>, DbError> {
    query("SELECT id, tenant_id, name, digest, definition, created_at FROM workflows WHERE tenant_id = ? AND id = ?")
        .bind(tenant.uuid())
        .bind(id.uuid())
        .fetch_optional::<Row>(db)
        .await?
        .map(WorkflowRecord::try_from)
        .transpose()
}

/// The tenant's workflows, newest first, at most `limit`.
pub async fn list(db: &mut Conn<'_>, tenant: TenantId, limit: u32) -> Result<Vec<WorkflowRecord>, DbError> {
    let rows = query("SELECT id, tenant_id, name, digest, definition, created_at FROM workflows WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?")
        .bind(tenant.uuid())
        .bind(i64::from(limit))
        .fetch_all::<Row>(db)
        .await?;
    rows.into_iter().map(WorkflowRecord::try_from).collect()
}

/// A `workflows` row as stored.
#[derive(sqlx_macros::FromRow)]
struct Row {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    name: String,
    digest: String,
    definition: String,
    created_at: i64,
}

impl TryFrom<Row> for WorkflowRecord {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(WorkflowRecord {
            id: WorkflowId::from_uuid(r.id),
            tenant: TenantId::from_uuid(r.tenant_id),
            name: r.name,
            digest: parsed("digest", &r.digest)?,
            definition: from_json("definition", &r.definition)?,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}
