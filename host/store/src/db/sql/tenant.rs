//! Tenants, their quotas and usage, and their API tokens.

use super::DbError;
use super::batch::Batch;
use super::decode::{in_range, in_range_opt, int};
use super::merge::Phase;
use super::{Conn, query};
use crate::db::port::Usage;
use wtb_core::model::{ApiToken, Quotas, Tenant, TenantId, Timestamp, TokenId};

const COLUMNS: &str =
    "id, name, created_at, max_concurrent, max_stored_bytes, max_nodes_per_hour, max_running_attempts";

/// Inserts a tenant.
pub async fn insert(db: &mut Conn<'_>, t: &Tenant) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, t)).await
}

/// [`insert`], appended to a batch.
pub fn insert_into(batch: &mut Batch, t: &Tenant) {
    batch
        .statement(&format!("INSERT INTO tenants ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"))
        .bind(t.id.uuid())
        .bind(t.name.clone())
        .bind(t.created_at.micros())
        .bind(t.quotas.max_concurrent.map(int))
        .bind(t.quotas.max_stored_bytes.map(int))
        .bind(t.quotas.max_nodes_per_hour.map(int))
        .bind(t.quotas.max_running_attempts.map(int));
}

/// The message (SQLite) of a unit refused by [`no_quotas_into`]'s guard.
pub const QUOTAS_SET: &str = "wtb-quotas-set";
/// The SQLSTATE PostgreSQL's guard raises.
pub const QUOTAS_SET_CODE: &str = "WTBQS";

/// The guard that `tenant` has no quota set: a start appends it when its process last saw the
/// tenant without quotas and did not read it again. The statement inserts into
/// `quota_guards` only if a quota is set now, and that table's trigger refuses every row: the
/// unit fails with [`QUOTAS_SET`], inside the same transaction that would have started the
/// execution, so a quota set by any process is never missed.
pub fn no_quotas_into(batch: &mut Batch, tenant: TenantId) {
    batch
        .statement_in(
            Phase::Guards,
            "INSERT INTO quota_guards (tenant_id) SELECT id FROM tenants WHERE id = ? AND (max_concurrent IS NOT NULL \
             OR max_stored_bytes IS NOT NULL OR max_nodes_per_hour IS NOT NULL OR max_running_attempts IS NOT NULL)",
        )
        .bind(tenant.uuid());
}

/// Replaces a tenant's quotas; false if there is no such tenant.
pub async fn set_quotas(db: &mut Conn<'_>, id: TenantId, q: &Quotas) -> Result<bool, DbError> {
    let done = query("UPDATE tenants SET max_concurrent = ?, max_stored_bytes = ?, max_nodes_per_hour = ?, max_running_attempts = ? WHERE id = ?")
        .bind(q.max_concurrent.map(int))
        .bind(q.max_stored_bytes.map(int))
        .bind(q.max_nodes_per_hour.map(int))
        .bind(q.max_running_attempts.map(int))
        .bind(id.uuid())
        .execute(db)
        .await?;
    Ok(done == 1)
}

/// The tenant with `id`.
pub async fn get_one(db: &mut Conn<'_>, id: TenantId) -> Result<Option<Tenant>, DbError> {
    let row = query(format!("SELECT {COLUMNS} FROM tenants WHERE id = ?"))
        .bind(id.uuid())
        .fetch_optional::<Row>(db)
        .await?;
    row.map(Tenant::try_from).transpose()
}

/// The tenant called `name`.
pub async fn get_by_name(db: &mut Conn<'_>, name: &str) -> Result<Option<Tenant>, DbError> {
    let row = query(format!("SELECT {COLUMNS} FROM tenants WHERE name = ?"))
        .bind(name.to_owned())
        .fetch_optional::<Row>(db)
        .await?;
    row.map(Tenant::try_from).transpose()
}

/// Every tenant, by name.
pub async fn list(db: &mut Conn<'_>) -> Result<Vec<Tenant>, DbError> {
    let rows = query(format!("SELECT {COLUMNS} FROM tenants ORDER BY name")).fetch_all::<Row>(db).await?;
    rows.into_iter().map(Tenant::try_from).collect()
}

/// A `tenants` row as stored.
#[derive(sqlx_macros::FromRow)]
pub(super) struct Row {
    pub(super) id: uuid::Uuid,
    pub(super) name: String,
    pub(super) created_at: i64,
    pub(super) max_concurrent: Option<i64>,
    pub(super) max_stored_bytes: Option<i64>,
    pub(super) max_nodes_per_hour: Option<i64>,
    pub(super) max_running_attempts: Option<i64>,
}

impl TryFrom<Row> for Tenant {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(Tenant {
            id: TenantId::from_uuid(r.id),
            name: r.name,
            created_at: Timestamp::from_micros(r.created_at),
            quotas: Quotas {
                max_concurrent: in_range_opt("max_concurrent", r.max_concurrent)?,
                max_stored_bytes: in_range_opt("max_stored_bytes", r.max_stored_bytes)?,
                max_nodes_per_hour: in_range_opt("max_nodes_per_hour", r.max_nodes_per_hour)?,
                max_running_attempts: in_range_opt("max_running_attempts", r.max_running_attempts)?,
            },
        })
    }
}

