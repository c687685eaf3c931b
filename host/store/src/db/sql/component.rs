//! Components known to a tenant, by digest. Their bytes are a blob in the CAS.

use super::DbError;
use super::batch::Batch;
use super::decode::{in_range, int, parsed};
use super::{Conn, query};
use crate::db::port::ComponentRecord;
use wtb_core::model::{Digest, TenantId, Timestamp};

/// Records a component; a known digest is left as it is.
pub async fn insert(db: &mut Conn<'_>, c: &ComponentRecord) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, c)).await
}

/// [`insert`] as part of a batch.
pub fn insert_into(batch: &mut Batch, c: &ComponentRecord) {
    batch
        .statement(
            "INSERT INTO components (tenant_id, digest, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(c.tenant.uuid())
        .bind(c.digest.to_hex())
        .bind(int(c.size))
        .bind(c.created_at.micros());
}

/// The component with `digest`.
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    digest: &Digest,
) -> Result<Option<ComponentRecord>, DbError> {
    let row: Option<(uuid::Uuid, String, i64, i64)> = query(
        "SELECT tenant_id, digest, size, created_at FROM components WHERE tenant_id = ? AND digest = ?",
    )
    .bind(tenant.uuid())
    .bind(digest.to_hex())
    .fetch_optional(db)
    .await?;
    row.map(|(tenant, digest, size, created_at)| {
        Ok(ComponentRecord {
            tenant: TenantId::from_uuid(tenant),
            digest: parsed("digest", &digest)?,
            size: in_range("size", size)?,
            created_at: Timestamp::from_micros(created_at),
        })
    })
    .transpose()
}

/// Every component digest of a tenant.
pub async fn list_digests(db: &mut Conn<'_>, tenant: TenantId) -> Result<Vec<String>, DbError> {
    query("SELECT digest FROM components WHERE tenant_id = ? ORDER BY digest")
        .bind(tenant.uuid())
        .scalars(db)
        .await
}
