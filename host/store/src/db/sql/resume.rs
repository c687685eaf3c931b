//! What a drive needs to pick an execution up again, in one read: the execution row, its
//! breakpoints and pending request, how far its checkpoints and events go, and its tenant
//! (whose quotas the drive keeps checking). A worker reads
//! this for every execution it claims, so one round trip instead of five matters.

use super::execution::{COLUMNS, Row};
use super::{Conn, DbError, query};
use crate::db::port::ResumeFacts;
use wtb_core::model::{Execution, ExecutionId, Tenant, TenantId};

/// The execution row and what else `Row` carries for a resume.
#[derive(sqlx::FromRow)]
struct FactsRow {
    #[sqlx(flatten)]
    row: Row,
    breakpoints: String,
    control: Option<String>,
    checkpoint_seq: i64,
    entries: i64,
    event_seq: i64,
    tenant_name: String,
    tenant_created_at: i64,
    max_concurrent: Option<i64>,
    max_stored_bytes: Option<i64>,
    max_nodes_per_hour: Option<i64>,
    max_running_attempts: Option<i64>,
}

/// The tenant's execution `id` with its resume facts; `None` for another tenant's.
pub async fn resume_facts(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: ExecutionId,
) -> Result<Option<ResumeFacts>, DbError> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("e.{c}")).collect();
    let columns = columns.join(", ");
    let sql = format!(
        "SELECT {columns}, e.breakpoints, e.control,
            (SELECT COALESCE(MAX(seq), 0) FROM checkpoints c WHERE c.execution_id = e.id) AS checkpoint_seq,
            (SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'entry' AND superseded_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT)
               FROM checkpoints c WHERE c.execution_id = e.id) AS entries,
            (SELECT COALESCE(MAX(seq), 0) FROM outbox o WHERE o.execution_id = e.id) AS event_seq,
            t.name AS tenant_name, t.created_at AS tenant_created_at, t.max_concurrent,
            t.max_stored_bytes, t.max_nodes_per_hour, t.max_running_attempts
         FROM executions e JOIN tenants t ON t.id = e.tenant_id WHERE e.tenant_id = ? AND e.id = ?"
    );
    let Some(r) = query(sql).bind(tenant.uuid()).bind(id.uuid()).fetch_optional::<FactsRow>(db).await? else {
        return Ok(None);
    };
    let counter = |what: &'static str, v: i64| {
        u32::try_from(v).map_err(|_| DbError::Corrupt { what, detail: v.to_string() })
    };
    let breakpoints = serde_json::from_str(&r.breakpoints)
        .map_err(|e| DbError::Corrupt { what: "breakpoints", detail: e.to_string() })?;
    let tenant = super::tenant::Row {
        id: r.row.tenant_id,
        name: r.tenant_name,
        created_at: r.tenant_created_at,
        max_concurrent: r.max_concurrent,
        max_stored_bytes: r.max_stored_bytes,
        max_nodes_per_hour: r.max_nodes_per_hour,
        max_running_attempts: r.max_running_attempts,
    };
    Ok(Some(ResumeFacts {
        tenant: Tenant::try_from(tenant)?,
        checkpoint_seq: counter("checkpoint seq", r.checkpoint_seq)?,
        entries: counter("checkpoint entries", r.entries)?,
        event_seq: counter("event seq", r.event_seq)?,
        breakpoints,
        control: r.control,
        execution: Execution::try_from(r.row)?,
    }))
}
