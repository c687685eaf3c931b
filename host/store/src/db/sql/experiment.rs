//! Experiments and their cells (executions tagged with the experiment in `environment`).

use super::DbError;
use super::batch::Batch;
use super::decode::from_json;
use super::{Conn, Dialect, query};
use crate::db::port::ExperimentRecord;
use wtb_core::model::{ExecutionId, ExperimentId, TenantId, Timestamp};

const COLUMNS: &str = "id, tenant_id, name, spec, file, created_at";

/// Inserts an experiment.
pub async fn insert(db: &mut Conn<'_>, e: &ExperimentRecord) -> Result<(), DbError> {
    let mut batch = Batch::new();
    insert_into(&mut batch, e)?;
    Batch::run(db, |b| b.append(batch)).await
}

/// [`insert`], appended to a batch.
pub fn insert_into(batch: &mut Batch, e: &ExperimentRecord) -> Result<(), DbError> {
    let spec = serde_json::to_string(&e.spec)
        .map_err(|err| DbError::Corrupt { what: "experiment spec", detail: err.to_string() })?;
    batch
        .statement(&format!("INSERT INTO experiments ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"))
        .bind(e.id.uuid())
        .bind(e.tenant.uuid())
        .bind(e.name.clone())
        .bind(spec)
        .bind(e.file.clone())
        .bind(e.created_at.micros());
    Ok(())
}

/// The tenant's experiment `id`.
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: ExperimentId,
) -> Result<Option<ExperimentRecord>, DbError> {
    let row = query(format!("SELECT {COLUMNS} FROM experiments WHERE id = ? AND tenant_id = ?"))
        .bind(id.uuid())
        .bind(tenant.uuid())
        .fetch_optional::<Row>(db)
        .await?;
    row.map(ExperimentRecord::try_from).transpose()
}

/// The tenant's experiments, newest first.
pub async fn list(db: &mut Conn<'_>, tenant: TenantId, limit: u32) -> Result<Vec<ExperimentRecord>, DbError> {
    let rows =
        query(format!("SELECT {COLUMNS} FROM experiments WHERE tenant_id = ? ORDER BY id DESC LIMIT ?"))
            .bind(tenant.uuid())
            .bind(i64::from(limit))
            .fetch_all::<Row>(db)
            .await?;
    rows.into_iter().map(ExperimentRecord::try_from).collect()
}

/// The executions that are cells of experiment `id` (any status), oldest first.
pub async fn cells(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: ExperimentId,
) -> Result<Vec<ExecutionId>, DbError> {
    let cell = match db.dialect() {
        Dialect::Sqlite => "json_extract(environment, '$.cell.experiment')",
        Dialect::Postgres => "(environment::jsonb #>> '{cell,experiment}')",
    };
    let ids: Vec<uuid::Uuid> = query(format!(
        "SELECT id FROM executions WHERE {cell} = ? AND environment IS NOT NULL AND tenant_id = ? ORDER BY id"
    ))
    .bind(id.to_string())
    .bind(tenant.uuid())
    .scalars(db)
    .await?;
    Ok(ids.into_iter().map(ExecutionId::from_uuid).collect())
}

/// An `experiments` row as stored.
#[derive(sqlx_macros::FromRow)]
struct Row {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    name: String,
    spec: String,
    file: String,
    created_at: i64,
}

impl TryFrom<Row> for ExperimentRecord {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(ExperimentRecord {
            id: ExperimentId::from_uuid(r.id),
            tenant: TenantId::from_uuid(r.tenant_id),
            name: r.name,
            spec: from_json("spec", &r.spec)?,
            file: r.file,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}