/// The tenant's usage, counting node attempts that ended at or after `since`.
pub async fn usage(db: &mut Conn<'_>, id: TenantId, since: Timestamp) -> Result<Usage, DbError> {
    let (running, stored_bytes, nodes_since): (i64, i64, i64) = query(
        "SELECT (SELECT count(*) FROM executions WHERE tenant_id = ?1 AND status = 'running') AS running,
                CAST((SELECT coalesce(sum(size), 0) FROM blobs WHERE tenant_id = ?1)
                + (SELECT coalesce(sum(octet_length(c.state)), 0) FROM checkpoints c JOIN executions e ON e.id = c.execution_id WHERE e.tenant_id = ?1)
                + (SELECT coalesce(sum(octet_length(b.stdout) + octet_length(b.stderr)), 0)
                     FROM node_boundaries b JOIN executions e ON e.id = b.execution_id WHERE e.tenant_id = ?1)
                + (SELECT coalesce(sum(octet_length(payload)), 0) FROM outbox WHERE tenant_id = ?1) AS BIGINT) AS stored_bytes,
                (SELECT count(*) FROM node_boundaries b JOIN executions e ON e.id = b.execution_id
                  WHERE b.finished_at >= ?2 AND e.tenant_id = ?1) AS nodes_since",
    )
    .bind(id.uuid())
    .bind(since.micros())
    .fetch_one(db)
    .await?;
    Ok(Usage {
        running: in_range("running", running)?,
        stored_bytes: in_range("stored_bytes", stored_bytes)?,
        nodes_since: in_range("nodes_since", nodes_since)?,
    })
}

/// Node attempts of the tenant that ended at or after `since` (the per-attempt half of [`usage`]).
pub async fn nodes_since(db: &mut Conn<'_>, id: TenantId, since: Timestamp) -> Result<u64, DbError> {
    let n: i64 = query("SELECT count(*) FROM node_boundaries b JOIN executions e ON e.id = b.execution_id WHERE b.finished_at >= ? AND e.tenant_id = ?")
        .bind(since.micros())
        .bind(id.uuid())
        .scalar(db)
        .await?;
    in_range("n", n)
}

const TOKEN_COLUMNS: &str = "id, tenant_id, name, created_at, revoked_at";

/// Stores a token by the SHA-256 (hex) of its secret.
pub async fn insert_token(db: &mut Conn<'_>, t: &ApiToken, hash: &str) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_token_into(batch, t, hash)).await
}

/// [`insert_token`], appended to a batch.
pub fn insert_token_into(batch: &mut Batch, t: &ApiToken, hash: &str) {
    batch
        .statement(&format!("INSERT INTO api_tokens ({TOKEN_COLUMNS}, hash) VALUES (?, ?, ?, ?, ?, ?)"))
        .bind(t.id.uuid())
        .bind(t.tenant.uuid())
        .bind(t.name.clone())
        .bind(t.created_at.micros())
        .bind(t.revoked_at.map(|r| r.micros()))
        .bind(hash.to_owned());
}

/// The token whose secret hashes to `hash`, revoked or not.
pub async fn token_by_hash(db: &mut Conn<'_>, hash: &str) -> Result<Option<ApiToken>, DbError> {
    let row = query(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?"))
        .bind(hash.to_owned())
        .fetch_optional::<TokenRow>(db)
        .await?;
    row.map(ApiToken::from).map(Ok).transpose()
}

/// Revokes a token of `tenant`; false if it has no such token or it was already revoked.
pub async fn revoke_token(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: TokenId,
    now: Timestamp,
) -> Result<bool, DbError> {
    let done =
        query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL")
            .bind(now.micros())
            .bind(id.uuid())
            .bind(tenant.uuid())
            .execute(db)
            .await?;
    Ok(done == 1)
}

/// A tenant's tokens, oldest first (secrets are never stored, so never listed).
pub async fn list_tokens(db: &mut Conn<'_>, tenant: TenantId) -> Result<Vec<ApiToken>, DbError> {
    let rows = query(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = ? ORDER BY id"))
        .bind(tenant.uuid())
        .fetch_all::<TokenRow>(db)
        .await?;
    Ok(rows.into_iter().map(ApiToken::from).collect())
}

/// An `api_tokens` row as stored (never its hash).
#[derive(sqlx_macros::FromRow)]
struct TokenRow {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    name: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: TokenId::from_uuid(r.id),
            tenant: TenantId::from_uuid(r.tenant_id),
            name: r.name,
            created_at: Timestamp::from_micros(r.created_at),
            revoked_at: r.revoked_at.map(Timestamp::from_micros),
        }
    }
}
