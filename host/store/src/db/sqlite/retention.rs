//! Retention GC's SQL: deleting expired executions with everything they own, then
//! mark-and-sweep of file commits and blob rows from what is left. It spans aggregates on
//! purpose — a sweep must see them all in one transaction — so it lives in one place here.
//!
//! Run inside one `BEGIN IMMEDIATE` transaction with foreign keys deferred: executions, their
//! checkpoints and forks reference each other, and only the end state must be consistent.

use super::DbError;
use super::decode::{in_range, parsed};
use crate::db::port::Swept;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use std::collections::HashSet;
use wtb_core::model::{ExecutionId, TenantId, Timestamp};
use wtb_core::retention::ExecutionFacts;

/// Every execution of every tenant.
pub async fn executions(conn: &mut SqliteConnection) -> Result<Vec<ExecutionFacts>, DbError> {
    type Facts = (uuid::Uuid, uuid::Uuid, String, String, i64, Option<uuid::Uuid>);
    let rows: Vec<Facts> = sqlx::query_as(
        "SELECT e.id, e.tenant_id, w.name, e.status, e.created_at, e.parent_execution_id FROM executions e JOIN workflows w ON w.id = e.workflow_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(id, tenant, workflow, status, created_at, parent)| {
            Ok(ExecutionFacts {
                id: ExecutionId::from_uuid(id),
                tenant: TenantId::from_uuid(tenant),
                workflow,
                status: parsed("status", &status)?,
                created_at: Timestamp::from_micros(created_at),
                parent: parent.map(ExecutionId::from_uuid),
            })
        })
        .collect()
}

/// Executions with an event some of `sinks` has not had yet: a pending delivery row, or an
/// event past a sink's cursor (no row yet). Dead deliveries do not hold an execution back (they
/// were given up on; `wtb outbox list --status dead` shows them until the GC).
pub async fn undelivered(conn: &mut SqliteConnection, sinks: &[String]) -> Result<Vec<ExecutionId>, DbError> {
    if sinks.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT DISTINCT execution_id FROM outbox_deliveries WHERE status = 'pending' AND sink IN (",
    );
    let mut list = q.separated(", ");
    for s in sinks {
        list.push_bind(s.clone());
    }
    q.push(
        ") UNION SELECT DISTINCT execution_id FROM outbox WHERE pos > (SELECT MIN(COALESCE(c.pos, 0)) FROM (",
    );
    for (i, s) in sinks.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        q.push("SELECT ").push_bind(s.clone()).push(" AS sink");
    }
    q.push(") k LEFT JOIN outbox_cursors c ON c.sink = k.sink)");
    let ids: Vec<uuid::Uuid> = q.build_query_scalar().fetch_all(&mut *conn).await?;
    Ok(ids.into_iter().map(ExecutionId::from_uuid).collect())
}

/// One retention pass as one unit of work, in one `BEGIN IMMEDIATE` transaction (no commit can
/// slip in between reading and deleting): reads every execution and those with events not yet
/// delivered to `sinks`, lets `decide` (pure) name the expired ones (and say what else it
/// wants reported), then [`sweep`]s them. With `dry_run` the transaction is rolled back, so
/// the report is exact and nothing changed.
pub async fn collect<T>(
    pool: &SqlitePool,
    sinks: &[String],
    dry_run: bool,
    decide: impl FnOnce(&[ExecutionFacts], &HashSet<ExecutionId>) -> (Vec<ExecutionId>, T),
) -> Result<(Vec<ExecutionId>, T, Swept), DbError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let candidates = executions(&mut tx).await?;
    let undelivered: HashSet<ExecutionId> = undelivered(&mut tx, sinks).await?.into_iter().collect();
    let (expired, decided) = decide(&candidates, &undelivered);
    let swept = sweep(&mut tx, &expired).await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok((expired, decided, swept))
}

