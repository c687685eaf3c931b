//! Retention GC's SQL: deleting expired executions with everything they own, then
//! mark-and-sweep of file commits and blob rows from what is left. It spans aggregates on
//! purpose — a sweep must see them all in one transaction — so it lives in one place here.
//!
//! Run inside one `BEGIN IMMEDIATE` transaction with foreign keys deferred: executions, their
//! checkpoints and forks reference each other, and only the end state must be consistent.

use super::DbError;
use super::decode::{in_range, parsed};
use super::{Conn, Dialect, Pool, query};
use crate::db::port::Swept;
use std::collections::HashSet;
use wtb_core::model::{ExecutionId, TenantId, Timestamp};
use wtb_core::retention::ExecutionFacts;

/// Every execution of every tenant.
pub async fn executions(db: &mut Conn<'_>) -> Result<Vec<ExecutionFacts>, DbError> {
    type Facts = (uuid::Uuid, uuid::Uuid, String, String, i64, Option<uuid::Uuid>);
    let rows: Vec<Facts> = query(
        "SELECT e.id, e.tenant_id, w.name, e.status, e.created_at, e.parent_execution_id FROM executions e JOIN workflows w ON w.id = e.workflow_id",
    )
    .fetch_all(db)
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
pub async fn undelivered(db: &mut Conn<'_>, sinks: &[String]) -> Result<Vec<ExecutionId>, DbError> {
    if sinks.is_empty() {
        return Ok(Vec::new());
    }
    let mut q =
        query("SELECT DISTINCT execution_id FROM outbox_deliveries WHERE status = 'pending' AND sink IN (");
    q.push_list(sinks.iter().cloned());
    q.push(
        ") UNION SELECT DISTINCT execution_id FROM outbox WHERE pos IS NULL OR pos > (SELECT MIN(COALESCE(c.pos, 0)) FROM (",
    );
    for (i, s) in sinks.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        q.push("SELECT ").push_bind(s.clone()).push(" AS sink");
    }
    q.push(") k LEFT JOIN outbox_cursors c ON c.sink = k.sink)");
    let ids: Vec<uuid::Uuid> = q.scalars(db).await?;
    Ok(ids.into_iter().map(ExecutionId::from_uuid).collect())
}

/// The PostgreSQL advisory lock a collection holds exclusively and every group commit shared
/// ("wtb-sweep" as an integer).
pub const SWEEP_LOCK: i64 = 0x7774_622d_7377_6565;

