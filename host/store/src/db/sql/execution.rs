//! Executions.

use super::DbError;
use super::batch::Batch;
use super::decode::{from_json, parsed};
use super::merge::Phase;
use super::{Conn, query};
use crate::db::port::ListFilter;
use uuid::Uuid;
use wtb_core::model::{
    CheckpointId, Execution, ExecutionId, ExecutionStatus, TenantId, Timestamp, WorkflowId,
};

pub(super) const COLUMNS: &str = "id, tenant_id, workflow_id, status, cursor, parent_checkpoint_id, parent_execution_id, variant, environment, error, created_at, updated_at";

/// Inserts a new execution.
pub async fn insert(db: &mut Conn<'_>, e: &Execution) -> Result<(), DbError> {
    Batch::run(db, |batch| insert_into(batch, e, None)).await
}

/// What a drive stores with the execution it starts: its lease and the breakpoints.
pub struct Driven<'a> {
    /// The process holding the lease (fencing token 1); `None`: for a worker to claim.
    pub owner: Option<&'a str>,
    /// When the lease runs out unless renewed.
    pub lease_until: Timestamp,
    /// The breakpoints, as stored (`{"before": [..], "after": [..]}`).
    pub breakpoints: &'a serde_json::Value,
}

/// [`insert`], appended to a batch; with `driven`, the lease and breakpoints are set in the
/// same statement (the start transaction's row is written once).
pub fn insert_into(batch: &mut Batch, e: &Execution, driven: Option<&Driven<'_>>) {
    let (columns, values) = match driven {
        Some(Driven { owner: Some(_), .. }) => {
            (", lease_owner, lease_until, lease_epoch, breakpoints", ", ?, ?, 1, ?")
        }
        Some(Driven { owner: None, .. }) => (", breakpoints", ", ?"),
        None => ("", ""),
    };
    batch
        .rows(
            Phase::Executions,
            &format!("INSERT INTO executions ({COLUMNS}{columns})"),
            &format!("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{values})"),
            1,
            "",
        )
        .bind(e.id.uuid())
        .bind(e.tenant.uuid())
        .bind(e.workflow.uuid())
        .bind(e.status.as_str())
        .bind(e.cursor.clone())
        .bind(e.parent_checkpoint.map(|c| c.uuid()))
        .bind(e.parent_execution.map(|c| c.uuid()))
        .bind(e.variant.clone())
        .bind(
            (!e.environment.is_default()).then(|| serde_json::to_string(&e.environment).unwrap_or_default()),
        )
        .bind(e.error.clone())
        .bind(e.created_at.micros())
        .bind(e.updated_at.micros());
    if let Some(d) = driven {
        if let Some(owner) = d.owner {
            batch.bind(owner.to_owned()).bind(d.lease_until.micros());
        }
        batch.bind(d.breakpoints.to_string());
    }
}

/// Where an execution stands after a unit: the nodes left open, and — when `status` is given
/// — its new status and (on failure or pause) why.
pub struct Progress<'a> {
    /// The new status, if it changes.
    pub status: Option<ExecutionStatus>,
    /// The open nodes, as stored.
    pub cursor: Option<&'a str>,
    /// Why it failed or paused.
    pub error: Option<&'a str>,
}

/// Moves an execution on: the nodes left open, the time, and — when `status` is given — its
/// status and (on failure) why; a status other than `running` also releases the lease and
/// clears pending requests. A running drive leaves the status out: the row already says
/// `running`, and rewriting it would update the status index at every boundary. With
/// `fence`, the same statement is the lease's fence (`lease::fence_into`): one row version
/// per exit, not two.
pub fn set_progress_into(
    batch: &mut Batch,
    id: ExecutionId,
    p: &Progress<'_>,
    now: Timestamp,
    fence: Option<u64>,
) {
    let mut sql = String::from("UPDATE executions SET ");
    if p.status.is_some() {
        sql.push_str("status = ?, ");
    }
    sql.push_str("cursor = ?, error = ?, updated_at = ?");
    if fence.is_some() {
        sql.push_str(", lease_epoch = ?");
    }
    if p.status.is_some_and(|s| s != ExecutionStatus::Running) {
        sql.push_str(", lease_owner = NULL, lease_until = NULL, control = NULL, control_seen_by = NULL");
    }
    sql.push_str(" WHERE id = ?");
    batch.statement_in(Phase::Progress, &sql);
    if let Some(status) = p.status {
        batch.bind(status.as_str());
    }
    batch.bind(p.cursor.map(str::to_owned)).bind(p.error.map(str::to_owned)).bind(now.micros());
    if let Some(token) = fence {
        batch.bind(token as i64);
    }
    batch.bind(id.uuid());
}

/// The tenant's execution with `id`; `None` for another tenant's (no existence leak).
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: ExecutionId,
) -> Result<Option<Execution>, DbError> {
    query(format!("SELECT {COLUMNS} FROM executions WHERE tenant_id = ? AND id = ?"))
        .bind(tenant.uuid())
        .bind(id.uuid())
        .fetch_optional::<Row>(db)
        .await?
        .map(Execution::try_from)
        .transpose()
}

