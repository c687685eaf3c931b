//! Tenants, their quotas and usage, and their API tokens.

use super::DbError;
use super::decode::{get, int, unsigned, unsigned_opt};
use crate::model::{ApiToken, Quotas, Tenant, TenantId, Timestamp, TokenId};
use sqlx::SqliteExecutor;
use sqlx::sqlite::SqliteRow;

const COLUMNS: &str = "id, name, created_at, max_concurrent, max_stored_bytes, max_nodes_per_hour, max_running_attempts";

/// Inserts a tenant.
pub async fn insert(db: impl SqliteExecutor<'_>, t: &Tenant) -> Result<(), DbError> {
    sqlx::query(&format!("INSERT INTO tenants ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"))
        .bind(t.id.uuid())
        .bind(&t.name)
        .bind(t.created_at.micros())
        .bind(t.quotas.max_concurrent.map(int))
        .bind(t.quotas.max_stored_bytes.map(int))
        .bind(t.quotas.max_nodes_per_hour.map(int))
        .bind(t.quotas.max_running_attempts.map(int))
        .execute(db)
        .await?;
    Ok(())
}

/// Replaces a tenant's quotas; false if there is no such tenant.
pub async fn set_quotas(db: impl SqliteExecutor<'_>, id: TenantId, q: &Quotas) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE tenants SET max_concurrent = ?, max_stored_bytes = ?, max_nodes_per_hour = ?, max_running_attempts = ? WHERE id = ?")
        .bind(q.max_concurrent.map(int))
        .bind(q.max_stored_bytes.map(int))
        .bind(q.max_nodes_per_hour.map(int))
        .bind(q.max_running_attempts.map(int))
        .bind(id.uuid())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The tenant with `id`.
pub async fn get_one(db: impl SqliteExecutor<'_>, id: TenantId) -> Result<Option<Tenant>, DbError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = ?")).bind(id.uuid()).fetch_optional(db).await?;
    row.as_ref().map(decode).transpose()
}

/// The tenant called `name`.
pub async fn get_by_name(db: impl SqliteExecutor<'_>, name: &str) -> Result<Option<Tenant>, DbError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE name = ?")).bind(name).fetch_optional(db).await?;
    row.as_ref().map(decode).transpose()
}

/// Every tenant, by name.
pub async fn list(db: impl SqliteExecutor<'_>) -> Result<Vec<Tenant>, DbError> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants ORDER BY name")).fetch_all(db).await?;
    rows.iter().map(decode).collect()
}

fn decode(r: &SqliteRow) -> Result<Tenant, DbError> {
    Ok(Tenant {
        id: TenantId::from_uuid(get(r, "id")?),
        name: get(r, "name")?,
        created_at: Timestamp::from_micros(get(r, "created_at")?),
        quotas: Quotas {
            max_concurrent: unsigned_opt(r, "max_concurrent")?,
            max_stored_bytes: unsigned_opt(r, "max_stored_bytes")?,
            max_nodes_per_hour: unsigned_opt(r, "max_nodes_per_hour")?,
            max_running_attempts: unsigned_opt(r, "max_running_attempts")?,
        },
    })
}

/// What a tenant uses now, measured against its quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Executions running.
    pub running: u64,
    /// Bytes stored: blobs (inline and in the CAS), checkpoint states, outbox payloads and
    /// captured stdout/stderr.
    pub stored_bytes: u64,
    /// Node attempts that ended since `since`.
    pub nodes_since: u64,
}

/// The tenant's usage, counting node attempts that ended at or after `since`.
pub async fn usage(db: impl SqliteExecutor<'_>, id: TenantId, since: Timestamp) -> Result<Usage, DbError> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM executions WHERE tenant_id = ?1 AND status = 'running') AS running,
                (SELECT coalesce(sum(size), 0) FROM blobs WHERE tenant_id = ?1)
                + (SELECT coalesce(sum(length(CAST(c.state AS BLOB))), 0) FROM checkpoints c JOIN executions e ON e.id = c.execution_id WHERE e.tenant_id = ?1)
                + (SELECT coalesce(sum(length(CAST(b.stdout AS BLOB)) + length(CAST(b.stderr AS BLOB))), 0)
                     FROM node_boundaries b JOIN executions e ON e.id = b.execution_id WHERE e.tenant_id = ?1)
                + (SELECT coalesce(sum(length(CAST(payload AS BLOB))), 0) FROM outbox WHERE tenant_id = ?1) AS stored_bytes,
                (SELECT count(*) FROM node_boundaries b JOIN executions e ON e.id = b.execution_id
                  WHERE b.finished_at >= ?2 AND e.tenant_id = ?1) AS nodes_since",
    )
    .bind(id.uuid())
    .bind(since.micros())
    .fetch_one(db)
    .await?;
    Ok(Usage { running: unsigned(&row, "running")?, stored_bytes: unsigned(&row, "stored_bytes")?, nodes_since: unsigned(&row, "nodes_since")? })
}

/// Node attempts of the tenant that ended at or after `since` (the per-attempt half of [`usage`]).
pub async fn nodes_since(db: impl SqliteExecutor<'_>, id: TenantId, since: Timestamp) -> Result<u64, DbError> {
    let row = sqlx::query("SELECT count(*) AS n FROM node_boundaries b JOIN executions e ON e.id = b.execution_id WHERE b.finished_at >= ? AND e.tenant_id = ?")
        .bind(since.micros())
        .bind(id.uuid())
        .fetch_one(db)
        .await?;
    unsigned(&row, "n")
}

const TOKEN_COLUMNS: &str = "id, tenant_id, name, created_at, revoked_at";

/// Stores a token by the SHA-256 (hex) of its secret.
pub async fn insert_token(db: impl SqliteExecutor<'_>, t: &ApiToken, hash: &str) -> Result<(), DbError> {
    sqlx::query(&format!("INSERT INTO api_tokens ({TOKEN_COLUMNS}, hash) VALUES (?, ?, ?, ?, ?, ?)"))
        .bind(t.id.uuid())
        .bind(t.tenant.uuid())
        .bind(&t.name)
        .bind(t.created_at.micros())
        .bind(t.revoked_at.map(|r| r.micros()))
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// The token whose secret hashes to `hash`, revoked or not.
pub async fn token_by_hash(db: impl SqliteExecutor<'_>, hash: &str) -> Result<Option<ApiToken>, DbError> {
    let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?")).bind(hash).fetch_optional(db).await?;
    row.as_ref().map(decode_token).transpose()
}

/// Revokes a token of `tenant`; false if it has no such token or it was already revoked.
pub async fn revoke_token(db: impl SqliteExecutor<'_>, tenant: TenantId, id: TokenId, now: Timestamp) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL")
        .bind(now.micros())
        .bind(id.uuid())
        .bind(tenant.uuid())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A tenant's tokens, oldest first (secrets are never stored, so never listed).
pub async fn list_tokens(db: impl SqliteExecutor<'_>, tenant: TenantId) -> Result<Vec<ApiToken>, DbError> {
    let rows = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = ? ORDER BY id")).bind(tenant.uuid()).fetch_all(db).await?;
    rows.iter().map(decode_token).collect()
}

fn decode_token(r: &SqliteRow) -> Result<ApiToken, DbError> {
    Ok(ApiToken {
        id: TokenId::from_uuid(get(r, "id")?),
        tenant: TenantId::from_uuid(get(r, "tenant_id")?),
        name: get(r, "name")?,
        created_at: Timestamp::from_micros(get(r, "created_at")?),
        revoked_at: get::<Option<i64>>(r, "revoked_at")?.map(Timestamp::from_micros),
    })
}