/// Deletes `expired` executions and everything only they own, then sweeps file commits and
/// blob rows nothing kept references. Marks are computed from the rows that remain, so a
/// blob shared with a kept execution (forks share their parent's) survives.
pub async fn sweep(conn: &mut SqliteConnection, expired: &[ExecutionId]) -> Result<Swept, DbError> {
    let mut out = Swept::default();
    sqlx::query("PRAGMA defer_foreign_keys = ON").execute(&mut *conn).await?;
    sqlx::query("CREATE TEMP TABLE IF NOT EXISTS gc_expired (id BLOB PRIMARY KEY)")
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM gc_expired").execute(&mut *conn).await?;
    for part in expired.chunks(500) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO gc_expired (id) ");
        q.push_values(part, |mut row, id| {
            row.push_bind(id.uuid());
        });
        q.build().execute(&mut *conn).await?;
    }
    let run = |sql: &'static str| sqlx::query(sql);
    run("DELETE FROM outbox_deliveries WHERE execution_id IN (SELECT id FROM gc_expired)")
        .execute(&mut *conn)
        .await?;
    out.events = run("DELETE FROM outbox WHERE execution_id IN (SELECT id FROM gc_expired)")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    run("DELETE FROM join_arrivals WHERE execution_id IN (SELECT id FROM gc_expired)")
        .execute(&mut *conn)
        .await?;
    out.node_attempts = run("DELETE FROM node_boundaries WHERE execution_id IN (SELECT id FROM gc_expired)")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    out.checkpoints = run("DELETE FROM checkpoints WHERE execution_id IN (SELECT id FROM gc_expired)")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    run("DELETE FROM executions WHERE id IN (SELECT id FROM gc_expired)").execute(&mut *conn).await?;
    // Mark: commits the remaining checkpoints use, with their ancestors (a delta commit is
    // rebuilt from its snapshot ancestor).
    run("CREATE TEMP TABLE IF NOT EXISTS gc_commits (id BLOB PRIMARY KEY)").execute(&mut *conn).await?;
    run("DELETE FROM gc_commits").execute(&mut *conn).await?;
    run("INSERT INTO gc_commits (id)
         WITH RECURSIVE live(id) AS (
             SELECT file_commit_id FROM checkpoints
             UNION SELECT f.parent_id FROM file_commits f JOIN live ON f.id = live.id WHERE f.parent_id IS NOT NULL
         ) SELECT id FROM live")
    .execute(&mut *conn)
    .await?;
    run("DELETE FROM file_changes WHERE commit_id NOT IN (SELECT id FROM gc_commits)")
        .execute(&mut *conn)
        .await?;
    out.file_commits = run("DELETE FROM file_commits WHERE id NOT IN (SELECT id FROM gc_commits)")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    // Mark: contents of the kept commits (their changes, and snapshot trees) and components.
    run("CREATE TEMP TABLE IF NOT EXISTS gc_blobs (tenant_id BLOB NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (tenant_id, digest)) WITHOUT ROWID").execute(&mut *conn).await?;
    run("DELETE FROM gc_blobs").execute(&mut *conn).await?;
    run("INSERT OR IGNORE INTO gc_blobs SELECT f.tenant_id, c.digest FROM file_changes c JOIN file_commits f ON f.id = c.commit_id WHERE c.digest IS NOT NULL")
        .execute(&mut *conn)
        .await?;
    run("INSERT OR IGNORE INTO gc_blobs SELECT f.tenant_id, json_extract(t.value, '$.digest') FROM file_commits f, json_each(f.tree) t
         WHERE f.tree IS NOT NULL AND json_extract(t.value, '$.digest') IS NOT NULL")
    .execute(&mut *conn)
    .await?;
    run("INSERT OR IGNORE INTO gc_blobs SELECT tenant_id, digest FROM components")
        .execute(&mut *conn)
        .await?;
    let doomed: Vec<(uuid::Uuid, String, i64, bool)> = sqlx::query_as(
        "SELECT b.tenant_id, b.digest, b.size, b.inline_data IS NULL AS in_cas FROM blobs b
         WHERE NOT EXISTS (SELECT 1 FROM gc_blobs g WHERE g.tenant_id = b.tenant_id AND g.digest = b.digest)",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (tenant, digest, size, in_cas) in doomed {
        out.blobs.push((
            TenantId::from_uuid(tenant),
            parsed("digest", &digest)?,
            in_range("size", size)?,
            in_cas,
        ));
    }
    run("DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM gc_blobs g WHERE g.tenant_id = blobs.tenant_id AND g.digest = blobs.digest)")
        .execute(&mut *conn)
        .await?;
    Ok(out)
}
