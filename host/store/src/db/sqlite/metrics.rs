//! What `/metrics` reports, read from the database (so it counts every process's work, not
//! only the server's): executions by tenant and status, ended node attempts by outcome with a
//! duration histogram, stored blob bytes.

use super::DbError;
use crate::db::port::{DURATION_BUCKETS, Snapshot};
use sqlx::SqliteConnection;

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Reads the counters (one read transaction, so they agree with each other).
pub async fn snapshot(conn: &mut SqliteConnection) -> Result<Snapshot, DbError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let executions: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT t.name, e.status, COUNT(*) FROM executions e JOIN tenants t ON t.id = e.tenant_id GROUP BY t.name, e.status ORDER BY t.name, e.status")
            .fetch_all(&mut *tx)
            .await?;
    let nodes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CASE WHEN status = 'trapped' AND trap_kind IS NOT NULL THEN trap_kind ELSE status END AS outcome, COUNT(*)
         FROM node_boundaries WHERE finished_at IS NOT NULL GROUP BY outcome ORDER BY outcome",
    )
    .fetch_all(&mut *tx)
    .await?;
    let bucket_sql: Vec<String> =
        DURATION_BUCKETS.iter().map(|b| format!("SUM(d <= {})", (b * 1e6) as i64)).collect();
    let sql = format!(
        "SELECT COUNT(*), COALESCE(SUM(d), 0), {} FROM (SELECT finished_at - started_at AS d FROM node_boundaries WHERE finished_at IS NOT NULL)",
        bucket_sql.join(", ")
    );
    let row = sqlx::query(&sql).fetch_one(&mut *tx).await?;
    let get = |i: usize| -> Result<i64, DbError> {
        Ok(sqlx::Row::try_get::<Option<i64>, _>(&row, i)?.unwrap_or(0))
    };
    let duration_count = count(get(0)?);
    let duration_sum = get(1)? as f64 / 1e6;
    let duration_buckets =
        (0..DURATION_BUCKETS.len()).map(|i| get(i + 2).map(count)).collect::<Result<_, _>>()?;
    let blob_bytes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CASE WHEN inline_data IS NULL THEN 'cas' ELSE 'inline' END AS storage, COALESCE(SUM(size), 0) FROM blobs GROUP BY storage ORDER BY storage",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Snapshot {
        executions: executions.into_iter().map(|(t, s, n)| (t, s, count(n))).collect(),
        nodes: nodes.into_iter().map(|(o, n)| (o, count(n))).collect(),
        duration_buckets,
        duration_sum,
        duration_count,
        blob_bytes: blob_bytes.into_iter().map(|(s, n)| (s, count(n))).collect(),
    })
}
