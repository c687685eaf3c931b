//! What `/metrics` reports, read from the database (so it counts every process's work, not
//! only the server's): executions by tenant and status, ended node attempts by outcome with a
//! duration histogram, stored blob bytes.

use super::{DbError, Pool, query};
use crate::db::port::{DURATION_BUCKETS, Snapshot};

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The counters of the duration histogram: one row of `Option<i64>` columns, as many as the
/// query has, decoded by either backend.
struct Counts(Vec<i64>);

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for Counts
where
    usize: sqlx::ColumnIndex<R>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        (0..row.len())
            .map(|i| Ok(row.try_get::<Option<i64>, _>(i)?.unwrap_or(0)))
            .collect::<Result<_, _>>()
            .map(Counts)
    }
}

/// Reads the counters (one read-only snapshot, so they agree with each other).
pub async fn snapshot(pool: &Pool) -> Result<Snapshot, DbError> {
    let mut tx = pool.snapshot().await?;
    let db = &mut tx.conn();
    let executions: Vec<(String, String, i64)> =
        query("SELECT t.name, e.status, COUNT(*) FROM executions e JOIN tenants t ON t.id = e.tenant_id GROUP BY t.name, e.status ORDER BY t.name, e.status")
            .fetch_all(db)
            .await?;
    let nodes: Vec<(String, i64)> = query(
        "SELECT CASE WHEN status = 'trapped' AND trap_kind IS NOT NULL THEN trap_kind ELSE status END AS outcome, COUNT(*)
         FROM node_boundaries WHERE finished_at IS NOT NULL GROUP BY outcome ORDER BY outcome",
    )
    .fetch_all(db)
    .await?;
    let bucket_sql: Vec<String> = DURATION_BUCKETS
        .iter()
        .map(|b| format!("SUM(CASE WHEN d <= {} THEN 1 ELSE 0 END)", (b * 1e6) as i64))
        .collect();
    let sql = format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(d), 0) AS BIGINT), {} FROM (SELECT finished_at - started_at AS d FROM node_boundaries WHERE finished_at IS NOT NULL) AS attempts",
        bucket_sql.join(", ")
    );
    let Counts(counts) = query(sql).fetch_one(db).await?;
    let get = |i: usize| counts.get(i).copied().unwrap_or(0);
    let duration_count = count(get(0));
    let duration_sum = get(1) as f64 / 1e6;
    let duration_buckets = (0..DURATION_BUCKETS.len()).map(|i| count(get(i + 2))).collect();
    let blob_bytes: Vec<(String, i64)> = query(
        "SELECT CASE WHEN inline_data IS NULL THEN 'cas' ELSE 'inline' END AS storage, CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs GROUP BY storage ORDER BY storage",
    )
    .fetch_all(db)
    .await?;
    tx.rollback().await?;
    Ok(Snapshot {
        executions: executions.into_iter().map(|(t, s, n)| (t, s, count(n))).collect(),
        nodes: nodes.into_iter().map(|(o, n)| (o, count(n))).collect(),
        duration_buckets,
        duration_sum,
        duration_count,
        blob_bytes: blob_bytes.into_iter().map(|(s, n)| (s, count(n))).collect(),
    })
}