/// One retention pass as one unit of work, in one transaction no commit can slip into
/// (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: [`SWEEP_LOCK`]): reads every execution and those with events not yet
/// delivered to `sinks`, lets `decide` (pure) name the expired ones (and say what else it
/// wants reported), then [`sweep`]s them. With `dry_run` the transaction is rolled back, so
/// the report is exact and nothing changed.
pub async fn collect<T>(
    pool: &Pool,
    sinks: &[String],
    dry_run: bool,
    decide: impl FnOnce(&[ExecutionFacts], &HashSet<ExecutionId>) -> (Vec<ExecutionId>, T),
) -> Result<(Vec<ExecutionId>, T, Swept), DbError> {
    let mut tx = pool.begin().await?;
    let db = &mut tx.conn();
    if db.dialect() == Dialect::Postgres {
        // Alone, as under SQLite's write lock: every group commit holds this lock shared, so
        // no exit can add a reference to a blob row or file commit between the marks and the
        // sweep (nor can another collection run).
        query("SELECT pg_advisory_xact_lock(?)::text").bind(SWEEP_LOCK).execute(db).await?;
    }
    let candidates = executions(db).await?;
    let undelivered: HashSet<ExecutionId> = undelivered(db, sinks).await?.into_iter().collect();
    let (expired, decided) = decide(&candidates, &undelivered);
    let swept = sweep(db, &expired).await?;
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
pub async fn sweep(db: &mut Conn<'_>, expired: &[ExecutionId]) -> Result<Swept, DbError> {
    let mut out = Swept::default();
    let dialect = db.dialect();
    for sql in scratch_tables(dialect) {
        query(*sql).execute(db).await?;
    }
    for part in expired.chunks(500) {
        let mut q = query("INSERT INTO gc_expired (id) VALUES ");
        for (i, id) in part.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" }).push_bind(id.uuid()).push(")");
        }
        q.execute(db).await?;
    }
    let run = query;
    run("DELETE FROM outbox_deliveries WHERE execution_id IN (SELECT id FROM gc_expired)")
        .execute(db)
        .await?;
    out.events =
        run("DELETE FROM outbox WHERE execution_id IN (SELECT id FROM gc_expired)").execute(db).await?;
    run("DELETE FROM join_arrivals WHERE execution_id IN (SELECT id FROM gc_expired)").execute(db).await?;
    out.node_attempts = run("DELETE FROM node_boundaries WHERE execution_id IN (SELECT id FROM gc_expired)")
        .execute(db)
        .await?;
    out.checkpoints =
        run("DELETE FROM checkpoints WHERE execution_id IN (SELECT id FROM gc_expired)").execute(db).await?;
    run("DELETE FROM executions WHERE id IN (SELECT id FROM gc_expired)").execute(db).await?;
    // Mark: commits the remaining checkpoints use, with their ancestors (a delta commit is
    // rebuilt from its snapshot ancestor).
    run("INSERT INTO gc_commits (id)
         WITH RECURSIVE live(id) AS (
             SELECT file_commit_id FROM checkpoints
             UNION SELECT f.parent_id FROM file_commits f JOIN live ON f.id = live.id WHERE f.parent_id IS NOT NULL
         ) SELECT id FROM live")
    .execute(db)
    .await?;
    run("DELETE FROM file_changes WHERE commit_id NOT IN (SELECT id FROM gc_commits)").execute(db).await?;
    out.file_commits =
        run("DELETE FROM file_commits WHERE id NOT IN (SELECT id FROM gc_commits)").execute(db).await?;
    // Mark: contents of the kept commits (their changes, and snapshot trees) and components.
    run("INSERT INTO gc_blobs SELECT f.tenant_id, c.digest FROM file_changes c JOIN file_commits f ON f.id = c.commit_id WHERE c.digest IS NOT NULL ON CONFLICT DO NOTHING")
        .execute(db)
        .await?;
    let tree_digests = match dialect {
        Dialect::Sqlite => {
            "INSERT INTO gc_blobs SELECT f.tenant_id, json_extract(t.value, '$.digest') FROM file_commits f, json_each(f.tree) t
             WHERE f.tree IS NOT NULL AND json_extract(t.value, '$.digest') IS NOT NULL ON CONFLICT DO NOTHING"
        }
        Dialect::Postgres => {
            "INSERT INTO gc_blobs SELECT f.tenant_id, t.value ->> 'digest' FROM file_commits f, jsonb_each(f.tree::jsonb) t
             WHERE f.tree IS NOT NULL AND t.value ->> 'digest' IS NOT NULL ON CONFLICT DO NOTHING"
        }
    };
    run(tree_digests).execute(db).await?;
    run("INSERT INTO gc_blobs SELECT tenant_id, digest FROM components WHERE true ON CONFLICT DO NOTHING")
        .execute(db)
        .await?;
    let doomed: Vec<(uuid::Uuid, String, i64, bool)> = query(
        "SELECT b.tenant_id, b.digest, b.size, b.inline_data IS NULL AS in_cas FROM blobs b
         WHERE NOT EXISTS (SELECT 1 FROM gc_blobs g WHERE g.tenant_id = b.tenant_id AND g.digest = b.digest)",
    )
    .fetch_all(db)
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
        .execute(db)
        .await?;
    Ok(out)
}

/// The sweep's scratch tables, created empty, and the foreign keys checked at commit only
/// (expired executions, their checkpoints and forks refer to each other).
fn scratch_tables(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Sqlite => &[
            "PRAGMA defer_foreign_keys = ON",
            "CREATE TEMP TABLE IF NOT EXISTS gc_expired (id BLOB PRIMARY KEY)",
            "CREATE TEMP TABLE IF NOT EXISTS gc_commits (id BLOB PRIMARY KEY)",
            "CREATE TEMP TABLE IF NOT EXISTS gc_blobs (tenant_id BLOB NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (tenant_id, digest)) WITHOUT ROWID",
            "DELETE FROM gc_expired",
            "DELETE FROM gc_commits",
            "DELETE FROM gc_blobs",
        ],
        Dialect::Postgres => &[
            "SET CONSTRAINTS ALL DEFERRED",
            "CREATE TEMP TABLE gc_expired (id UUID PRIMARY KEY) ON COMMIT DROP",
            "CREATE TEMP TABLE gc_commits (id UUID PRIMARY KEY) ON COMMIT DROP",
            "CREATE TEMP TABLE gc_blobs (tenant_id UUID NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (tenant_id, digest)) ON COMMIT DROP",
        ],
    }
}
