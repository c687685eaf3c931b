//! Blob references. A row means "this tenant's data references this content"; small contents
//! are stored in the row itself, larger ones are files in the CAS.

use super::DbError;
use super::batch::Batch;
use super::decode::{in_range, int, parsed};
use super::merge::Phase;
use super::{Conn, query};
use crate::db::port::BlobTotals;
use wtb_core::model::{BlobRecord, Digest, TenantId, Timestamp};

/// Inserts a reference; an existing one (same tenant and digest) is kept as it is, which is
/// what makes identical content cost nothing the second time.
pub async fn insert(db: &mut Conn<'_>, b: &BlobRecord) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, b)).await
}

/// [`insert`], appended to a batch.
pub fn insert_into(batch: &mut Batch, b: &BlobRecord) {
    batch
        .rows(
            Phase::Blobs,
            "INSERT INTO blobs (tenant_id, digest, size, inline_data, created_at)",
            "(?, ?, ?, ?, ?)",
            1,
            "ON CONFLICT DO NOTHING",
        )
        .bind(b.tenant.uuid())
        .bind(b.digest.to_hex())
        .bind(int(b.size))
        .bind(b.inline.clone())
        .bind(b.created_at.micros());
}

const COLUMNS: &str = "tenant_id, digest, size, inline_data, created_at";

/// The reference to `digest`, with its inline content if it has one.
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    digest: &Digest,
) -> Result<Option<BlobRecord>, DbError> {
    let row = query(format!("SELECT {COLUMNS} FROM blobs WHERE tenant_id = ? AND digest = ?"))
        .bind(tenant.uuid())
        .bind(digest.to_hex())
        .fetch_optional::<Row>(db)
        .await?;
    row.map(BlobRecord::try_from).transpose()
}

/// Every reference of a tenant, inline contents included (what `wtb fsck` verifies).
pub async fn list_all(db: &mut Conn<'_>, tenant: TenantId) -> Result<Vec<BlobRecord>, DbError> {
    let rows = query(format!("SELECT {COLUMNS} FROM blobs WHERE tenant_id = ? ORDER BY digest"))
        .bind(tenant.uuid())
        .fetch_all::<Row>(db)
        .await?;
    rows.into_iter().map(BlobRecord::try_from).collect()
}

/// A `blobs` row as stored.
#[derive(sqlx_macros::FromRow)]
struct Row {
    tenant_id: uuid::Uuid,
    digest: String,
    size: i64,
    inline_data: Option<Vec<u8>>,
    created_at: i64,
}

impl TryFrom<Row> for BlobRecord {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(BlobRecord {
            tenant: TenantId::from_uuid(r.tenant_id),
            digest: parsed("digest", &r.digest)?,
            size: in_range("size", r.size)?,
            inline: r.inline_data,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}

/// The inline contents among `digests` (the others live in the CAS), a few hundred digests
/// per query.
pub async fn inline_contents(
    db: &mut Conn<'_>,
    tenant: TenantId,
    digests: &[Digest],
) -> Result<std::collections::HashMap<Digest, Vec<u8>>, DbError> {
    let mut out = std::collections::HashMap::new();
    for part in digests.chunks(500) {
        let mut q =
            query("SELECT digest, inline_data FROM blobs WHERE inline_data IS NOT NULL AND tenant_id = ");
        q.push_bind(tenant.uuid())
            .push(" AND digest IN (")
            .push_list(part.iter().map(Digest::to_hex))
            .push(")");
        let rows: Vec<(String, Vec<u8>)> = q.fetch_all(db).await?;
        for (digest, data) in rows {
            let digest = digest
                .parse()
                .map_err(|e| DbError::Corrupt { what: "blob digest", detail: format!("{digest}: {e}") })?;
            out.insert(digest, data);
        }
    }
    Ok(out)
}

/// The digests a tenant's rows reference (what keeps a CAS object alive).
pub async fn digests(
    db: &mut Conn<'_>,
    tenant: TenantId,
) -> Result<std::collections::HashSet<Digest>, DbError> {
    let rows: Vec<String> =
        query("SELECT digest FROM blobs WHERE tenant_id = ?").bind(tenant.uuid()).scalars(db).await?;
    rows.iter()
        .map(|d| d.parse().map_err(|e| DbError::Corrupt { what: "blob digest", detail: format!("{d}: {e}") }))
        .collect()
}

/// Number of references and their total size for a tenant, split into inline and CAS.
pub async fn totals(db: &mut Conn<'_>, tenant: TenantId) -> Result<BlobTotals, DbError> {
    let (n, bytes, cas_bytes): (i64, i64, i64) = query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN inline_data IS NULL THEN size ELSE 0 END), 0) AS BIGINT)
         FROM blobs WHERE tenant_id = ?",
    )
    .bind(tenant.uuid())
    .fetch_one(db)
    .await?;
    Ok(BlobTotals {
        count: in_range("count", n)?,
        bytes: in_range("bytes", bytes)?,
        cas_bytes: in_range("cas_bytes", cas_bytes)?,
    })
}
