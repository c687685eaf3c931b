//! Tenants.

use super::DbError;
use super::decode::get;
use crate::model::{TenantId, Timestamp};
use sqlx::SqliteExecutor;

/// A tenant row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Id.
    pub id: TenantId,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Inserts a tenant.
pub async fn insert(db: impl SqliteExecutor<'_>, t: &Tenant) -> Result<(), DbError> {
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)")
        .bind(t.id.uuid())
        .bind(&t.name)
        .bind(t.created_at.micros())
        .execute(db)
        .await?;
    Ok(())
}

/// The tenant with `id`.
pub async fn get_one(db: impl SqliteExecutor<'_>, id: TenantId) -> Result<Option<Tenant>, DbError> {
    let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = ?")
        .bind(id.uuid())
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(Tenant {
            id: TenantId::from_uuid(get(&r, "id")?),
            name: get(&r, "name")?,
            created_at: Timestamp::from_micros(get(&r, "created_at")?),
        })
    })
    .transpose()
}
