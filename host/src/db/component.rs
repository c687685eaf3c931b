//! Components known to a tenant, by digest. Their bytes are a blob in the CAS.

use super::DbError;
use super::decode::{get, int, parse, unsigned};
use crate::model::{Digest, TenantId, Timestamp};
use sqlx::SqliteExecutor;

/// A component row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRecord {
    /// Owner.
    pub tenant: TenantId,
    /// SHA-256 of the `.wasm` bytes.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// First seen.
    pub created_at: Timestamp,
}

/// Records a component; a known digest is left as it is.
pub async fn insert(db: impl SqliteExecutor<'_>, c: &ComponentRecord) -> Result<(), DbError> {
    sqlx::query("INSERT OR IGNORE INTO components (tenant_id, digest, size, created_at) VALUES (?, ?, ?, ?)")
        .bind(c.tenant.uuid())
        .bind(c.digest.to_hex())
        .bind(int(c.size))
        .bind(c.created_at.micros())
        .execute(db)
        .await?;
    Ok(())
}

/// The component with `digest`.
pub async fn get_one(db: impl SqliteExecutor<'_>, tenant: TenantId, digest: &Digest) -> Result<Option<ComponentRecord>, DbError> {
    let row = sqlx::query("SELECT tenant_id, digest, size, created_at FROM components WHERE tenant_id = ? AND digest = ?")
        .bind(tenant.uuid())
        .bind(digest.to_hex())
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(ComponentRecord {
            tenant: TenantId::from_uuid(get(&r, "tenant_id")?),
            digest: parse(&r, "digest")?,
            size: unsigned(&r, "size")?,
            created_at: Timestamp::from_micros(get(&r, "created_at")?),
        })
    })
    .transpose()
}

/// Every component digest of a tenant.
pub async fn list_digests(db: impl SqliteExecutor<'_>, tenant: TenantId) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT digest FROM components WHERE tenant_id = ? ORDER BY digest").bind(tenant.uuid()).fetch_all(db).await?)
}