/// One page of the tenant's executions matching `filter`, newest first (UUIDv7 order), at most
/// `limit`, starting after the cursor `after` (the last id of the previous page). Ids never
/// change and new executions sort first, so paging never repeats or skips a row.
pub async fn list(
    db: &mut Conn<'_>,
    tenant: TenantId,
    filter: &ListFilter,
    after: Option<ExecutionId>,
    limit: u32,
) -> Result<Vec<Execution>, DbError> {
    let mut q = query(format!("SELECT {COLUMNS} FROM executions WHERE tenant_id = "));
    q.push_bind(tenant.uuid());
    if let Some(status) = filter.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(workflow) = &filter.workflow {
        q.push(" AND workflow_id IN (SELECT id FROM workflows WHERE tenant_id = ").push_bind(tenant.uuid());
        q.push(" AND (name = ")
            .push_bind(workflow.clone())
            .push(" OR digest = ")
            .push_bind(workflow.to_ascii_lowercase())
            .push("))");
    }
    if let Some(t) = filter.created_after {
        q.push(" AND created_at >= ").push_bind(t.micros());
    }
    if let Some(t) = filter.created_before {
        q.push(" AND created_at < ").push_bind(t.micros());
    }
    if let Some(parent) = filter.parent {
        q.push(" AND parent_execution_id = ").push_bind(parent.uuid());
    }
    if let Some(cp) = filter.fork_of {
        q.push(" AND parent_checkpoint_id = ").push_bind(cp.uuid());
    }
    if let Some(variant) = &filter.variant {
        q.push(" AND variant = ").push_bind(variant.clone());
    }
    if let Some(after) = after {
        q.push(" AND id < ").push_bind(after.uuid());
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
    let rows = q.fetch_all::<Row>(db).await?;
    rows.into_iter().map(Execution::try_from).collect()
}

/// Moves an execution back to paused after a rollback: no pending control request, no error.
pub fn rolled_back_into(batch: &mut Batch, id: ExecutionId, cursor: Option<&str>, now: Timestamp) {
    batch
        .statement("UPDATE executions SET status = 'paused', control = NULL, control_seen_by = NULL, error = NULL, cursor = ?, updated_at = ? WHERE id = ?")
        .bind(cursor.map(str::to_owned))
        .bind(now.micros())
        .bind(id.uuid());
}

/// An `executions` row as stored (the columns of [`COLUMNS`]).
#[derive(sqlx_macros::FromRow)]
pub(super) struct Row {
    id: Uuid,
    pub(super) tenant_id: Uuid,
    workflow_id: Uuid,
    status: String,
    cursor: Option<String>,
    parent_checkpoint_id: Option<Uuid>,
    parent_execution_id: Option<Uuid>,
    variant: Option<String>,
    environment: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Execution {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(Execution {
            id: ExecutionId::from_uuid(r.id),
            tenant: TenantId::from_uuid(r.tenant_id),
            workflow: WorkflowId::from_uuid(r.workflow_id),
            status: parsed::<ExecutionStatus>("status", &r.status)?,
            cursor: r.cursor,
            parent_checkpoint: r.parent_checkpoint_id.map(CheckpointId::from_uuid),
            parent_execution: r.parent_execution_id.map(ExecutionId::from_uuid),
            variant: r.variant,
            environment: r.environment.map(|s| from_json("environment", &s)).transpose()?.unwrap_or_default(),
            error: r.error,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

/// Asks the process running a `running` execution to pause or cancel it. Returns whether
/// the execution was running (and so took the request).
pub async fn request(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: ExecutionId,
    control: &str,
) -> Result<bool, DbError> {
    let done = query(
        "UPDATE executions SET control = ?, control_seen_by = NULL WHERE tenant_id = ? AND id = ? AND status = 'running'",
    )
    .bind(control.to_owned())
    .bind(tenant.uuid())
    .bind(id.uuid())
    .execute(db)
    .await?;
    Ok(done == 1)
}

/// Pending requests of all executions (the partial index keeps this cheap to poll), each with
/// whether a drive has taken it already.
pub async fn requests(db: &mut Conn<'_>) -> Result<Vec<(ExecutionId, String, bool)>, DbError> {
    let rows: Vec<(uuid::Uuid, String, bool)> =
        query("SELECT id, control, control_seen_by IS NOT NULL FROM executions WHERE control IS NOT NULL")
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(id, c, seen)| (ExecutionId::from_uuid(id), c, seen)).collect())
}

/// Records that `owner`'s drive has taken the pending request `control` of `id` (a request
/// replaced meanwhile stays unseen).
pub async fn mark_seen(
    db: &mut Conn<'_>,
    id: ExecutionId,
    control: &str,
    owner: &str,
) -> Result<(), DbError> {
    query(
        "UPDATE executions SET control_seen_by = ? WHERE id = ? AND control = ? AND control_seen_by IS NULL",
    )
    .bind(owner.to_owned())
    .bind(id.uuid())
    .bind(control.to_owned())
    .execute(db)
    .await?;
    Ok(())
}

/// Which process has taken the tenant's execution's pending request, if one has.
pub async fn control_seen_by(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: ExecutionId,
) -> Result<Option<String>, DbError> {
    let row: Option<(Option<String>,)> =
        query("SELECT control_seen_by FROM executions WHERE tenant_id = ? AND id = ?")
            .bind(tenant.uuid())
            .bind(id.uuid())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(s,)| s))
}

/// Running executions of a tenant (candidates for a resume after a crash), oldest first.
pub async fn list_running(db: &mut Conn<'_>, tenant: TenantId) -> Result<Vec<ExecutionId>, DbError> {
    let rows: Vec<(uuid::Uuid,)> =
        query("SELECT id FROM executions WHERE tenant_id = ? AND status = 'running' ORDER BY id")
            .bind(tenant.uuid())
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(id,)| ExecutionId::from_uuid(id)).collect())
}
