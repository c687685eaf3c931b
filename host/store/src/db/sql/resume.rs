//! What a drive needs to pick an execution up again, in one read: the execution row, its
//! breakpoints and pending request, and how far its checkpoints and events go. A worker reads
//! this for every execution it claims, so one round trip instead of five matters.

use super::execution::{COLUMNS, Row};
use super::{Conn, DbError, query};
use crate::db::port::ResumeFacts;
use wtb_core::model::{Execution, ExecutionId, TenantId};

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
}

/// The tenant's execution `id` with its resume facts; `None` for another tenant's.
pub async fn resume_facts(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: ExecutionId,
) -> Result<Option<ResumeFacts>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS}, breakpoints, control,
            (SELECT COALESCE(MAX(seq), 0) FROM checkpoints c WHERE c.execution_id = e.id) AS checkpoint_seq,
            (SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'entry' AND superseded_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT)
               FROM checkpoints c WHERE c.execution_id = e.id) AS entries,
            (SELECT COALESCE(MAX(seq), 0) FROM outbox o WHERE o.execution_id = e.id) AS event_seq
         FROM executions e WHERE e.tenant_id = ? AND e.id = ?"
    );
    let Some(r) = query(sql).bind(tenant.uuid()).bind(id.uuid()).fetch_optional::<FactsRow>(db).await? else {
        return Ok(None);
    };
    let counter = |what: &'static str, v: i64| {
        u32::try_from(v).map_err(|_| DbError::Corrupt { what, detail: v.to_string() })
    };
    let breakpoints = serde_json::from_str(&r.breakpoints)
        .map_err(|e| DbError::Corrupt { what: "breakpoints", detail: e.to_string() })?;
    Ok(Some(ResumeFacts {
        checkpoint_seq: counter("checkpoint seq", r.checkpoint_seq)?,
        entries: counter("checkpoint entries", r.entries)?,
        event_seq: counter("event seq", r.event_seq)?,
        breakpoints,
        control: r.control,
        execution: Execution::try_from(r.row)?,
    }))
}
